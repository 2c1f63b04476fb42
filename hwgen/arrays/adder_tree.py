"""Multiplier–adder tree engine (``array.kind: adder_tree``), weight-stationary.

``rows`` = K products reduced per cycle by each of ``cols`` = N columns: every cycle an
activation vector meets a stationary K×N weight tile and every column produces
``c + Σ_k a[k]·W[k, n]`` through its own multiplier/adder tree (``arith: mac``) or one
Booth compressor tree with a single final adder (``arith: compressor_tree``, OPT2).

The stream contract is the systolic weight-stationary one (``hwgen.arrays.systolic``),
with R = K and C = N, so the same schedules drive both:
    ``w``   N-vector: rows 0..K-1 of the weight tile, K beats per tile (loads overlap compute).
    ``a``   K-vector: row m of the A tile (A[m, k0:k0+K]); ``last`` on the final m.
    ``c``   N-vector: initial accumulator for row m. Paired beat-for-beat with ``a``.
    ``out`` N-vector: c[m] + A[m, k0:k0+K] @ W_tile, one beat per ``a`` beat, 2 cycles later.
"""
from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..pe.dot import dot_step
from ..pe.mac import operand_shape
from .common import stallable, vec_stream, weight_banks

__all__ = ["AdderTreeWS"]


class AdderTreeWS(wiring.Component):
    """K×N weight-stationary multiplier–adder tree with two weight banks."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        pe = cfg.pe
        super().__init__({
            "w": In(vec_stream(operand_shape(pe.w), cfg.cols)),
            "a": In(vec_stream(operand_shape(pe.a), cfg.rows, last=True)),
            "c": In(vec_stream(signed(pe.acc), cfg.cols)),
            "out": Out(vec_stream(signed(pe.acc), cfg.cols)),
        })

    def elaborate(self, platform):
        cfg, pe = self.cfg, self.cfg.pe
        K, N = cfg.rows, cfg.cols
        m, fab, en = stallable(self.out)
        # A bank stays one step after its tile's last activation: that beat is still in
        # the input register, computing on it.
        banks = weight_banks(m, fab, en, self.w, self.a, self.c, K, 1)

        # Two banks, each loaded through a north-going shift chain (row K-1 first in).
        bank = [[[Signal(operand_shape(pe.w), name=f"w{b}_{k}_{n}") for n in range(N)] for k in range(K)]
                for b in range(2)]
        for b in range(2):
            with fab.If(banks.load[b]):
                for k in range(K):
                    src = self.w.payload if k == K - 1 else bank[b][k + 1]
                    fab.d.sync += [bank[b][k][n].eq(src[n]) for n in range(N)]

        v0, s0 = Signal(), Signal()
        a0 = [Signal(operand_shape(pe.a), name=f"a_in{k}") for k in range(K)]
        c0 = [Signal(signed(pe.acc), name=f"c_in{n}") for n in range(N)]
        fab.d.sync += [v0.eq(banks.a_fire), s0.eq(banks.use_bank)]
        fab.d.sync += [a0[k].eq(self.a.payload.data[k]) for k in range(K)]
        fab.d.sync += [c0[n].eq(self.c.payload[n]) for n in range(N)]

        fab.d.sync += self.out.valid.eq(v0)
        for n in range(N):
            col = []
            for k in range(K):
                wk = Signal(operand_shape(pe.w), name=f"wsel_{k}_{n}")
                fab.d.comb += wk.eq(Mux(s0, bank[1][k][n], bank[0][k][n]))
                col.append(wk)
            (total,) = dot_step(fab, pe, [c0[n]], a0, col, name=f"col{n}")
            fab.d.sync += self.out.payload[n].eq(total)
        return m
