"""The registered multiplier of ``pe.pipeline: 2`` and ``3``: operand registers, the
product, a product register (and with 3 stages a second one) — ``p`` is ``a * w`` of
``stages`` enabled clock steps earlier.

Generic RTL everywhere (simulation, formal, yosys' generic and LUT flows). When the build
targets ECP5 DSPs it is one ``MULT18X18D`` whose own input and output registers hold the
operands and the product: yosys maps ECP5 multipliers combinationally and never pulls
registers into the DSP, so without this the DSP's ~10 ns bounds the clock (measured:
95.8 MHz with only the product registered in fabric). The third stage is a fabric
register beside the DSP: the route from a DSP's output to the accumulator's carry chain
is ~3.7 ns on its own (measured: 133.5 MHz with two stages, DSP → adder critical).

Which form is built is the elaboration platform's choice: a board platform or a
:class:`DspTarget` carrying ``hwgen_dsp = "ecp5"`` (set by the synthesis flows when the
engine's multipliers go to DSPs). The DSP's registers use the ``sync`` clock, its reset
(synchronous, like Amaranth's) and ``enable`` as clock enable, so a stalled engine holds
them exactly as it holds its fabric flip-flops.
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Elaboratable, Instance, Module, ResetSignal, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisteredMul", "DualMul", "DspTarget", "dsp_family", "soc_dsp", "ECP5_MULT_PARAMS", "ICE40_DUAL8_PARAMS",
           "SB_MAC16_PARAMS", "sb_mac16_param_width", "DUAL8_BITS"]

#: MULT18X18D parameters of the registered form: input A/B and output registers on CLK0/CE0/RST0
ECP5_MULT_PARAMS = {
    "REG_INPUTA_CLK": "CLK0", "REG_INPUTA_CE": "CE0", "REG_INPUTA_RST": "RST0",
    "REG_INPUTB_CLK": "CLK0", "REG_INPUTB_CE": "CE0", "REG_INPUTB_RST": "RST0",
    "REG_INPUTC_CLK": "NONE", "REG_PIPELINE_CLK": "NONE",
    "REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0", "REG_OUTPUT_RST": "RST0",
    "GSR": "DISABLED", "RESETMODE": "SYNC", "CLK0_DIV": "ENABLED", "MULT_BYPASS": "DISABLED",
    "SOURCEB_MODE": "B_SHIFT", "CAS_MATCH_REG": "FALSE", "HIGHSPEED_CLK": "NONE",
}

#: SB_MAC16 as two registered 8×8 multipliers (its "8x8 mode"): A/B input registers, the
#: top (A[15:8]·B[15:8]) and bottom (A[7:0]·B[7:0]) products' registers, both on O
ICE40_DUAL8_PARAMS = {
    "NEG_TRIGGER": 0, "A_REG": 1, "B_REG": 1, "C_REG": 0, "D_REG": 0,
    "TOP_8x8_MULT_REG": 1, "BOT_8x8_MULT_REG": 1, "PIPELINE_16x16_MULT_REG1": 0, "PIPELINE_16x16_MULT_REG2": 0,
    "TOPOUTPUT_SELECT": 2, "BOTOUTPUT_SELECT": 2, "MODE_8x8": 1,
    "TOPADDSUB_LOWERINPUT": 0, "TOPADDSUB_UPPERINPUT": 0, "TOPADDSUB_CARRYSELECT": 0,
    "BOTADDSUB_LOWERINPUT": 0, "BOTADDSUB_UPPERINPUT": 0, "BOTADDSUB_CARRYSELECT": 0,
}

#: widest operands an SB_MAC16 multiplies two pairs of (its 8×8 mode)
DUAL8_BITS = 8

#: every SB_MAC16 parameter hwgen sets (the two signedness flags depend on the operands)
SB_MAC16_PARAMS = (*ICE40_DUAL8_PARAMS, "A_SIGNED", "B_SIGNED")


def sb_mac16_param_width(name: str) -> int:
    """Bits of an SB_MAC16 parameter (the output/adder-input/carry selects have 2)."""
    return 2 if name.endswith(("SELECT", "LOWERINPUT")) else 1


class DspTarget:
    """Elaboration platform for builds without a board (out-of-context synthesis, the
    netlist check's top): says which FPGA family's DSPs the engine's multipliers go to,
    and whether the accelerator's own multiplier (the output stage's) may use one too
    (``soc_dsp``; without, it is the shift-and-add :class:`hwgen.soc.requant.ShiftAddRequant`).
    Board builds set the same two attributes on the board's platform."""

    def __init__(self, family: str | None, *, soc_dsp: bool = True, fabric: str | None = None):
        self.hwgen_dsp = family
        self.hwgen_soc_dsp = soc_dsp
        self.hwgen_fabric = fabric or family


