"""A RUN's bounds check: do the tiles it names lie inside the memories?

The three bounds need products of 16-bit fields (A: tiles × beats, W: tiles × beats, ACC:
tiles × tiles, one of them times the array's rows). One shift-and-add unit makes them in
turn (at most 21 cycles each) instead of three hardware multipliers, and a product is only
compared with a memory's depth, so it is kept in ``P`` bits (enough for ``depth + 1``) plus
a sticky "at least ``2**P``" flag instead of 32-bit arithmetic. The verdict is exactly
:func:`hwgen.soc.golden_device.run_fits`.
"""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import GROUP_LOG2_MAX
from .arith import times_const, times_small
from .layout import Geometry
from .protocol import Mem

__all__ = ["RunArgs", "RunArgsGrouped", "run_args", "RunBoundsCheck"]

#: RUN arguments as the sequencer sees them (RUN_FORMAT, little-endian, as one struct)
_FIELDS = {"m_tiles": 16, "n_tiles": 16, "k_beats": 16, "a_base": 32, "w_base": 32, "out_base": 32, "flags": 8,
           "prec": 8}
RunArgs = data.StructLayout(_FIELDS)
#: ... of a LUT engine with group dequantization (RUN_FORMAT + RUN_GROUP_FORMAT)
RunArgsGrouped = data.StructLayout({**_FIELDS, "group_log2": 8, "scale_base": 32})


def run_args(geo: Geometry) -> data.StructLayout:
    """The RUN argument layout of ``geo``'s accelerator."""
    return RunArgsGrouped if geo.grouped else RunArgs


class RunBoundsCheck(wiring.Component):
    """Checks ``args`` when ``start`` is pulsed (they must stay put until ``busy`` falls).

    Attributes
    ----------
    start : In(1)
        Begin a check (ignored while ``busy``).
    args : In(RunArgs)
    busy : Out(1)
        High from the cycle after ``start`` until the verdict is on ``ok``.
    ok : Out(1)
        The verdict, valid while ``busy`` is low after a check: every count is non-zero and
        every base + extent is at most its memory's depth.
    """

    def __init__(self, geo: Geometry):
        self.geo = geo
        super().__init__({"start": In(1), "args": In(run_args(geo)), "busy": Out(1), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        g, run = self.geo, self.args
        ws = g.contract == "ws"   # m_tiles = M rows, k_beats = K tiles
        limit = [g.depth(Mem.A), g.depth(Mem.W), g.depth(Mem.ACC)] + ([g.depth(Mem.SCALE)] if g.grouped else [])
        w_pim = run.flags[5] if g.pim is not None else 0   # RUN_W_PIM: the weights lie in the PIM words
        last_chk = len(limit) - 1
        P = max(d.bit_length() for d in limit + ([g.depth(Mem.PIM)] if g.npu_reads_pim else [])) + 1
        chk = Signal(2)                      # which bound: A, W, ACC
        mul_x, prod = Signal(P), Signal(P)
        mul_y, y_nz = Signal(16), Signal()   # y_nz: mul_y != 0, kept beside it as a flip-flop
        x_big, ovf, mul_busy = Signal(), Signal(), Signal()
        # after the product: scale it, add the base, compare, update the verdict, a cycle
        # each (``fin`` counts them); the base and the bound are selected as the product starts
        fin, base_ok, fits = Signal(2), Signal(), Signal()
        scale_r = [1, g.R if ws else 1, 1 if ws else g.R]
        B = g.cfg.array.pe.w.bits
        # a LUT engine: W holds prec + 1 bit-plane words per beat; its weight kind is 0..2, prec < B
        planes = run.prec[:max(1, (B - 1).bit_length())] + 1 if g.lut else 1
        lut_ok = ((run.flags[2:4] != 3) & (run.prec < B)) if g.lut else 1
        if g.lut:   # a group-quantized RUN on an engine with group dequantization only, groups ≤ 2**7 beats
            lut_ok = lut_ok & (((run.group_log2 <= GROUP_LOG2_MAX) if g.grouped else 0) | ~run.flags[4])
        # the scale words a group-quantized RUN reads: n_tiles × ⌈k_beats / 2**group_log2⌉ (none otherwise)
        if g.grouped:
            gl = run.group_log2[:3]
            n_groups = Mux(run.flags[4], (run.k_beats + (Const(1, 8) << gl) - 1) >> gl, 0)

        def per_bound(a, w, acc, sc=0):   # the value for the bound being checked
            out = Mux(chk == 1, w, Mux(chk == 2, acc, sc)) if g.grouped else Mux(chk == 1, w, acc)
            return Mux(chk == 0, a, out)
        x_sel = per_bound(run.m_tiles, run.n_tiles, run.m_tiles, run.n_tiles if g.grouped else 0)
        y_sel = per_bound(run.k_beats, run.k_beats, run.n_tiles, n_groups if g.grouped else 0)
        base = per_bound(run.a_base, run.w_base, run.out_base, Mux(run.flags[4], run.scale_base, 0) if g.grouped else 0)
        if g.npu_reads_pim:
            limit[1] = Mux(w_pim, g.depth(Mem.PIM), g.depth(Mem.W))
        bound = per_bound(*limit)
        scaled = per_bound(times_const(prod, scale_r[0]),
                           times_small(prod, planes) if g.lut else times_const(prod, scale_r[1]),
                           times_const(prod, scale_r[2]), prod)
        base_q, bound_q, scaled_q = Signal(P), Signal(bound.shape()), Signal(scaled.shape())
        need_q = Signal(len(scaled_q) + 1)

        with m.If(~self.busy):
            with m.If(self.start):
                m.d.sync += [self.busy.eq(1), chk.eq(0), mul_busy.eq(0), fin.eq(0),
                             self.ok.eq((run.m_tiles != 0) & (run.n_tiles != 0) & (run.k_beats != 0) & lut_ok
                                        & (~w_pim if g.pim is not None and not g.npu_reads_pim else 1))]
        with m.Elif(~mul_busy):
            m.d.sync += [prod.eq(0), mul_x.eq(x_sel[:P]), x_big.eq(x_sel[P:] != 0), ovf.eq(0),
                         mul_y.eq(y_sel), y_nz.eq(y_sel != 0), mul_busy.eq(1),
                         base_q.eq(base[:P]), base_ok.eq(base[P:] == 0), bound_q.eq(bound)]
        with m.Elif(y_nz):
            m.d.sync += [mul_y.eq(mul_y >> 1), y_nz.eq(mul_y[1:] != 0), mul_x.eq(mul_x << 1),
                         x_big.eq(x_big | mul_x[-1])]
            with m.If(mul_y[0]):
                total = prod + mul_x
                m.d.sync += [prod.eq(total), ovf.eq(ovf | x_big | total[P])]
        with m.Elif(fin == 0):
            m.d.sync += [fin.eq(1), scaled_q.eq(scaled)]
        with m.Elif(fin == 1):
            m.d.sync += [fin.eq(2), need_q.eq(base_q + scaled_q)]
        with m.Elif(fin == 2):
            m.d.sync += [fin.eq(3), fits.eq(base_ok & (need_q <= bound_q))]
        with m.Else():
            m.d.sync += [fin.eq(0), mul_busy.eq(0), chk.eq(chk + 1), self.ok.eq(self.ok & ~ovf & fits)]
            with m.If(chk == last_chk):
                m.d.sync += self.busy.eq(0)
        return m
