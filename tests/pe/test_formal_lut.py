"""Formal proofs of the table-lookup (LUT) engine (hwgen.formal.lut, hwgen.formal.lut_engine),
on the engine's own functions (hwgen.pe.lut) and the real LutOS: the symmetric table equals
the full one; the sign plane folds into the lookup's flag; the plane registers and the
carry-in step are exact; the bit-planes add up to the integer dot product for every weight
format (piece by piece at int8/uint8, end to end for every format of up to 4 bits at int3);
the whole engine by bounded model checking with stalls and its latency; and every claim
refutes a deliberately wrong variant.

The heavier sweeps (g = 5, 6; the other g and activation cases; 8 planes; 5- to 8-bit
formats end to end; 2×2, 3- and 4-plane engines) are marked ``formal_sweep``: not run by
``make test``; run them with ``pytest -m formal_sweep tests/pe/test_formal_lut.py``."""
import re

import pytest

import hwgen.arrays.lut

from hwgen.arrays.lut import ROW_LATENCY
from hwgen.config import ArrayConfig, PEConfig
from hwgen.formal.lut import (coefficient_mismatches, drop_lookup_negation, drop_negation, plane_coefficient,
                              prove_accumulate, prove_plane_tables, prove_planes, prove_signed_lookup, prove_table)
from hwgen.formal.lut_engine import lut_bound, prove_lut_engine, run_time_formats
from hwgen.numerics import parse_format, parse_lowbit
from hwgen.pe.lut import accumulate, table_width
from formal_checks import refuted

sweep = pytest.mark.formal_sweep


def _proved(r, queries=None):
    assert r.proved, f"{r.kind} ({r.method}) failed; log {r.log}\n{r.counterexample}"
    text = r.log.read_text()
    if r.method == "bitwuzla":
        assert text.rstrip().endswith("PROVED"), text
    else:   # one SAT query per obligation (bit of ok), each proven
        assert text.count("SAT proof finished - no model found: SUCCESS!") == (queries or 1), text[-2000:]


def _inputs(table: str) -> dict[str, int]:
    """A combinational counterexample's inputs: name → raw bits (yosys' and our Bitwuzla table)."""
    return {n: int(b, 2) for n, b in re.findall(r"^\s*\\(\w+)\s+\S+\s+\S+\s+([01]+)\s*$", table, re.M)}


def _fields(raw: int, bits: int, n: int, signed_: bool) -> list[int]:
    out = []
    for k in range(n):
        v = raw >> (k * bits) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if signed_ and v >> (bits - 1) else v)
    return out


# -- 1. symmetric table = full table ------------------------------------------------------------

# (activations, g) in make test; every other pair of int8/uint8 and g = 2 … 6 in the sweep
TABLE_CASES = [("int8", 2), ("int8", 3), ("int8", 4), ("uint8", 2)]
TABLE_SWEEP = [(a, g) for a in ("int8", "uint8") for g in range(2, 7) if (a, g) not in TABLE_CASES]


def _table_params(cases):
    return ([pytest.param(a, g, id=f"{a}-g{g}") for a, g in cases if (a, g) in TABLE_CASES]
            + [pytest.param(a, g, id=f"{a}-g{g}", marks=sweep) for a, g in cases if (a, g) not in TABLE_CASES])


@pytest.mark.parametrize("a, g", _table_params(TABLE_CASES + TABLE_SWEEP))
def test_symmetric_lookup_equals_full_lookup(a, g, tmp_path):
    """At every index: symmetric lookup (negated by its flag) == full lookup == Σ ±aₖ, never
    negated; sum_entry == Σ aₖ for both tables."""
    r = prove_table(parse_format(a), g, tmp_path)
    assert r.kind == "lut-table"
    _proved(r, queries=(2 << g) + 2)


def test_a_symmetric_lookup_without_its_negation_isrefuted(tmp_path):
    """LUT Tensor Core's bug: the half table read without negating. The counterexample has an
    activation that is not zero (with all zero every entry is 0 = −0)."""
    a = parse_format("int8")
    cex = refuted(prove_table(a, 3, tmp_path, sym_lookup=drop_negation))
    acts = _fields(_inputs(cex)["acts"], 8, 3, True)
    assert any(acts), cex


@pytest.mark.parametrize("g", [4, pytest.param(2, marks=sweep), pytest.param(6, marks=sweep)])
@pytest.mark.parametrize("table", ["symmetric", "full"])
def test_the_sign_plane_folds_into_the_lookup_flag(g, table, tmp_path):
    """signed_lookup (the engine's) = (−1)^sign · lookup, free entries of a 4-plane int8 engine."""
    r = prove_signed_lookup(g, table_width(parse_format("int8"), g) + 4, tmp_path, symmetric=table == "symmetric")
    assert r.kind == "lut-signed-lookup"
    _proved(r)