def product_shape(a_shape, w_shape) -> Shape:
    """The exact shape of ``a * w``."""
    return (Signal(Shape.cast(a_shape)) * Signal(Shape.cast(w_shape))).shape()


def dsp_family(platform) -> str | None:
    """The DSP family registered multipliers are instantiated for, or None for generic RTL."""
    return getattr(platform, "hwgen_dsp", None)


def fabric_family(platform) -> str | None:
    """The FPGA family whose logic cells the design may instantiate by hand (None: generic RTL)."""
    return getattr(platform, "hwgen_fabric", None)


def soc_dsp(platform) -> bool:
    """Whether the accelerator around the engine may use a multiplier (a DSP) of its own."""
    return getattr(platform, "hwgen_soc_dsp", True)


class RegisteredMul(wiring.Component):
    """``p`` = ``a * w`` presented ``stages`` (2 or 3) enabled steps earlier (signed or
    unsigned per operand shape; ``p`` has the exact product width)."""

    def __init__(self, a_shape, w_shape, *, stages: int = 2, enable=Const(1)):
        if stages not in (2, 3):
            raise ValueError(f"stages must be 2 or 3, got {stages}")
        self.a_shape, self.w_shape = Shape.cast(a_shape), Shape.cast(w_shape)
        self.stages, self.enable = stages, enable
        prod = product_shape(self.a_shape, self.w_shape)
        super().__init__({"a": In(self.a_shape), "w": In(self.w_shape), "p": Out(prod)})

    def elaborate(self, platform):
        m = Module()
        p2 = Signal.like(self.p, name="p2") if self.stages == 3 else self.p
        if dsp_family(platform) == "ecp5" and max(self.a_shape.width, self.w_shape.width) <= 18:
            self._ecp5(m, p2)
        else:
            a_r, w_r = Signal(self.a_shape, name="a_r"), Signal(self.w_shape, name="w_r")
            m.d.sync += [a_r.eq(self.a), w_r.eq(self.w), p2.eq(a_r * w_r)]
        if self.stages == 3:
            m.d.sync += self.p.eq(p2)
        return m

    def _ecp5(self, m: Module, p):
        # operands sign- (or zero-) extended to the DSP's 18 bits; SIGNEDx says which
        a18, w18 = Signal(18), Signal(18)
        m.d.comb += [a18.eq(self.a), w18.eq(self.w)]
        p36 = Signal(36)
        ports = {f"i_A{i}": a18[i] for i in range(18)}
        ports.update({f"i_B{i}": w18[i] for i in range(18)})
        ports.update({f"i_C{i}": 0 for i in range(18)})
        ports.update({f"o_P{i}": p36[i] for i in range(36)})
        for n in range(4):
            ports[f"i_CLK{n}"] = ClockSignal("sync") if n == 0 else 0
            ports[f"i_CE{n}"] = self.enable if n == 0 else 0
            ports[f"i_RST{n}"] = ResetSignal("sync") if n == 0 else 0
        m.submodules.dsp = Instance(
            "MULT18X18D", **{f"p_{k}": v for k, v in ECP5_MULT_PARAMS.items()},
            i_SIGNEDA=int(self.a_shape.signed), i_SIGNEDB=int(self.w_shape.signed), i_SOURCEA=0, i_SOURCEB=0,
            **ports)
        m.d.comb += p.eq(p36[:len(p)])


