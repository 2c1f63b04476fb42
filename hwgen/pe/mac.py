"""Multiply-accumulate PEs for systolic arrays, plain (``mac``) or carry-save (OPT1).

Both PEs register every output, so an array of them is a pure systolic grid: each PE
talks only to its neighbours. The array gates all of them with one enable (stall).

An accumulator is a list of ``words(pe)`` signed words whose sum (mod 2**acc) is its
value: one word for ``mac``, two (sum and carry) for ``carry_save``. Arrays resolve the
words with :func:`resolve` where results leave — for carry-save that is the only
carry-propagate adder, one per array column instead of one per PE.
"""
from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Instance, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import PEConfig
from ..numerics import Format, acc_range
from .compress import compress, partial_products
from .mul import RegisteredMul, dsp_family

__all__ = ["operand_shape", "accumulate", "words", "acc_layout", "mac_step", "resolve", "OSMacPE", "WSMacPE", "hold_delay", "ice40_restart_adder"]


def operand_shape(fmt: Format) -> Shape:
    """The Amaranth shape of an operand format."""
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


def words(pe: PEConfig) -> int:
    """How many words hold one accumulator value."""
    return 2 if pe.arith == "carry_save" else 1


def acc_layout(pe: PEConfig) -> data.ArrayLayout:
    return data.ArrayLayout(signed(pe.acc), words(pe))


def accumulate(acc, product, pe: PEConfig):
    """Expression for ``acc + product`` with the PE's overflow rule (see ``hwgen.golden.gemm``).

    ``wrap`` relies on assignment to a ``pe.acc``-bit signal dropping the carry;
    ``saturate`` detects overflow from the two top bits of the one-bit-wider sum.
    """
    total = acc + product
    if pe.overflow == "wrap":
        return total
    lo, hi = acc_range(pe.acc)
    overflowed = total[pe.acc] != total[pe.acc - 1]
    return Mux(overflowed, Mux(total[pe.acc], lo, hi), total)


def mac_step(m: Module, pe: PEConfig, acc_words, a, w) -> list:
    """The accumulator words after adding ``a * w`` (helper logic is added to ``m``)."""
    if pe.arith == "carry_save":
        rows = partial_products(a, pe.a, w, pe.w, pe.acc) + [acc_words[i] for i in range(2)]
        return list(compress(m, rows, pe.acc))
    return [accumulate(acc_words[0], a * w, pe)]


def resolve(pe: PEConfig, acc_words):
    """The accumulator's value (a carry-propagate addition for carry-save words)."""
    if words(pe) == 1:
        return acc_words[0]
    return (acc_words[0] + acc_words[1])[:pe.acc].as_signed()