def test_a_signed_lookup_without_the_lookup_flag_isrefuted(tmp_path):
    cex = _inputs(refuted(prove_signed_lookup(3, 12, tmp_path, signed_lookup=drop_lookup_negation)))
    assert not cex["index"] >> 2 & 1, cex     # the top bit clear: the half table's negated side


# -- 2.-4. the planes add up to the dot product, piece by piece at full width ------------------

@pytest.mark.parametrize("a, g, table", [
    pytest.param(a, g, t, id=f"{t}-{a}-g{g}", marks=() if (a, g, t) in (("int8", 4, "symmetric"), ("uint8", 4, "full"))
                 else sweep)
    for t in ("symmetric", "full") for a in ("int8", "uint8") for g in (2, 3, 4)])
def test_plane_registers_hold_the_scaled_table(a, g, table, tmp_path):
    """4 planes (weights up to 4 bits): the register at plane i looks up 2^(i+dbl)·T[p] and
    sums to 2^(i+dbl)·S, for the plain and the doubled (bipolar) table. In make test: g = 4
    (the examples' group), int8 with the symmetric table and uint8 (the wider entries) with
    the full one; the other ten in the sweep."""
    r = prove_plane_tables(parse_format(a), g, 4, tmp_path, symmetric=table == "symmetric")
    _proved(r, queries=2 * 4 * ((1 << g) + 1))


@sweep
@pytest.mark.parametrize("a", ["int8", "uint8"])
@pytest.mark.parametrize("table", ["symmetric", "full"])
def test_plane_registers_of_an_8_plane_engine(a, table, tmp_path):
    r = prove_plane_tables(parse_format(a), 4, 8, tmp_path, symmetric=table == "symmetric")
    _proved(r, queries=2 * 8 * 17)


def test_a_register_one_bit_too_narrow_isrefuted(tmp_path):
    """table_width + planes is needed: with one bit less the doubled table's top plane
    overflows for some activations (full table; its entries reach ±g·max|a|)."""
    a = parse_format("uint8")
    r = prove_plane_tables(a, 2, 2, tmp_path, symmetric=False, margin=-1)
    acts = _fields(_inputs(refuted(r))["acts"], 8, 2, False)
    # |T[p]| ≤ a₀ + a₁, shifted by up to 2 (plane 1 of the doubled table) into 11 bits
    assert (acts[0] + acts[1]) * 4 >= 1 << (table_width(a, 2) + 2 - 1 - 1), acts


# (table width, accumulator + 1): int8 or uint8 at g = 4 with 4 planes; a 32-bit and a
# narrow wrapping accumulator
@pytest.mark.parametrize("tw, aw", [(15, 33), (15, 13)], ids=lambda v: str(v))
def test_carry_in_negation(tw, aw, tmp_path):
    _proved(prove_accumulate(tw, aw, tmp_path))


def test_a_step_without_its_carry_in_isrefuted(tmp_path):
    def no_carry(m, acc, x, n, width, name):   # the engine's step minus its carry-in: acc + ~x
        return accumulate(m, acc, x, n, width, name) - n
    cex = _inputs(refuted(prove_accumulate(12, 17, tmp_path, step=no_carry)))
    assert cex["n"] == 1, cex


ALL_FORMATS = ([f"int{b}" for b in range(2, 9)] + [f"uint{b}" for b in range(1, 9)]
               + [f"bipolar{b}" for b in range(1, 9)] + ["binary", "ternary"])


@pytest.mark.parametrize("w", ALL_FORMATS)
def test_plane_coefficients_are_twice_the_decoded_weight(w):
    """Lemma 4, exhaustive over the codes: Σᵢ (−1)^sᵢ 2^i (2^dbl(2qᵢ − 1) + off) = 2·decode(q)."""
    assert coefficient_mismatches(parse_lowbit(w)) == []


@pytest.mark.parametrize("bug, w, code", [("no-offset", "uint2", 0), ("sign-plane-added", "int4", 8),
                                          ("no-offset", "ternary", 1)])
def test_wrong_plane_coefficients_arerefuted(bug, w, code):
    fmt = parse_lowbit(w)
    bad = coefficient_mismatches(fmt, bug=bug)
    assert bad and code in [q for q, _, _ in bad], bad
    assert plane_coefficient(fmt, code, bug=bug) != 2 * int(fmt.decode(code))


# -- end to end: one group through the plane arithmetic vs plain multiplies ----------------------

