"""Dot-product engines: the 3D-cube and the 2D-matrix (``array.kind: cube | matrix2d``).

An R×C output tile; every output has its own D-wide dot-product unit
(:mod:`hwgen.pe.dot`), so the engine does R·C·D multiply-accumulates per cycle. The cube
is the case R = C = D (the paper's "3D-Cube", as in Ascend's cube unit); the 2D-matrix
lets D differ from the tile. Operands are broadcast (no systolic skew): a beat carries an
R×D block of A and a D×C block of W, and the tile's accumulators take the D-wide dot
products every cycle.

Stream contracts (``R = rows``, ``C = cols``, ``D = depth``), one R×C tile per ``last``:
    ``a``   R×D block: ``data[r][d] = A[m0 + r, k0 + d]``; ``last`` on the tile's final k0.
    ``w``   D×C block: ``[d][j] = W[k0 + d, n0 + j]``. Paired beat-for-beat with ``a``.
    ``out`` C-vector: rows 0..R-1 of the result tile, R beats per tile.

A tile of ⌈K/D⌉ beats takes ⌈K/D⌉ + R + 1 cycles from first input to last output; the
next tile's beats follow without a gap when ⌈K/D⌉ ≥ R (shorter tiles are spaced).
"""
from __future__ import annotations

from amaranth.hdl import Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..pe.dot import dot_step
from ..pe.mac import acc_layout, operand_shape
from .common import TileSpacing, drain_rows, stallable, vec_stream

__all__ = ["DotOS"]


class DotOS(wiring.Component):
    """Output-stationary engine of R×C dot-product units of depth D."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        pe, R, C, D = cfg.pe, cfg.rows, cfg.cols, cfg.depth
        super().__init__({
            "a": In(vec_stream(data.ArrayLayout(operand_shape(pe.a), D), R, last=True)),
            "w": In(vec_stream(data.ArrayLayout(operand_shape(pe.w), C), D)),
            "out": Out(vec_stream(signed(pe.acc), C)),
        })

    def elaborate(self, platform):
        cfg, pe = self.cfg, self.cfg.pe
        R, C, D = cfg.rows, cfg.cols, cfg.depth
        m, fab, en = stallable(self.out)

        space = TileSpacing(m, fab, R, self.a.payload.last)
        fire = Signal()
        m.d.comb += [
            fire.eq(en & self.a.valid & self.w.valid & space.ok),
            self.a.ready.eq(en & self.w.valid & space.ok),
            self.w.ready.eq(en & self.a.valid & space.ok),
            space.mark.eq(fire & self.a.payload.last),
        ]

        # Input registers: the dot-product units see registered operands.
        v0, l0 = Signal(), Signal()
        a0 = [[Signal(operand_shape(pe.a), name=f"a_{r}_{d}") for d in range(D)] for r in range(R)]
        w0 = [[Signal(operand_shape(pe.w), name=f"w_{d}_{j}") for j in range(C)] for d in range(D)]
        fab.d.sync += [v0.eq(fire), l0.eq(self.a.payload.last)]
        fab.d.sync += [a0[r][d].eq(self.a.payload.data[r][d]) for r in range(R) for d in range(D)]
        fab.d.sync += [w0[d][j].eq(self.w.payload[d][j]) for d in range(D) for j in range(C)]

        holds = [[Signal(acc_layout(pe), name=f"hold_{r}_{j}") for j in range(C)] for r in range(R)]
        for r in range(R):
            for j in range(C):
                acc = Signal(acc_layout(pe), name=f"acc_{r}_{j}")
                nxt = Signal(acc_layout(pe), name=f"nxt_{r}_{j}")
                words = dot_step(fab, pe, [acc[i] for i in range(len(acc))], a0[r], [w0[d][j] for d in range(D)],
                                 name=f"dot_{r}_{j}")
                fab.d.comb += [nxt[i].eq(v) for i, v in enumerate(words)]
                with fab.If(v0):
                    with fab.If(l0):
                        fab.d.sync += [holds[r][j].eq(nxt), acc.eq(0)]
                    with fab.Else():
                        fab.d.sync += acc.eq(nxt)
        drain_rows(fab, self.out, pe, holds, v0 & l0)
        return m
