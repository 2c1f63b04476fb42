"""Formal equivalence (yosys SAT) of PE arithmetic rewrites against the plain MAC, and
bounded proofs of the bit-serial engines against the exact result."""
import re

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.config import ArrayConfig, PEConfig
from hwgen.formal import ProofResult, prove, prove_arith, prove_dot
from hwgen.formal_engines import bit_serial_bound, prove_bit_serial
from hwgen.numerics import Format, parse_format

# Every signedness combination, a signed weight's negative top bit, several accumulator
# widths (including one narrower than the sum of K products, so wrap-around matters).
FORMATS = [("int4", "int4", 12), ("uint4", "int3", 10), ("int8", "int2", 16),
           ("int3", "uint4", 9), ("uint3", "uint3", 8), ("int2", "int8", 11)]


@pytest.mark.parametrize("a, w, acc", FORMATS, ids=lambda v: str(v))
def test_carry_save_equals_mac(a, w, acc, tmp_path):
    pe = PEConfig(a=parse_format(a), w=parse_format(w), acc=acc, arith="carry_save")
    results = prove_arith(pe, tmp_path, timeout=600)
    assert [r.kind for r in results] == ["step", "pe-induction"]
    for r in results:
        assert r.proved, f"{r.kind} proof failed; log {r.log}\n{r.counterexample}"
    assert "Induction step proven: SUCCESS!" in results[1].log.read_text()
    assert "SAT proof finished - no model found: SUCCESS!" in results[0].log.read_text()


class _Wrong(wiring.Component):
    """A 'rewrite' that is off by one for a=3, w=5: the prover must find exactly that."""
    a: In(4)
    w: In(4)
    ok: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.ok.eq(self.a * self.w == self.a * self.w + ((self.a == 3) & (self.w == 5)))
        return m


def test_a_wrong_rewrite_is_refuted(tmp_path):
    r = prove(_Wrong(), tmp_path, name="wrong")
    assert isinstance(r, ProofResult) and not r.proved
    text = r.log.read_text()
    assert "model found" in text and "FAIL" in text


# -- dot-product units (cube / matrix2d / adder-tree engines) ---------------------------------

# (depth, a, w, acc): every signedness pair, depth 2 and 3; each proof takes a few seconds
# (int4×int4 at depth 2 already takes ~40 s, so the widest operand pairs are 4×3).
DOT_CASES = {
    "compressor_tree": [(2, "int4", "int3", 12), (2, "uint3", "int4", 10), (3, "int2", "uint3", 9),
                        (3, "uint2", "uint3", 8), (3, "int3", "int2", 12)],
    "carry_save": [(2, "int4", "int2", 12), (2, "uint3", "int3", 11), (3, "int2", "uint3", 11),
                   (3, "uint2", "uint3", 12)],
}


@pytest.mark.parametrize("arith, depth, a, w, acc", [
    pytest.param(arith, *case, id=f"{arith}-d{case[0]}-{case[1]}x{case[2]}-acc{case[3]}")
    for arith, cases in DOT_CASES.items() for case in cases])
def test_dot_step_equals_mac(arith, depth, a, w, acc, tmp_path):
    """compressor_tree: the same accumulator word as the plain dot step, for every accumulator
    and operands; carry_save: the induction step (resolve after == plain step from resolve)."""
    pe = PEConfig(a=parse_format(a), w=parse_format(w), acc=acc, arith=arith)
    r = prove_dot(pe, depth, tmp_path, timeout=600)
    assert r.kind == "dot-step"
    assert r.proved, f"{arith} dot step differs from mac; log {r.log}\n{r.counterexample}"
    assert "SAT proof finished - no model found: SUCCESS!" in r.log.read_text()


def _value(table: str, signal: str) -> int:
    """A signal's value in a counterexample table (combinational: name, dec, hex, bin)."""
    m = re.search(rf"^\s*\\{signal}\s+\S+\s+\S+\s+([01]+)\s*$", table, re.M)
    assert m, f"{signal} not in counterexample:\n{table}"
    return int(m.group(1), 2)