#: the weight formats of the issue (binary is bipolar1); int5…8, uint5…8, bipolar5…8 run on
#: the same controls (lemma 4 covers them all) and are proved end to end in the sweep only
FORMATS = ["int2", "int3", "int4", "uint1", "uint2", "uint3", "uint4", "ternary", "binary", "bipolar2", "bipolar3",
           "bipolar4"]


@pytest.mark.parametrize("w", FORMATS)
def test_planes_equal_the_dot_product_for_every_format(w, tmp_path):
    """Every weight format, free codes and activations: int3 activations, g = 2, symmetric
    table at the width of a 4-plane engine, a 6-bit result (the dot product wraps)."""
    r = prove_planes(parse_format("int3"), parse_lowbit(w), 2, 6, tmp_path, planes=4)
    assert r.kind == "lut-planes" and r.method == "bitwuzla"
    _proved(r)


# (a, w, g, acc, table): int8/uint8 activations with 1- and 2-bit weights at g = 2 (seconds
# with Bitwuzla), both tables, exact results; g = 3 and 4, 3 and 4 planes (at int4/uint4:
# minutes each at int8) and more formats in the sweep.
PLANE_CASES = [("int8", "int2", 2, 20, "symmetric"), ("uint8", "binary", 2, 20, "symmetric"),
               ("uint8", "binary", 2, 20, "full")]
PLANE_SWEEP = [("int8", "ternary", 2, 12, "symmetric"), ("int8", "bipolar2", 2, 12, "symmetric"),
               ("int8", "uint1", 3, 12, "symmetric"), ("int8", "int2", 2, 12, "full"),
               ("uint8", "uint2", 2, 20, "symmetric"), ("int8", "bipolar2", 2, 20, "full"),
               ("int4", "int3", 2, 10, "symmetric"), ("int4", "int4", 2, 12, "symmetric"),
               ("int4", "int2", 3, 10, "symmetric"), ("uint4", "bipolar3", 2, 10, "symmetric"),
               ("uint4", "uint4", 2, 12, "full"), ("int8", "binary", 4, 14, "symmetric"),
               ("int2", "ternary", 4, 8, "symmetric")]
# the wider weights (5 … 8 planes) end to end, at int2 activations (int4 × 8-bit: minutes or more)
PLANE_SWEEP += [("int2", f"{k}{b}", 2, 12, "symmetric") for k in ("int", "uint", "bipolar") for b in range(5, 9)]


def _plane_id(c):
    return f"{c[4]}-{c[0]}x{c[1]}-g{c[2]}-acc{c[3]}"


@pytest.mark.parametrize("a, w, g, acc, table", [pytest.param(*c, id=_plane_id(c)) for c in PLANE_CASES]
                         + [pytest.param(*c, id=_plane_id(c), marks=sweep) for c in PLANE_SWEEP])
def test_planes_equal_the_dot_product(a, w, g, acc, table, tmp_path):
    """X + O is even and (X + O) >> 1 ≡ Σₖ aₖ·decode(qₖ) (mod 2^acc), free codes."""
    r = prove_planes(parse_format(a), parse_lowbit(w), g, acc, tmp_path, symmetric=table == "symmetric")
    assert r.kind == "lut-planes" and r.method == "bitwuzla"
    _proved(r)


@pytest.mark.parametrize("bug, w", [("no-negation", "int2"), ("no-offset", "uint2"), ("sign-plane-added", "int2")])
def test_wrong_plane_arithmetic_isrefuted(bug, w, tmp_path):
    """Each bug has a counterexample whose activations and codes really give a different dot
    product (recomputed here from the counterexample)."""
    a, fmt = parse_format("int8"), parse_lowbit(w)
    cex = _inputs(refuted(prove_planes(a, fmt, 2, 20, tmp_path, bug=bug)))
    acts = _fields(cex["acts"], 8, 2, True)
    codes = _fields(cex["codes"], fmt.bits, 2, False)
    assert any(acts), cex
    if bug == "no-negation":    # some plane's index has its top bit (weight g − 1's bit) clear
        assert any(not (codes[-1] >> i & 1) for i in range(fmt.bits)), codes
    else:
        assert any(plane_coefficient(fmt, q, bug=bug) != 2 * int(fmt.decode(q)) for q in codes), codes


# -- the whole engine: bounded model checking ----------------------------------------------------

def _engine(rows, cols, a, table, planes=2, g=2):
    fa = parse_format(a)
    return ArrayConfig(rows=rows, cols=cols, kind="lut", depth=g, table=table,
                       pe=PEConfig(a=fa, w=parse_format(f"int{planes}"), acc=fa.bits + planes))


