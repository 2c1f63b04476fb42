"""Formal proofs of the table-lookup (LUT) engine's arithmetic, on the engine's own functions
(:mod:`hwgen.pe.lut`: ``build_table``, ``lookup``, ``signed_lookup``, ``sum_entry``,
``table_step``, ``accumulate``, the ones :class:`hwgen.arrays.lut.LutOS` calls), with the
provers of :mod:`hwgen.formal.sat` (yosys SAT) and :mod:`hwgen.formal.smt` (Bitwuzla). Every
miter is a component whose ``ok`` must always be 1. The whole engine is proved by bounded
model checking in :mod:`hwgen.formal.lut_engine`.

Notation: a group of g activations a₀…a_{g−1}, its ±1 table T[p] = Σₖ (bit k of p ? +aₖ :
−aₖ), S = Σₖ aₖ; a weight code q of b planes, plane i's bits p_i (bit k = bit i of qₖ); the
engine's per-plane controls sᵢ (sign plane: ``int``/ternary and i = b − 1), dbl (bipolar:
table doubled) and off = 1 − dbl (offset column on); X, O the lookup and offset
accumulators, ``acc + 1`` bits, wrapping. Ternary runs as int2 (code 0b10 is no value),
binary as bipolar1.

What is proved
--------------
At full width (int8 and uint8 activations, g = 2 … 6, 4 planes; any width by the same
classes), piece by piece, every input free:

1. **symmetric = full** (:class:`TableLemma`, yosys SAT): at every index p, the symmetric
   table's ``lookup`` negated by its flag equals the full table's, which is never negated
   and is T[p]; ``sum_entry`` of either table is S. All exact.
   **sign plane** (:class:`SignedLookupLemma`): ``signed_lookup`` negated by its flag is
   (−1)^sign times ``lookup`` negated by its flag (free table entries and index).
2. **plane registers** (:class:`PlaneTableLemma`): the register the engine's ``table_step``
   makes at plane i (:func:`plane_tables`: ``build_table``, doubled for bipolar, then shifted
   per plane, at ``table_width + planes`` bits) looks up to 2^(i+dbl) times the lookup of 1.,
   and its ``sum_entry`` is 2^(i+dbl)·S: no overflow at any plane, for both tables.
3. **carry-in negation** (:class:`AccumulateLemma`): ``accumulate``, i.e.
   ``acc + (x ^ n) + n``, is ``acc + (n ? −x : x)`` modulo 2^(acc+1), for every state.
4. **plane coefficients** (:func:`coefficient_mismatches`, exhaustive over the codes of every
   format of 1 … 8 bits, not a solver): Σᵢ (−1)^sᵢ 2^i (2^dbl·(2qᵢ − 1) + off) = 2·decode(q).

Chain (the glue is :func:`plane_step`: ``signed_lookup`` into ``accumulate``, and the offset
column ``Mux(off, sum_entry, 0)`` negated by ``sign & off`` into the other): after the b
planes of a group, by 3., X' + O' ≡ X + O + Σᵢ (lookup of plane i negated by its flag) +
off·Σᵢ (−1)^sᵢ·sum_entry(plane i); by 1. and 2. that is X + O + Σᵢ (−1)^sᵢ 2^i
(2^dbl·T[pᵢ] + off·S) = X + O + Σₖ aₖ·Σᵢ (−1)^sᵢ 2^i (2^dbl·(2qᵢₖ − 1) + off) (T and S are
linear in a: collect each aₖ's coefficient) = X + O + 2·Σₖ aₖ·decode(qₖ) by 4. X and O start
at zero, so the drained ``(X + O) >> 1`` is the dot product modulo 2^acc after any number of
groups.

End to end, with no written step (:class:`PlaneMiter`, Bitwuzla): one group through
:func:`plane_tables` and :func:`plane_step` with free activations and codes equals
Σₖ aₖ·decode(qₖ) computed with plain multiplies (the golden ``LowBitFormat.decode``), modulo
2^acc. For every weight format of up to 4 bits (int2…4, uint1…4, ternary, binary,
bipolar2…4) at int3 activations and g = 2, at int8/uint8 for 1- and 2-bit weights; wider
activations with 3- and 4-bit weights are multiplier equivalences that take minutes (int4)
or do not finish in 5 minutes (int8 × int4 at g = 2 … the sweep has what finishes).

Each claim refutes a deliberately wrong variant, with a counterexample, passed in as a
parameter, not copied: a symmetric lookup that drops its negation (:func:`drop_negation`,
:func:`drop_lookup_negation`; LUT Tensor Core's bug), registers one bit too narrow
(``margin=-1``), a step without its carry-in, the offset column missing or the sign plane
added (``bug=``, :data:`PLANE_BUGS`).

What stays informal
-------------------
* The glue of :func:`plane_step` (the offset column's ``Mux`` and ``sign & off``) and the
  per-format controls of :func:`plane_coefficient` (sᵢ, dbl, off) restate the engine's
  stage-0/2 lines, which stay inside ``LutOS.elaborate``; the engine's own are checked by
  :class:`~hwgen.formal.lut_engine.LutEngineMiter`, but only at small widths and for a
  bounded number of cycles.
* The chain's algebra (collecting coefficients of linear forms), and that the lookup's index
  multiplexer, proven at each of its 2^g constant indices (1., 2.), is the same function for a
  free index: the indices are enumerated because a free index under the sums costs the
  solver 20-60 s at g = 4 instead of 1-5 s. (1.'s sign-plane half and the end-to-end proofs do
  use free indices.)
* Group scales/zero points (``dequant: group``) are not proved.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..arrays.lut import WFMT_BIPOLAR, WFMT_INT
from ..numerics import Format, LowBitFormat
from ..pe.lut import accumulate, build_table, lookup, signed_lookup, sum_entry, table_step, table_width
from ..pe.mac import operand_shape
from .sat import ProofResult, prove
from .smt import prove_smt

__all__ = ["TableLemma", "PlaneTableLemma", "AccumulateLemma", "PlaneMiter", "PLANE_BUGS", "table_value",
           "drop_negation", "drop_lookup_negation", "plane_tables", "plane_step", "plane_coefficient",
           "coefficient_mismatches", "valid_codes", "decoded", "prove_table", "prove_plane_tables",
           "prove_accumulate", "prove_lut_parts", "prove_planes"]

#: deliberately wrong plane arithmetic (``bug=`` of :class:`PlaneMiter`, :func:`plane_coefficient`)
PLANE_BUGS = ("no-negation", "no-offset", "sign-plane-added")


def _obligations(m: Module, ok: Signal, conds: list) -> None:
    """``ok`` is the vector of ``conds``, each proven by its own query."""
    if len(conds) != len(ok):
        raise ValueError(f"{len(conds)} obligations for a {len(ok)}-bit ok")
    m.d.comb += ok.eq(Cat(*conds))


def _negated_if(neg, v):
    """``-v`` if ``neg`` else ``v``, exact (Amaranth widens the negation by one bit)."""
    return Mux(neg, -v, v)


def _congruent(x, y, width: int):
    """``x ≡ y (mod 2**width)`` for Amaranth values of any widths."""
    return (x - y)[:width] == 0


def _check_bug(bug):
    if bug is not None and bug not in PLANE_BUGS:
        raise ValueError(f"bug must be one of {', '.join(PLANE_BUGS)} (or None), not {bug!r}")


def table_value(acts: list, p: int):
    """T[p] = Σₖ (bit k of p ? +aₖ : −aₖ) from its definition (exact)."""
    return sum(acts[k] if p >> k & 1 else -acts[k] for k in range(len(acts)))


def drop_negation(m: Module, table, index, symmetric: bool, name: str):
    """A symmetric lookup that forgets its negation flag: LUT Tensor Core's symmetrized lookup
    that does not equal the full table. Must be refuted."""
    v, _ = lookup(m, table, index, symmetric, name)
    return v, Const(0, 1)


class TableLemma(wiring.Component):
    """For free activations ``acts`` (``g`` of format ``a``), at every index p:

    * ``ok[2p]``: the symmetric table's lookup, negated when its flag says, equals the full
      table's lookup (negated when its flag says);
    * ``ok[2p + 1]``: the full lookup is T[p] = Σₖ (bit k of p ? +aₖ : −aₖ), never negated;
    * ``ok[2^(g+1)]``, ``ok[2^(g+1) + 1]``: ``sum_entry`` of the full and of the symmetric
      table is Σₖ aₖ.

    All values exact. The index is enumerated (each of the 2^g lookups gets a constant index,
    which yosys folds into the entry it selects), not left free: the same claim for all p, but
    the solver then sees sums of activations instead of sums under a free multiplexer (at
    int8, g = 4: 20-60 s with a free index, 5 s enumerated). ``lookup`` replaces the
    symmetric table's lookup (a wrong one must be refuted)."""

    def __init__(self, a: Format, g: int, *, lookup=lookup):
        self.a_fmt, self.g, self._lookup = a, g, lookup
        super().__init__({"acts": In(data.ArrayLayout(operand_shape(a), g)), "ok": Out((2 << g) + 2)})

    def elaborate(self, platform):
        m = Module()
        a, g = self.a_fmt, self.g
        acts = [self.acts[i] for i in range(g)]
        full = build_table(m, acts, a, False, "full")
        sym = build_table(m, acts, a, True, "sym")
        if (len(full), len(sym)) != (1 << g, 1 << (g - 1)):
            raise ValueError(f"build_table gave {len(full)} and {len(sym)} entries for g = {g}")
        width = table_width(a, g) + 1
        conds = []
        for p in range(1 << g):
            fv, fn = lookup(m, full, Const(p, g), False, f"lk_full{p}")
            sv, sn = self._lookup(m, sym, Const(p, g), True, f"lk_sym{p}")
            got, want = Signal(signed(width), name=f"sym{p}"), Signal(signed(width), name=f"full{p}")
            m.d.comb += [got.eq(_negated_if(sn, sv)), want.eq(_negated_if(fn, fv))]
            conds += [got == want, (want == table_value(acts, p)) & ~fn]
        total = sum(acts)
        _obligations(m, self.ok, conds + [sum_entry(full, False) == total, sum_entry(sym, True) == total])
        return m