class OSMacPE(wiring.Component):
    """Output-stationary PE: the accumulator stays, operands pass east (a) and south (w).

    On a valid step ``a_in * w_in`` is added to the accumulator. On a step that is also
    ``last`` the final value goes to ``hold`` and the accumulator restarts from zero, so
    the next tile's operands can follow without a gap while ``hold`` is read out.

    With ``shift_hold`` (the array's ``drain: shift``) ``hold`` also takes ``hold_in`` (the
    hold register below) on a step with ``shift``, unless a finished value arrives then.
    """

    def __init__(self, pe: PEConfig, *, enable=Const(1), mul=None, shift_hold: bool = False):
        self.pe = pe
        # pipeline >= 2: the multiplier's ports when the array pairs PEs on one DSP
        # (:class:`~hwgen.pe.mul.DualMul`), else the PE makes its own RegisteredMul
        self._mul = mul
        # the array's stall enable: with ``pipeline >= 2`` the DSP's clock enable and the
        # accumulator's (which sit outside the array's EnableInserter), so it must be given
        self._enable = enable
        self._shift_hold = shift_hold
        super().__init__({
            "a_in": In(operand_shape(pe.a)), "w_in": In(operand_shape(pe.w)),
            "v_in": In(1), "l_in": In(1),
            "a_out": Out(operand_shape(pe.a)), "w_out": Out(operand_shape(pe.w)),
            "v_out": Out(1), "l_out": Out(1),
            "hold": Out(acc_layout(pe)),
            **({"hold_in": In(acc_layout(pe)), "shift": In(1)} if shift_hold else {}),
        })
        #: the running accumulator (not a port; read by the formal miter)
        self.acc = Signal(acc_layout(pe), name="acc")

    def step(self, m: Module, acc, a, w) -> list:
        """The accumulator words after adding ``a * w`` (:func:`mac_step`; ``pipeline: 0``). The
        whole-PE proof for wide operands overrides it with an abstraction of the step
        (:class:`hwgen.formal.parts.AbstractPEMiter`)."""
        return mac_step(m, self.pe, acc, a, w)

    def _hold(self, m: Module, when, value, word=None):
        """``hold`` (or its word ``word``) takes ``value`` on a step with ``when`` (else,
        drained by shifting, ``hold_in`` on a shift)."""
        with m.If(when):
            m.d.sync += (self.hold if word is None else self.hold[word]).eq(value)
        if self._shift_hold:
            with m.Elif(self.shift):
                m.d.sync += self.hold.eq(self.hold_in)

    def elaborate(self, platform):
        m = Module()
        acc = self.acc
        m.d.sync += [self.a_out.eq(self.a_in), self.w_out.eq(self.w_in),
                     self.v_out.eq(self.v_in), self.l_out.eq(self.l_in)]
        a, w, v, last = self.a_in, self.w_in, self.v_in, self.l_in
        nxt = Signal(acc_layout(self.pe))  # one datapath, read by both branches below
        if self.pe.pipeline == 1:
            # the product is registered (a DSP's output register); valid and last follow it
            prod = Signal((self.a_in * self.w_in).shape(), name="prod")
            v, last = Signal(name="v_p"), Signal(name="l_p")
            m.d.sync += [prod.eq(self.a_in * self.w_in), v.eq(self.v_in), last.eq(self.l_in)]
            m.d.comb += nxt[0].eq(accumulate(acc[0], prod, self.pe))
        elif self.pe.pipeline >= 2:
            # operands and product registered (a DSP's input and output registers, then
            # one more beside it); valid and last follow as many steps behind (v_out and
            # l_out are the first)
            d = self.pe.pipeline
            mul = self._mul
            if mul is None:
                m.submodules.mul = mul = RegisteredMul(self.a_in.shape(), self.w_in.shape(), stages=d,
                                                       enable=self._enable)
            m.d.comb += [mul.a.eq(self.a_in), mul.w.eq(self.w_in)]
            vl = Cat(self.v_out, self.l_out)
            for i in range(d - 2):
                nvl = Signal(2, name=f"vl_p{i}")
                m.d.sync += nvl.eq(vl)
                vl = nvl
            # the last stage keeps "valid" and "valid and last" (init 1: see below)
            v, end = Signal(name="v_p"), Signal(init=1, name="end_p")
            m.d.sync += [v.eq(vl[0]), end.eq(vl[0] & vl[1])]
            if d == 2:
                (self._restart_by_clear if self._shift_hold else self._restart_with_product)(m, platform, mul.p, v, end)
                return m
            m.d.comb += nxt[0].eq(accumulate(acc[0], mul.p, self.pe))
            # The accumulator lives in a local domain (the same clock) whose reset is
            # "a tile's last product is being taken": the restart from zero is the
            # flip-flops' synchronous reset, one LUT from flip-flops (en, end) instead of
            # a LUT between adder and flip-flop. The domain reset clears it through `end`,
            # whose reset value 1 holds the accumulator at zero during and right after reset.
            m.domains.accd = accd = ClockDomain("accd", local=True)
            step, stop = Signal(name="acc_step"), Signal(name="acc_end")
            m.d.comb += [step.eq(self._enable & v), stop.eq(self._enable & end),
                         accd.clk.eq(ClockSignal("sync")), accd.rst.eq(stop)]
            with m.If(step):
                m.d.accd += acc.eq(nxt)
            self._hold(m, stop, nxt)
            return m
        else:
            m.d.comb += [nxt[i].eq(x) for i, x in enumerate(self.step(m, acc, a, w))]
        with m.If(v):
            with m.If(last):
                m.d.sync += acc.eq(0)
            with m.Else():
                m.d.sync += acc.eq(nxt)
        self._hold(m, v & last, nxt)
        return m


    def _restart_with_product(self, m: Module, platform, p, v, end):
        """``pipeline: 2``: a tile's first product *replaces* the accumulator (the restart is
        a select in the adder's own LUT, not a reset), and the finished value goes to
        ``hold`` from the accumulator's flip-flops one step later (:func:`hold_delay`), so
        the adder drives nothing but them: on an iCE40 each accumulator bit is one logic
        cell (LUT, carry and flip-flop together) instead of a LUT feeding two flip-flops."""
        acc, pe = self.acc[0], self.pe
        fresh = Signal(init=1, name="fresh")            # the next product starts a tile
        full = Signal(name="acc_full")                  # acc holds a finished tile's value
        nxt = Signal(signed(pe.acc), name="acc_next")
        if dsp_family(platform) == "ice40" and pe.overflow == "wrap":
            ice40_restart_adder(m, acc, p, fresh, nxt)
        else:
            m.d.comb += nxt.eq(Mux(fresh, p, accumulate(acc, p, pe)))
        with m.If(v):
            m.d.sync += [acc.eq(nxt), fresh.eq(end)]
        m.d.sync += full.eq(v & end)
        self._hold(m, full, acc, word=0)

    def _restart_by_clear(self, m: Module, platform, p, v, end):
        """``pipeline: 2`` with ``drain: shift``: the finished value goes to ``hold`` one
        step after the last product (as in :meth:`_restart_with_product`) while the
        accumulator's flip-flops are reset; that step carries no product (the array leaves a
        bubble after a tile's last beat: :func:`~hwgen.arrays.systolic.os_tile_gap`). An
        accumulator bit is a 3-input cell (no restart select): 8 of them, their clock enable
        and reset fit an iCE40 logic tile's 32 local inputs, so the carry chain stays whole
        (4-input cells and a local enable exceed them and nextpnr splits the chain)."""
        acc, pe = self.acc[0], self.pe
        full = Signal(init=1, name="acc_full")          # acc holds a finished tile's value
        m.d.sync += full.eq(v & end)
        with m.If(full):
            m.d.sync += acc.eq(0)
        with m.Elif(v):
            m.d.sync += acc.eq(accumulate(acc, p, pe))
        self._hold(m, full, acc, word=0)


