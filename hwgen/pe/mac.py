"""Multiply-accumulate PEs for systolic arrays.

Both PEs register every output, so an array of them is a pure systolic grid: each PE
talks only to its neighbours. The array gates all of them with one enable (stall).
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import PEConfig
from ..numerics import Format, acc_range

__all__ = ["operand_shape", "accumulate", "OSMacPE", "WSMacPE"]


def operand_shape(fmt: Format) -> Shape:
    """The Amaranth shape of an operand format."""
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


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


class OSMacPE(wiring.Component):
    """Output-stationary MAC: the accumulator stays, operands pass east (a) and south (w).

    On a valid step the product ``a_in * w_in`` is added to ``acc``. On a step that is
    also ``last`` the final sum goes to ``hold`` and ``acc`` restarts from zero, so the
    next tile's operands can follow without a gap while ``hold`` is read out.
    """

    def __init__(self, pe: PEConfig):
        self.pe = pe
        super().__init__({
            "a_in": In(operand_shape(pe.a)), "w_in": In(operand_shape(pe.w)),
            "v_in": In(1), "l_in": In(1),
            "a_out": Out(operand_shape(pe.a)), "w_out": Out(operand_shape(pe.w)),
            "v_out": Out(1), "l_out": Out(1),
            "hold": Out(signed(pe.acc)),
        })

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.pe.acc))
        m.d.sync += [self.a_out.eq(self.a_in), self.w_out.eq(self.w_in),
                     self.v_out.eq(self.v_in), self.l_out.eq(self.l_in)]
        nxt = accumulate(acc, self.a_in * self.w_in, self.pe)
        with m.If(self.v_in):
            with m.If(self.l_in):
                m.d.sync += [self.hold.eq(nxt), acc.eq(0)]
            with m.Else():
                m.d.sync += acc.eq(nxt)
        return m


class WSMacPE(wiring.Component):
    """Weight-stationary MAC with two weight banks.

    Activations pass east carrying a bank select ``s``; partial sums pass south and
    gain ``a_in * w[s]``. A bank is (re)loaded through a north-going shift chain
    (``wl0``/``wl1``) while the other bank computes.
    """

    def __init__(self, pe: PEConfig):
        self.pe = pe
        w = operand_shape(pe.w)
        super().__init__({
            "a_in": In(operand_shape(pe.a)), "s_in": In(1), "p_in": In(signed(pe.acc)),
            "a_out": Out(operand_shape(pe.a)), "s_out": Out(1), "p_out": Out(signed(pe.acc)),
            "load": In(2), "wl0_in": In(w), "wl1_in": In(w),
            "wl0_out": Out(w), "wl1_out": Out(w),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.a_out.eq(self.a_in), self.s_out.eq(self.s_in)]
        weight = Mux(self.s_in, self.wl1_out, self.wl0_out)
        m.d.sync += self.p_out.eq(accumulate(self.p_in, self.a_in * weight, self.pe))
        with m.If(self.load[0]):
            m.d.sync += self.wl0_out.eq(self.wl0_in)
        with m.If(self.load[1]):
            m.d.sync += self.wl1_out.eq(self.wl1_in)
        return m