class SignedLookupLemma(wiring.Component):
    """The engine's :func:`~hwgen.pe.lut.signed_lookup` is the lookup times (−1)^sign: for a
    free table of ``2^g`` (full) or ``2^(g−1)`` (symmetric) ``tw``-bit entries, a free index and
    a free ``sign``, ``signed_lookup`` negated by its flag equals (−1)^sign times
    :func:`~hwgen.pe.lut.lookup` negated by its flag. A multiplexer property, free entries:
    cheap at any g. ``signed_lookup`` replaces the engine's (a wrong one must be refuted)."""

    def __init__(self, g: int, tw: int, *, symmetric: bool = True, signed_lookup=signed_lookup):
        self.g, self.tw, self.symmetric, self._signed_lookup = g, tw, symmetric, signed_lookup
        n = 1 << (g - 1) if symmetric else 1 << g
        super().__init__({"table": In(data.ArrayLayout(signed(tw), n)), "index": In(g), "sign": In(1),
                          "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        table = [self.table[e] for e in range(len(self.table))]
        lv, ln = lookup(m, table, self.index, self.symmetric, "ref")
        sv, sn = self._signed_lookup(m, table, self.index, self.sign, self.symmetric, "dut")
        want, got = Signal(signed(self.tw + 2), name="want"), Signal(signed(self.tw + 2), name="got")
        m.d.comb += [want.eq(_negated_if(self.sign, _negated_if(ln, lv))), got.eq(_negated_if(sn, sv)),
                     self.ok.eq(got == want)]
        return m


# -- the engine's plane arithmetic ------------------------------------------------------------

def drop_lookup_negation(m: Module, table, index, sign, symmetric: bool, name: str):
    """:func:`~hwgen.pe.lut.signed_lookup` gone wrong: the lookup's own negation flag dropped,
    only the sign plane's kept. Must be refuted."""
    v, _ = drop_negation(m, table, index, symmetric, name)
    return v, sign


def plane_tables(m: Module, acts: list, a: Format, symmetric: bool, planes: int, bipolar: bool,
                 name: str, *, width: int | None = None) -> list[list[Signal]]:
    """The engine's table register at planes 0 … ``planes``−1, each the engine's
    :func:`~hwgen.pe.lut.table_step` of the one before: ``build_table`` (doubled for bipolar) on
    the first plane, then shifted left by one per plane, truncated to ``width`` bits (the
    engine's ``table_width + planes``, the default). The register before plane 0 is a
    don't-care (zero here): ``table_step`` does not read it on a group's first plane."""
    tw = table_width(a, len(acts)) + planes if width is None else width
    fresh = build_table(m, acts, a, symmetric, f"{name}_pre")
    out, held = [], [Const(0, signed(tw))] * len(fresh)
    for i in range(planes):
        tab = [Signal(signed(tw), name=f"{name}{i}_{e}") for e in range(len(fresh))]
        m.d.comb += [t.eq(table_step(f, h, Const(i == 0, 1), Const(bipolar, 1)))
                     for t, f, h in zip(tab, fresh, held)]
        out.append(tab)
        held = tab
    return out


def plane_step(m: Module, tab: list, index, sign: int, offset: bool, x, o, *, symmetric: bool, aw: int, name: str,
               signed_lookup=signed_lookup) -> tuple[Signal, Signal]:
    """One plane of one column into the accumulators ``(x, o)`` with the engine's functions:
    :func:`~hwgen.pe.lut.signed_lookup` of ``index`` (the plane's g bits) with ``sign`` (the
    sign plane of ``int``) into :func:`~hwgen.pe.lut.accumulate`, and the offset column's
    ``Mux(offset, sum_entry, 0)`` negated by ``sign & offset`` into the other (``offset``: {0,1}
    planes; off for bipolar). The two lines of glue between them (the ``Mux`` and the ``&``)
    are the engine's stage-2 lines, re-stated; :class:`~hwgen.formal.lut_engine.LutEngineMiter`
    checks the engine's own."""
    sgn, off = Const(sign, 1), Const(offset, 1)
    val, n = signed_lookup(m, tab, index, sgn, symmetric, f"{name}_lk")
    x = accumulate(m, x, val, n, aw, f"{name}_mac")
    s = Signal(signed(len(tab[0])), name=f"{name}_sum")
    m.d.comb += s.eq(Mux(off, sum_entry(tab, symmetric), 0))
    o = accumulate(m, o, s, sgn & off, aw, f"{name}_off")
    return x, o


class AccumulateLemma(wiring.Component):
    """``step(acc, x, n) ≡ acc + (n ? −x : x)  (mod 2^aw)`` for every accumulator ``acc``,
    ``tw``-bit entry ``x`` and flag ``n`` (``step`` defaults to the engine's
    :func:`~hwgen.pe.lut.accumulate`, called as ``step(m, acc, x, n, aw, name)``):
    the negation folded into the carry-in, and the step's linearity in ``acc`` that adds the
    planes and groups one after the other."""

    def __init__(self, tw: int, aw: int, *, step=accumulate):
        self.tw, self.aw, self._step = tw, aw, step
        super().__init__({"acc": In(signed(aw)), "x": In(signed(tw)), "n": In(1), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        nxt = self._step(m, self.acc, self.x, self.n, self.aw, "acc")
        m.d.comb += self.ok.eq(_congruent(nxt, self.acc + _negated_if(self.n, self.x), self.aw))
        return m


class PlaneTableLemma(wiring.Component):
    """The engine's table register at every plane ``i < planes`` (:func:`plane_tables`: built
    once, doubled for bipolar, shifted left by one per plane, ``table_width + planes`` bits)
    is the table of :func:`~hwgen.pe.lut.build_table` scaled by 2^(i+dbl) without overflow,
    as its lookups see it (dbl = 1 for bipolar, else 0). For free activations, for the
    register of {0,1} planes and the doubled one of bipolar planes, at every plane i and every
    index p (enumerated, as in :class:`TableLemma`):

    * the register's lookup, negated when its flag says, is 2^(i+dbl) times the lookup of the
      ``build_table`` output (negated when its flag says), exactly;
    * ``sum_entry`` of the register is 2^(i+dbl) times that of the ``build_table`` output.

    With :class:`TableLemma` (the ``build_table`` lookups are T[p], its ``sum_entry`` Σ aₖ) the
    register's are 2^(i+dbl)·T[p] and 2^(i+dbl)·Σ aₖ. ``margin`` narrows (negative) the
    registers: one bit less must be refuted."""

    def __init__(self, a: Format, g: int, planes: int, *, symmetric: bool = True, margin: int = 0):
        self.a_fmt, self.g, self.planes, self.symmetric, self.margin = a, g, planes, symmetric, margin
        super().__init__({"acts": In(data.ArrayLayout(operand_shape(a), g)),
                          "ok": Out(2 * planes * ((1 << g) + 1))})

    def elaborate(self, platform):
        m = Module()
        g, sym = self.g, self.symmetric
        acts = [self.acts[k] for k in range(g)]
        fresh = build_table(m, acts, self.a_fmt, sym, "ref")
        base = []
        for p in range(1 << g):
            v, n = lookup(m, fresh, Const(p, g), sym, f"ref_lk{p}")
            base.append(_negated_if(n, v))
        conds = []
        for dbl in (0, 1):
            tabs = plane_tables(m, acts, self.a_fmt, sym, self.planes, bool(dbl), f"tab{dbl}_",
                                width=table_width(self.a_fmt, g) + self.planes + self.margin)
            for i, tab in enumerate(tabs):
                for p in range(1 << g):
                    v, n = lookup(m, tab, Const(p, g), sym, f"lk{dbl}_{i}_{p}")
                    conds.append(_negated_if(n, v) == base[p] << (i + dbl))
                conds.append(sum_entry(tab, sym) == sum_entry(fresh, sym) << (i + dbl))
        _obligations(m, self.ok, conds)
        return m


def plane_coefficient(w: LowBitFormat, q: int, *, bug: str | None = None) -> int:
    """What the engine's planes make of code ``q`` of ``w``, as a multiple of its activation:
    Σᵢ (−1)^sᵢ 2^i (2^dbl·(2qᵢ − 1) + off), with the engine's controls for ``w``: sᵢ the sign
    plane (``int``/ternary, i = b − 1), dbl and off = 1 − dbl for bipolar. Twice the weight's
    value when the engine is right. ``bug`` as in :class:`PlaneMiter` (``no-negation`` is a
    table matter and changes nothing here)."""
    _check_bug(bug)
    dbl = int(w.code == WFMT_BIPOLAR)
    off = 0 if bug == "no-offset" else 1 - dbl
    total = 0
    for i in range(w.bits):
        sign = w.code == WFMT_INT and i == w.bits - 1 and bug != "sign-plane-added"
        term = ((2 * (q >> i & 1) - 1) << dbl) + off
        total += (-term if sign else term) << i
    return total


def coefficient_mismatches(w: LowBitFormat, *, bug: str | None = None) -> list[tuple[int, int, int]]:
    """The valid codes of ``w`` where :func:`plane_coefficient` is not ``2·w.decode(q)``, as
    (code, coefficient, 2·decode). Exhaustive over the ≤ 256 codes; empty for every format."""
    out = []
    for q in valid_codes(w):
        c, want = plane_coefficient(w, q, bug=bug), 2 * int(w.decode(q))
        if c != want:
            out.append((q, c, want))
    return out


def valid_codes(w: LowBitFormat) -> list[int]:
    """The codes that encode a value of ``w`` (all of them but ternary's 0b10)."""
    return sorted({int(c) for c in w.encode(w.values())})


def decoded(m: Module, w: LowBitFormat, q, name: str) -> Signal:
    """``w.decode(q)`` in hardware: the golden decode's value for each code, selected by
    comparisons (a multiplexer chain; a constant ``Array`` would become a ROM, which yosys
    ``sat`` rejects and ``write_smt2`` drops)."""
    shape = signed(w.bits + 2)
    v = Signal(shape, name=name)
    out = Const(0, shape)
    for c, x in enumerate(w.decode(np.arange(1 << w.bits))):
        out = Mux(q[:w.bits] == c, Const(int(x), shape), out)
    m.d.comb += v.eq(out)
    return v


class PlaneMiter(wiring.Component):
    """One group end to end: ``g`` activations (format ``a``) and ``g`` weight codes (``w``)
    through the engine's plane arithmetic (:func:`plane_tables`, :func:`plane_step` for each of
    ``w.bits`` planes, free codes), from zero accumulators:

    * ``ok[0]``: X + O is even;
    * ``ok[1]``: ``(X + O) >> 1 ≡ Σₖ aₖ·decode(qₖ)  (mod 2^acc)``, plain multiplies of the
      activations by the golden decode of the codes.

    Both hold or a code is no value of ``w`` (ternary's 0b10: ``ok`` is ``invalid | claim``).
    ``planes`` is the engine's widest weight (default ``w.bits``; the table registers are
    ``table_width + planes`` bits). ``bug`` (one of :data:`PLANE_BUGS`) breaks it on purpose.
    Over free codes this is a multiplier equivalence: Bitwuzla proves it in seconds at int8,
    g = 2 and 1- or 2-bit weights, in minutes beyond (yosys SAT is slower still); full widths
    go by the pieces (:func:`prove_lut_parts`)."""

    def __init__(self, a: Format, w: LowBitFormat, g: int, acc: int, *, symmetric: bool = True,
                 planes: int | None = None, bug: str | None = None):
        _check_bug(bug)
        self.a_fmt, self.w_fmt, self.g, self.acc, self.symmetric = a, w, g, acc, symmetric
        self.planes = w.bits if planes is None else planes
        if self.planes < w.bits:
            raise ValueError(f"an engine of {self.planes}-bit weights cannot run {w} ({w.bits} planes)")
        self.bug = bug
        super().__init__({"acts": In(data.ArrayLayout(operand_shape(a), g)),
                          "codes": In(data.ArrayLayout(w.bits, g)), "ok": Out(2)})

    def elaborate(self, platform):
        m = Module()
        a, w, g, bug = self.a_fmt, self.w_fmt, self.g, self.bug
        aw = self.acc + 1
        acts = [self.acts[k] for k in range(g)]
        codes = [self.codes[k] for k in range(g)]
        bipolar = w.code == WFMT_BIPOLAR
        tabs = plane_tables(m, acts, a, self.symmetric, self.planes, bipolar, "tab")
        x = o = Const(0, signed(aw))
        for i in range(w.bits):
            sign = int(w.code == WFMT_INT and i == w.bits - 1 and bug != "sign-plane-added")
            x, o = plane_step(m, tabs[i], Cat(*(q[i] for q in codes)), sign, not bipolar and bug != "no-offset",
                              x, o, symmetric=self.symmetric, aw=aw, name=f"plane{i}",
                              signed_lookup=drop_lookup_negation if bug == "no-negation" else signed_lookup)
        want = Signal(signed(self.acc), name="want")
        m.d.comb += want.eq(sum(acts[k] * decoded(m, w, codes[k], f"dec{k}") for k in range(g)))
        total = Signal(signed(aw), name="total")
        m.d.comb += total.eq(x + o)
        valid = Const(1, 1)
        if len(valid_codes(w)) < 1 << w.bits:
            valid = Cat(*(Cat(*(q == c for c in valid_codes(w))).any() for q in codes)).all()
        _obligations(m, self.ok, [~valid | ~total[0], ~valid | (total[1:aw] == want.as_unsigned())])
        return m


# -- provers --------------------------------------------------------------------------------------

def prove_table(a: Format, g: int, workdir: Path, *, sym_lookup=lookup, timeout: float = 600) -> ProofResult:
    """:class:`TableLemma` (yosys SAT): the symmetric table's lookup equals the full table's."""
    name = f"lut_table_g{g}_{a}" + ("" if sym_lookup is lookup else f"_{sym_lookup.__name__}")
    return prove(TableLemma(a, g, lookup=sym_lookup), workdir, name=name, kind="lut-table", timeout=timeout)


def prove_signed_lookup(g: int, tw: int, workdir: Path, *, symmetric: bool = True, signed_lookup=signed_lookup,
                        timeout: float = 600) -> ProofResult:
    """:class:`SignedLookupLemma` (yosys SAT): the sign plane folds into the lookup's flag."""
    name = (f"lut_signed_{'sym' if symmetric else 'full'}_g{g}_t{tw}"
            + ("" if signed_lookup is globals()["signed_lookup"] else f"_{signed_lookup.__name__}"))
    return prove(SignedLookupLemma(g, tw, symmetric=symmetric, signed_lookup=signed_lookup), workdir, name=name,
                 kind="lut-signed-lookup", timeout=timeout)


def prove_plane_tables(a: Format, g: int, planes: int, workdir: Path, *, symmetric: bool = True, margin: int = 0,
                       timeout: float = 600) -> ProofResult:
    """:class:`PlaneTableLemma` (yosys SAT): the plane registers hold the scaled table."""
    name = (f"lut_planetab_{'sym' if symmetric else 'full'}_g{g}_{a}_p{planes}"
            + (f"_margin{margin}" if margin else ""))
    return prove(PlaneTableLemma(a, g, planes, symmetric=symmetric, margin=margin), workdir, name=name,
                 kind="lut-plane-table", timeout=timeout)


def prove_accumulate(tw: int, aw: int, workdir: Path, *, step=accumulate, timeout: float = 600) -> ProofResult:
    """:class:`AccumulateLemma` (yosys SAT): the carry-in negation of the accumulator step."""
    name = f"lut_acc_t{tw}_a{aw}" + ("" if step is accumulate else f"_{step.__name__}")
    return prove(AccumulateLemma(tw, aw, step=step), workdir, name=name, kind="lut-accumulate", timeout=timeout)


def prove_lut_parts(a: Format, g: int, planes: int, acc: int, workdir: Path, *, symmetric: bool = True,
                    timeout: float = 600) -> list[ProofResult]:
    """Lemmas 1-3 of this module's docstring for an engine with activations ``a``, group ``g``,
    ``planes``-bit weights and an ``acc``-bit result (lemma 4 is :func:`coefficient_mismatches`)."""
    tw = table_width(a, g) + planes
    return [prove_table(a, g, workdir, timeout=timeout),
            prove_plane_tables(a, g, planes, workdir, symmetric=symmetric, timeout=timeout),
            prove_accumulate(tw, acc + 1, workdir, timeout=timeout)]


def prove_planes(a: Format, w: LowBitFormat, g: int, acc: int, workdir: Path, *, symmetric: bool = True,
                 planes: int | None = None, bug: str | None = None, timeout: float = 600) -> ProofResult:
    """:class:`PlaneMiter` (Bitwuzla): one group's planes add up to the dot product."""
    name = (f"lut_planes_{w}_{'sym' if symmetric else 'full'}_g{g}_{a}_acc{acc}"
            + (f"_p{planes}" if planes else "") + (f"_{bug}" if bug else ""))
    return prove_smt(PlaneMiter(a, w, g, acc, symmetric=symmetric, planes=planes, bug=bug), workdir, name=name,
                     kind="lut-planes", timeout=timeout)
