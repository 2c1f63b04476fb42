"""Bounded model checking of the whole table-lookup engine, :class:`~hwgen.arrays.lut.LutOS`
(yosys ``sat -seq``): the real engine from reset, driven by a free-input driver, against
Σ a·decode(q) computed from the same free operands by plain multiplies.

:class:`LutEngineMiter` covers what the combinational proofs of :mod:`hwgen.formal.lut` do
not: the engine's control (``wfmt``/``prec`` decoding into the sign plane, doubling and
offset controls; table load on a group's first plane and shift per plane; the pairing of the
``a`` and ``w`` streams; the registered lookups; the carry-in and offset muxes; the
accumulators' restart by the synchronous reset of their local domain; the holds, the drain
and its halving; stalls on every stream) and the latency (:func:`lut_bound`, from
:data:`~hwgen.arrays.lut.ROW_LATENCY`). It is bounded (a fixed number of cycles from reset:
two tiles of one group by default) and only feasible at small widths: int2 activations,
g = 2 and 2-plane weights (every run-time format of up to 2 planes: int2/ternary, uint1,
uint2, binary, bipolar2) on a 1×2 tile, with and without stalls, in seconds; 3 planes with
stalls in minutes, 4 planes without stalls in about half a minute, 4 planes with stalls not
within 10 minutes (measured on a 1×2 and a 1×1 tile). The arithmetic at full width is the
business of :mod:`hwgen.formal.lut`; the control does not depend on the activation width.

Its claims are not vacuous: expecting the sum + 1, or the rows one cycle before
:func:`lut_bound`, is refuted, and so is the real engine built with a wrong lookup
(``tests/pe/test_formal_lut.py`` patches :func:`~hwgen.formal.lut.drop_lookup_negation` in
for the engine's ``signed_lookup``).
"""
from __future__ import annotations

from pathlib import Path

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..arrays.lut import ROW_LATENCY, WFMT_BIPOLAR, WFMT_INT, WFMT_UINT, LutOS
from ..config import ArrayConfig
from ..numerics import LowBitFormat
from ..pe.mac import operand_shape
from .lut import decoded
from .sat import ProofResult, prove

__all__ = ["LutEngineMiter", "run_time_formats", "lut_bound", "prove_lut_engine"]


def run_time_formats(planes: int) -> list[LowBitFormat]:
    """Every format an engine of ``planes``-bit weights runs (ternary runs as int2, binary is bipolar1)."""
    out = []
    for kind in ("int", "uint", "bipolar"):
        out += [LowBitFormat(kind, b) for b in range(2 if kind == "int" else 1, planes + 1)]
    return out


def lut_bound(cfg: ArrayConfig, *, tiles: int = 2, groups: int = 1) -> int:
    """Cycles from reset by which ``tiles`` tiles of ``groups`` groups have left the engine
    without stalls, at full precision (``pe.w.bits`` beats a group): cycle 0 captures the
    operands, the first tile's beats are taken on cycles 1 … G·B, each further tile's last
    beat G·B cycles later but at least ``rows`` after the previous one's
    (:class:`~hwgen.arrays.common.TileSpacing`); a tile's rows are valid from
    :data:`~hwgen.arrays.lut.ROW_LATENCY` cycles after its last beat, one per cycle, so the
    last row of the last tile is on ``out`` on cycle ``bound − 1``. The proofs use exactly
    this bound (and one cycle less is refuted), so they also prove the latency."""
    if cfg.dequant == "group":
        raise ValueError("lut_bound is for engines without dequant: group (two more stages, wider tile spacing)")
    beats, rows = groups * cfg.pe.w.bits, cfg.rows
    last = beats
    for _ in range(1, tiles):
        last += max(beats, rows)
    return last + ROW_LATENCY + rows


