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

from amaranth.hdl import ClockSignal, Const, Instance, Module, ResetSignal, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisteredMul", "DspTarget", "dsp_family", "ECP5_MULT_PARAMS"]

#: MULT18X18D parameters of the registered form: input A/B and output registers on CLK0/CE0/RST0
ECP5_MULT_PARAMS = {
    "REG_INPUTA_CLK": "CLK0", "REG_INPUTA_CE": "CE0", "REG_INPUTA_RST": "RST0",
    "REG_INPUTB_CLK": "CLK0", "REG_INPUTB_CE": "CE0", "REG_INPUTB_RST": "RST0",
    "REG_INPUTC_CLK": "NONE", "REG_PIPELINE_CLK": "NONE",
    "REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0", "REG_OUTPUT_RST": "RST0",
    "GSR": "DISABLED", "RESETMODE": "SYNC", "CLK0_DIV": "ENABLED", "MULT_BYPASS": "DISABLED",
    "SOURCEB_MODE": "B_SHIFT", "CAS_MATCH_REG": "FALSE", "HIGHSPEED_CLK": "NONE",
}


class DspTarget:
    """Elaboration platform for builds without a board (out-of-context synthesis): only
    says which FPGA family's DSPs the engine's multipliers go to (a family without a
    registered form here, e.g. ``ice40``, keeps the generic RTL)."""

    def __init__(self, family: str):
        self.hwgen_dsp = family


def dsp_family(platform) -> str | None:
    """The DSP family registered multipliers are instantiated for, or None for generic RTL."""
    return getattr(platform, "hwgen_dsp", None)


class RegisteredMul(wiring.Component):
    """``p`` = ``a * w`` presented ``stages`` (2 or 3) enabled steps earlier (signed or
    unsigned per operand shape; ``p`` has the exact product width)."""

    def __init__(self, a_shape, w_shape, *, stages: int = 2, enable=Const(1)):
        if stages not in (2, 3):
            raise ValueError(f"stages must be 2 or 3, got {stages}")
        self.a_shape, self.w_shape = Shape.cast(a_shape), Shape.cast(w_shape)
        self.stages, self.enable = stages, enable
        prod = (Signal(self.a_shape) * Signal(self.w_shape)).shape()
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