def test_the_engine_runs_every_format_of_its_planes():
    assert [str(f) for f in run_time_formats(2)] == ["int2", "uint1", "uint2", "binary", "bipolar2"]


# (rows, cols, a, table, stalls, planes): two tiles of one group, g = 2, acc = a.bits + planes
# (the sum of two products wraps). Free format (every format of up to ``planes`` planes), free
# gaps and back-pressure. With stalls, 3 planes take minutes and 4 planes do not finish in 10.
ENGINE_CASES = [(1, 2, "int2", "symmetric", True, 2), (1, 2, "uint2", "full", True, 2),
                (1, 2, "int2", "symmetric", False, 2)]
ENGINE_SWEEP = [(2, 2, "int2", "symmetric", True, 2), (2, 2, "uint2", "full", True, 2),
                (1, 2, "int3", "symmetric", True, 2), (2, 2, "int3", "symmetric", False, 2),
                (1, 2, "int2", "symmetric", False, 3), (1, 2, "int2", "symmetric", True, 3),
                (1, 2, "int2", "symmetric", False, 4)]


def _engine_id(c):
    return f"{c[3]}-{c[0]}x{c[1]}-{c[2]}-g2-w{c[5]}" + ("-stalls" if c[4] else "")


@pytest.mark.parametrize("rows, cols, a, table, stalls, planes",
                         [pytest.param(*c, id=_engine_id(c)) for c in ENGINE_CASES]
                         + [pytest.param(*c, id=_engine_id(c), marks=sweep) for c in ENGINE_SWEEP])
def test_lut_engine_is_exact(rows, cols, a, table, stalls, planes, tmp_path):
    """Every row that leaves is Σ a·decode(q) wrapped, in order, for every run-time format;
    without stalls all rows by the latency bound."""
    cfg = _engine(rows, cols, a, table, planes=planes)
    bound = lut_bound(cfg)
    r = prove_lut_engine(cfg, tmp_path, stalls=stalls, timeout=1200)
    assert r.kind == f"engine-bmc{bound}"
    _proved(r)
    text = r.log.read_text()
    assert "SAT proof finished - no model found: SUCCESS!" in text
    assert f"Setting up time step {bound}:" in text


@sweep
def test_lut_engine_two_groups_and_a_longer_bound(tmp_path):
    """One tile of two groups (the accumulators carry across groups), and stalls over 4 more cycles."""
    cfg = _engine(2, 1, "int2", "symmetric")
    _proved(prove_lut_engine(cfg, tmp_path, tiles=1, groups=2, stalls=False))
    _proved(prove_lut_engine(cfg, tmp_path, tiles=2, stalls=True, bound=lut_bound(cfg) + 4))


@pytest.mark.parametrize("wrong", ["value", "latency"])
def test_a_wrong_engine_claim_isrefuted(wrong, tmp_path):
    """Not vacuous: expecting the sum + 1, or all rows one cycle before the bound."""
    cfg = _engine(1, 2, "int2", "symmetric")
    kw = {"offset": 1} if wrong == "value" else {"bound": lut_bound(cfg) - 1}
    r = prove_lut_engine(cfg, tmp_path, stalls=False, **kw)
    assert not r.proved
    assert "model found: FAIL" in r.log.read_text()
    assert "Time Signal Name" in r.counterexample


def test_an_engine_with_a_wrong_lookup_isrefuted(tmp_path, monkeypatch):
    """The real engine, built with a symmetric lookup that drops its negation (patched into
    hwgen.arrays.lut, the engine otherwise unchanged): its rows are wrong for some operands."""
    monkeypatch.setattr(hwgen.arrays.lut, "signed_lookup", drop_lookup_negation)
    cfg = _engine(1, 2, "int2", "symmetric")
    r = prove_lut_engine(cfg, tmp_path, stalls=False)
    assert not r.proved
    assert "model found: FAIL" in r.log.read_text()


def test_the_lut_bound_follows_the_engine_latency():
    cfg = _engine(2, 2, "int2", "symmetric")    # 2 beats a tile, spaced by max(2, rows = 2)
    assert lut_bound(cfg) == 2 + 2 + ROW_LATENCY + 2
    assert lut_bound(_engine(3, 2, "int2", "symmetric"), tiles=3) == 2 + 3 + 3 + ROW_LATENCY + 3


def test_the_engine_miter_checks_its_config():
    with pytest.raises(ValueError, match="needs a lut engine"):
        prove_lut_engine(ArrayConfig(rows=1, cols=1, kind="bit_serial", pe=PEConfig(a=parse_format("int2"),
                                                                                     w=parse_format("int2"), acc=6)),
                         None)