class LutEngineMiter(wiring.Component):
    """The real :class:`~hwgen.arrays.lut.LutOS` from reset on ``tiles`` tiles of ``groups``
    groups each: operands, the run-time format (``wfmt``, ``prec``) captured from free inputs
    on the first cycle; a driver offering the beats of each stream on its own (group by group,
    planes 0 … prec, ``last`` on a tile's final plane), with free gaps on ``a`` and ``w`` and
    free back-pressure on ``out`` when ``stalls``. ``ok`` stays high while every ``out`` beat
    is the next row, ``Σₖ a·decode(q)`` wrapped to ``acc`` bits (+ ``offset``: a wrong claim
    for ``offset=1``), no beat beyond the tiles' rows appears and, without stalls, all rows
    have left on cycle ``bound`` (default :func:`lut_bound`). An invalid format (``wfmt`` 3,
    int of one plane, or ``prec`` ≥ ``pe.w.bits``, possible when that is no power of two) is
    assumed away. Ternary runs as int2, whose valid codes it shares."""

    def __init__(self, cfg: ArrayConfig, *, tiles: int = 2, groups: int = 1, stalls: bool = True,
                 bound: int | None = None, offset: int = 0):
        if cfg.kind != "lut":
            self._MustUse__silence = True     # never elaborated: no warning about it
            raise ValueError(f"LutEngineMiter needs a lut engine, got {cfg.kind}")
        if tiles < 1 or groups < 1:
            self._MustUse__silence = True
            raise ValueError(f"tiles and groups must be at least 1, got {tiles} and {groups}")
        self.cfg, self.tiles, self.groups, self.stalls, self.offset = cfg, tiles, groups, stalls, offset
        self.bound = bound if bound is not None else lut_bound(cfg, tiles=tiles, groups=groups)
        pe, R, C, g, B = cfg.pe, cfg.rows, cfg.cols, cfg.depth, cfg.pe.w.bits
        n = tiles * groups
        sig = {"a": In(data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(operand_shape(pe.a), g), R), n)),
               "q": In(data.ArrayLayout(data.ArrayLayout(data.ArrayLayout(B, C), g), n)),
               "wfmt": In(2), "prec": In(range(B)), "ok": Out(1)}
        if stalls:
            sig.update({"a_gap": In(1), "w_gap": In(1), "out_stall": In(1)})
        super().__init__(sig)

    def elaborate(self, platform):
        cfg, pe = self.cfg, self.cfg.pe
        R, C, g, B = cfg.rows, cfg.cols, cfg.depth, pe.w.bits
        T, G = self.tiles, self.groups
        m = Module()
        m.submodules.engine = eng = LutOS(cfg)

        # capture the free operands and format once: arbitrary, then constant
        a, q = Signal.like(self.a, name="a_tile"), Signal.like(self.q, name="q_tile")
        wfmt, prec = Signal.like(self.wfmt, name="wfmt_c"), Signal.like(self.prec, name="prec_c")
        captured = Signal()
        with m.If(~captured):
            m.d.sync += [a.eq(self.a), q.eq(self.q), wfmt.eq(self.wfmt), prec.eq(self.prec), captured.eq(1)]
        fmt_ok = Signal()
        # a format the engine runs: int of 2+ planes, uint or bipolar, of at most B planes (prec
        # is a range(B) field: 2 bits for B = 3 can still say 3)
        kind_ok = ((wfmt == WFMT_INT) & (prec >= 1)) | (wfmt == WFMT_UINT) | (wfmt == WFMT_BIPOLAR)
        m.d.comb += fmt_ok.eq(kind_ok & (prec < B) if B & (B - 1) else kind_ok)

        # driver: each stream walks groups 0 … T·G−1, planes 0 … prec, holding a beat once offered
        def walk(stream, gap, name):
            grp, plane = Signal(range(T * G + 1), name=f"{name}_grp"), Signal(range(B), name=f"{name}_plane")
            pend = Signal(name=f"{name}_pend")
            go = ~gap if self.stalls else 1
            m.d.comb += stream.valid.eq(captured & (grp < T * G) & (pend | go))
            m.d.sync += pend.eq(stream.valid & ~stream.ready)
            with m.If(stream.valid & stream.ready):
                with m.If(plane == prec):
                    m.d.sync += [plane.eq(0), grp.eq(grp + 1)]
                with m.Else():
                    m.d.sync += plane.eq(plane + 1)
            return grp, plane

        ga, pa = walk(eng.a, self.a_gap if self.stalls else 0, "a")
        gw, pw = walk(eng.w, self.w_gap if self.stalls else 0, "w")
        p = eng.a.payload
        m.d.comb += [p.plane.eq(pa), p.prec.eq(prec), p.wfmt.eq(wfmt)]
        with m.Switch(ga):
            for k in range(T * G):
                with m.Case(k):
                    m.d.comb += [p.data.eq(a[k]), p.last.eq((k % G == G - 1) & (pa == prec))]
        with m.Switch(gw):
            for k in range(T * G):
                with m.Case(k):
                    m.d.comb += [eng.w.payload[d][j].eq(q[k][d][j].bit_select(pw, 1))
                                 for d in range(g) for j in range(C)]
        m.d.comb += eng.out.ready.eq(~self.out_stall if self.stalls else 1)

        # checker: the rows of each tile from the captured operands, exact then wrapped
        formats = run_time_formats(B)

        def value(code, name):                   # decode(code) in the captured run-time format
            out = Const(0, signed(B + 2))
            for f in formats:
                out = Mux((wfmt == f.code) & (prec == f.bits - 1), decoded(m, f, code, f"{name}_{f}"), out)
            v = Signal(signed(B + 2), name=name)
            m.d.comb += v.eq(out)
            return v

        dec = [[[value(q[k][d][j], f"dec_{k}_{d}_{j}") for j in range(C)] for d in range(g)] for k in range(T * G)]
        want = []
        for t in range(T):
            for r in range(R):
                row = []
                for j in range(C):
                    s = Signal(signed(pe.acc), name=f"want_{t}_{r}_{j}")
                    m.d.comb += s.eq(sum(a[k][r][d] * dec[k][d][j] for k in range(t * G, (t + 1) * G)
                                         for d in range(g)) + self.offset)
                    row.append(s)
                want.append(row)
        seen = Signal(range(T * R + 2))
        cycle = Signal(range(self.bound))
        with m.If(cycle < self.bound - 1):
            m.d.sync += cycle.eq(cycle + 1)
        wrong = Signal()
        m.d.comb += wrong.eq(seen >= T * R)
        for s, row in enumerate(want):
            with m.If(seen == s):
                m.d.comb += wrong.eq(Cat(eng.out.payload[j] != row[j] for j in range(C)).any())
        with m.If(eng.out.valid & eng.out.ready & (seen <= T * R)):
            m.d.sync += seen.eq(seen + 1)
        missing = Signal()
        if not self.stalls:
            m.d.comb += missing.eq((cycle == self.bound - 1) & (seen + eng.out.valid != T * R))
        m.d.comb += self.ok.eq((captured & ~fmt_ok) | (~(eng.out.valid & wrong) & ~missing))
        return m


def prove_lut_engine(cfg: ArrayConfig, workdir: Path, *, tiles: int = 2, groups: int = 1, stalls: bool = True,
                     bound: int | None = None, offset: int = 0, timeout: float = 600) -> ProofResult:
    """Bounded proof (``sat -seq bound``) of the whole LUT engine; see :class:`LutEngineMiter`."""
    miter = LutEngineMiter(cfg, tiles=tiles, groups=groups, stalls=stalls, bound=bound, offset=offset)
    pe = cfg.pe
    tag = (f"{cfg.table}_{cfg.rows}x{cfg.cols}_g{cfg.depth}_{pe.a}_w{pe.w.bits}_acc{pe.acc}_t{tiles}x{groups}"
           + ("_stalls" if stalls else "") + f"_n{miter.bound}" + (f"_off{offset}" if offset else ""))
    return prove(miter, workdir, name=f"lut_engine_{tag}", steps=miter.bound, timeout=timeout,
                 kind=f"engine-bmc{miter.bound}")