@pytest.mark.parametrize("arith, flip", [("compressor_tree", "w"), ("carry_save", "a")])
def test_dot_step_against_a_wrong_reference_is_refuted(arith, flip, tmp_path):
    """The reference reads one operand with the wrong signedness: the prover must find a
    counterexample, and it can only be one where that operand's top bit is set."""
    pe = PEConfig(a=parse_format("int3"), w=parse_format("int2"), acc=10, arith=arith)
    fmt = getattr(pe, flip)
    ref = PEConfig(**{"a": pe.a, "w": pe.w, flip: Format(fmt.bits, signed=False)}, acc=pe.acc)
    r = prove_dot(pe, 2, tmp_path, ref=ref)
    assert not r.proved
    assert "model found: FAIL" in r.log.read_text()
    tops = sum(1 << (fmt.bits * d + fmt.bits - 1) for d in range(2))
    assert _value(r.counterexample, flip) & tops, r.counterexample


# -- bit-serial engines: bounded proofs of the whole engine -----------------------------------

# (arith, rows, cols, a, w): one R×C tile of K = 2 steps, acc 12 bits. Each signedness pair
# for each arithmetic; 1×1 at int4×int4, the column-shared digit sequencer at 2×1 and 2×2.
ENGINE_CASES = [
    ("sparse_serial", 1, 1, "int4", "int4"), ("sparse_serial", 2, 1, "int4", "int3"),
    ("sparse_serial", 2, 2, "uint2", "int3"), ("sparse_serial", 1, 2, "int3", "uint3"),
    ("sparse_serial", 2, 1, "uint3", "uint2"),
    ("mac", 1, 1, "int4", "int4"), ("mac", 1, 2, "int4", "int3"), ("mac", 2, 2, "int2", "uint3"),
    ("mac", 2, 1, "uint3", "uint2"), ("mac", 2, 2, "uint2", "int3"),
]


def _bit_serial(arith, rows, cols, a, w, acc=12):
    return ArrayConfig(rows=rows, cols=cols, kind="bit_serial",
                       pe=PEConfig(a=parse_format(a), w=parse_format(w), acc=acc, arith=arith))


@pytest.mark.parametrize("arith, rows, cols, a, w", [
    pytest.param(*case, id=f"{case[0]}-{case[1]}x{case[2]}-{case[3]}x{case[4]}") for case in ENGINE_CASES])
def test_bit_serial_engine_is_exact(arith, rows, cols, a, w, tmp_path):
    """For every tile, every result beat is Σ_k a·w (wrapped), rows in order, all by the
    worst-case latency."""
    cfg = _bit_serial(arith, rows, cols, a, w)
    bound = bit_serial_bound(cfg, 2)
    r = prove_bit_serial(cfg, tmp_path, timeout=600)
    assert r.kind == f"engine-bmc{bound}"
    assert r.proved, f"bit-serial {arith} engine wrong; log {r.log}\n{r.counterexample}"
    text = r.log.read_text()
    assert "SAT proof finished - no model found: SUCCESS!" in text
    assert f"Setting up time step {bound}:" in text


@pytest.mark.parametrize("arith, rows, cols, a, w", [("sparse_serial", 2, 1, "uint3", "int3"),
                                                     ("mac", 2, 2, "int2", "uint3")])
@pytest.mark.parametrize("wrong", ["value", "latency"])
def test_bit_serial_wrong_claim_is_refuted(arith, rows, cols, a, w, wrong, tmp_path):
    """Not vacuous: expecting sum + 1, or all rows one cycle before the worst-case latency,
    has a counterexample."""
    cfg = _bit_serial(arith, rows, cols, a, w)
    kw = {"offset": 1} if wrong == "value" else {"bound": bit_serial_bound(cfg, 2) - 1}
    r = prove_bit_serial(cfg, tmp_path, **kw)
    assert not r.proved
    assert "model found: FAIL" in r.log.read_text()
    assert "Time Signal Name" in r.counterexample