class MulPorts:
    """What a PE sees of a multiplier it shares a DSP with: its operands and its product."""

    def __init__(self, a_shape: Shape, w_shape: Shape, name: str):
        self.a, self.w = Signal(a_shape, name=f"{name}_a"), Signal(w_shape, name=f"{name}_w")
        self.p = Signal(product_shape(a_shape, w_shape), name=f"{name}_p")


class DualMul(Elaboratable):
    """Two registered multipliers (:attr:`halves`, each a :class:`RegisteredMul`'s ports)
    under one enable.

    The iCE40UP5K has 8 DSPs and a 4×4 engine 16 multipliers: when elaboration targets
    ``ice40`` DSPs and the operands have at most 8 bits, the pair is one ``SB_MAC16`` in its
    8×8 mode (``ICE40_DUAL8_PARAMS``): its input registers hold both operand pairs, its
    two 8×8 product registers the products; CE is the enable, the resets the domain's.
    Everywhere else it is two :class:`RegisteredMul` (so ECP5 builds get two MULT18X18D).
    """

    def __init__(self, a_shape, w_shape, *, stages: int = 2, enable=Const(1)):
        self.a_shape, self.w_shape = Shape.cast(a_shape), Shape.cast(w_shape)
        self.stages, self.enable = stages, enable
        self.halves = [MulPorts(self.a_shape, self.w_shape, f"mul{i}") for i in range(2)]

    def elaborate(self, platform):
        m = Module()
        if dsp_family(platform) == "ice40" and max(self.a_shape.width, self.w_shape.width) <= DUAL8_BITS:
            self._ice40(m)
        else:
            for i, h in enumerate(self.halves):
                m.submodules[f"mul{i}"] = r = RegisteredMul(self.a_shape, self.w_shape, stages=self.stages,
                                                           enable=self.enable)
                m.d.comb += [r.a.eq(h.a), r.w.eq(h.w), h.p.eq(r.p)]
        return m

    def _ice40(self, m: Module):
        # each operand sign- (or zero-) extended to its byte; A_SIGNED/B_SIGNED say which
        ops = {n: [Signal(8, name=f"{n}{i}_8") for i in range(2)] for n in "aw"}
        for i, h in enumerate(self.halves):
            m.d.comb += [ops["a"][i].eq(h.a), ops["w"][i].eq(h.w)]
        o = Signal(32)
        rst = ResetSignal("sync")
        # hwgen_keep: yosys' ice40_dsp pass re-configures every SB_MAC16 it finds as its own
        # 16×16 multiplier; the synthesis script hides cells so marked from it
        m.submodules.dsp = Instance(
            "SB_MAC16", a_hwgen_keep=1, **{f"p_{k}": Const(v, sb_mac16_param_width(k))
                                           for k, v in ICE40_DUAL8_PARAMS.items()},
            p_A_SIGNED=Const(self.a_shape.signed, 1), p_B_SIGNED=Const(self.w_shape.signed, 1),
            i_CLK=ClockSignal("sync"), i_CE=self.enable,
            i_A=Cat(*ops["a"]), i_B=Cat(*ops["w"]), i_C=Const(0, 16), i_D=Const(0, 16),
            i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0, i_IRSTTOP=rst, i_IRSTBOT=rst, i_ORSTTOP=rst, i_ORSTBOT=rst,
            i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0, i_OHOLDTOP=0, i_OHOLDBOT=0,
            i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0, o_O=o)
        for i, h in enumerate(self.halves):
            prod = o.word_select(i, 16)
            if self.stages == 3:   # the second product register, in fabric beside the DSP
                p3 = Signal(16, name=f"p{i}_r")
                m.d.sync += p3.eq(prod)
                prod = p3
            m.d.comb += h.p.eq(prod)
