"""Bounded formal proofs of whole engines against the exact integer result, with yosys SAT.

The bit-serial engine (:class:`hwgen.arrays.bit_serial.BitSerialOS`) has no per-step
rewrite to compare with a plain MAC — its PEs shift and add one weight bit (``mac``) or one
non-zero canonical signed digit (``sparse_serial``) per cycle, for a data-dependent number
of cycles, under a sequencer shared by a column. So the proof is end to end and bounded:
:class:`BitSerialMiter` wraps the real engine with a driver and a checker, and
``sat -seq N`` shows that for *every* pair of operand tiles, within ``N`` cycles from reset:

* every ``out`` beat carries exactly ``Σ_k a[r, k]·w[k, j]`` (wrapped to ``acc`` bits) for
  its row ``r``, rows in order 0..R-1, and no beat beyond the R of the tile appears;
* all R beats have appeared by the last cycle of the bound (so the proof is not vacuous:
  an engine that never answers fails it). The default bound is the engine's worst-case
  latency (:func:`bit_serial_bound`), so the proofs also show the tile is never later than
  that; one cycle less is refuted.

The operands are the miter's free inputs captured into registers on the first cycle after
reset, so they are arbitrary but constant; the driver then offers one tile of K steps
(``last`` on the final one, ``prec`` fixed to full precision for ``mac``) and holds
``out.ready`` high. ``offset`` adds a constant to the expected value: a miter with
``offset=1`` must be refuted, which checks that the checker does compare.

What this does not cover: more than one tile (the second tile's accumulator restart and
``TileSpacing``), back-pressure on ``out``, and ``prec`` below full precision — those are
left to the simulation tests in ``tests/arrays``. SAT cost grows steeply with operand width
and array size (a 2×2 int3×int3 sparse engine already takes ~20-30 s), so the tests use
1×1..2×2 arrays of 2- to 4-bit operands.
"""
from __future__ import annotations

from pathlib import Path

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arrays.bit_serial import BitSerialOS, digit_positions
from .config import ArrayConfig
from .formal import ProofResult, prove
from .pe.mac import operand_shape

__all__ = ["BitSerialMiter", "bit_serial_bound", "prove_bit_serial"]


def bit_serial_bound(cfg: ArrayConfig, k: int) -> int:
    """Cycles from reset by which one tile of ``k`` steps has left the engine in the worst
    case: the capture cycle, ``k`` steps of the slowest weight (``bits`` cycles for ``mac`` at
    full precision; ⌈positions/2⌉ non-zero digits for ``sparse_serial``, as a non-adjacent
    form has no two neighbouring non-zero digits), result load, output register and the
    ``rows`` beats. The proofs use exactly this bound, so they also prove the latency."""
    pe = cfg.pe
    per_step = (digit_positions(pe.w) + 1) // 2 if pe.arith == "sparse_serial" else pe.w.bits
    return 1 + k * per_step + 2 + cfg.rows


class BitSerialMiter(wiring.Component):
    """The bit-serial engine on one captured tile; ``ok`` stays high while every result beat is
    exact and, on cycle ``bound`` (the last of ``sat -seq bound``), all R beats have left."""

    def __init__(self, cfg: ArrayConfig, *, k: int = 2, bound: int | None = None, offset: int = 0):
        if cfg.kind != "bit_serial":
            raise ValueError(f"BitSerialMiter needs a bit_serial engine, got {cfg.kind}")
        self.cfg, self.k, self.offset = cfg, k, offset
        self.bound = bound if bound is not None else bit_serial_bound(cfg, k)
        pe = cfg.pe
        super().__init__({
            "a": In(data.ArrayLayout(data.ArrayLayout(operand_shape(pe.a), cfg.rows), k)),  # a[k][r]
            "w": In(data.ArrayLayout(data.ArrayLayout(operand_shape(pe.w), cfg.cols), k)),  # w[k][j]
            "ok": Out(1),
        })

    def elaborate(self, platform):
        cfg, pe, K = self.cfg, self.cfg.pe, self.k
        R, C = cfg.rows, cfg.cols
        m = Module()
        m.submodules.engine = eng = BitSerialOS(cfg)

        # Capture the free operands once: arbitrary, then constant.
        a = Signal.like(self.a, name="a_tile")
        w = Signal.like(self.w, name="w_tile")
        captured = Signal()
        with m.If(~captured):
            m.d.sync += [a.eq(self.a), w.eq(self.w), captured.eq(1)]

        # Driver: steps 0..K-1 of one tile, paired a/w beats.
        step = Signal(range(K + 1))
        feed = Signal()
        m.d.comb += [feed.eq(captured & (step < K)), eng.a.valid.eq(feed), eng.w.valid.eq(feed),
                     eng.out.ready.eq(1)]
        if not eng.sparse:
            m.d.comb += eng.a.payload.prec.eq(pe.w.bits - 1)
        with m.Switch(step):
            for kk in range(K):
                with m.Case(kk):
                    m.d.comb += [eng.a.payload.data.eq(a[kk]), eng.w.payload.eq(w[kk]),
                                 eng.a.payload.last.eq(kk == K - 1)]
        with m.If(eng.a.valid & eng.a.ready):
            m.d.sync += step.eq(step + 1)

        # Checker: expected rows from the captured operands, exact then wrapped to acc bits.
        want = [[Signal(signed(pe.acc), name=f"want_{r}_{j}") for j in range(C)] for r in range(R)]
        for r in range(R):
            for j in range(C):
                m.d.comb += want[r][j].eq(sum(a[kk][r] * w[kk][j] for kk in range(K)) + self.offset)
        seen = Signal(range(R + 2))  # beats so far
        cycle = Signal(range(self.bound))
        with m.If(cycle < self.bound - 1):
            m.d.sync += cycle.eq(cycle + 1)
        wrong = Signal()
        m.d.comb += wrong.eq(seen >= R)  # a beat beyond the tile's R rows
        for r in range(R):
            with m.If(seen == r):
                m.d.comb += wrong.eq(Cat(eng.out.payload[j] != want[r][j] for j in range(C)).any())
        with m.If(eng.out.valid & (seen <= R)):
            m.d.sync += seen.eq(seen + 1)
        missing = Signal()
        m.d.comb += missing.eq((cycle == self.bound - 1) & (seen + eng.out.valid != R))
        m.d.comb += self.ok.eq(~(eng.out.valid & wrong) & ~missing)
        return m


def prove_bit_serial(cfg: ArrayConfig, workdir: Path, *, k: int = 2, bound: int | None = None,
                     offset: int = 0, timeout: float = 900) -> ProofResult:
    """Bounded proof (``sat -seq bound``) that the bit-serial engine computes one K-step tile
    exactly and completely; see :class:`BitSerialMiter`."""
    miter = BitSerialMiter(cfg, k=k, bound=bound, offset=offset)
    pe = cfg.pe
    tag = (f"{pe.arith}_{cfg.rows}x{cfg.cols}_k{k}_{pe.a}x{pe.w}_acc{pe.acc}"
           + f"_n{miter.bound}" + (f"_off{offset}" if offset else ""))
    return prove(miter, workdir, name=f"bitserial_{tag}", steps=miter.bound, timeout=timeout,
                 kind=f"engine-bmc{miter.bound}")