def hold_delay(pe: PEConfig) -> int:
    """Steps from a tile's last product to its value in ``hold``: 1 for ``pipeline: 2``
    (:meth:`OSMacPE._restart_with_product`, :meth:`OSMacPE._restart_by_clear`), else 0."""
    return int(pe.pipeline == 2)


#: SB_LUT4 truth table of one accumulator bit: O = I0 ? I2 : I1 ^ I2 ^ I3
#: (I0 restart, I1 accumulator bit, I2 product bit, I3 carry in)
_RESTART_ADD_INIT = sum(((i >> 2 & 1) if i & 1 else ((i >> 1) ^ (i >> 2) ^ (i >> 3)) & 1) << i for i in range(16))


def ice40_restart_adder(m: Module, acc, p, restart, out, *, name: str = "acc"):
    """``out = restart ? p : acc + p`` (wrapping) as iCE40 cells: per bit one SB_LUT4 (the sum, or the
    product bit on restart) beside one SB_CARRY (acc + p's carry, unused on restart), which
    nextpnr packs into one logic cell with the accumulator's flip-flop. yosys would map the
    select as a second LUT after the adder's (or a gate before its carry chain). ``restart``
    should be a flip-flop: it goes to every cell. ``name`` prefixes the cells."""
    n = len(acc)
    pw = Signal(n, name=f"{name}_p")
    m.d.comb += pw.eq(p)                               # the product, sign-extended
    carry = [Const(0)] + [Signal(name=f"{name}_c{i}") for i in range(1, n)]
    for i in range(n):
        m.submodules[f"{name}_lut{i}"] = Instance("SB_LUT4", p_LUT_INIT=Const(_RESTART_ADD_INIT, 16), i_I0=restart,
                                               i_I1=acc[i], i_I2=pw[i], i_I3=carry[i], o_O=out[i])
        if i + 1 < n:
            m.submodules[f"{name}_carry{i}"] = Instance("SB_CARRY", i_I0=acc[i], i_I1=pw[i], i_CI=carry[i],
                                                     o_CO=carry[i + 1])


class WSMacPE(wiring.Component):
    """Weight-stationary PE with two weight banks.

    Activations pass east carrying a bank select ``s``; partial sums (accumulator words)
    pass south and gain ``a_in * w[s]``. A bank is (re)loaded through a north-going shift
    chain (``wl0``/``wl1``) while the other bank computes.
    """

    def __init__(self, pe: PEConfig):
        self.pe = pe
        w = operand_shape(pe.w)
        super().__init__({
            "a_in": In(operand_shape(pe.a)), "s_in": In(1), "p_in": In(acc_layout(pe)),
            "a_out": Out(operand_shape(pe.a)), "s_out": Out(1), "p_out": Out(acc_layout(pe)),
            "load": In(2), "wl0_in": In(w), "wl1_in": In(w),
            "wl0_out": Out(w), "wl1_out": Out(w),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.a_out.eq(self.a_in), self.s_out.eq(self.s_in)]
        weight = Mux(self.s_in, self.wl1_out, self.wl0_out)
        nxt = mac_step(m, self.pe, self.p_in, self.a_in, weight)
        m.d.sync += [self.p_out[i].eq(v) for i, v in enumerate(nxt)]
        with m.If(self.load[0]):
            m.d.sync += self.wl0_out.eq(self.wl0_in)
        with m.If(self.load[1]):
            m.d.sync += self.wl1_out.eq(self.wl1_in)
        return m
