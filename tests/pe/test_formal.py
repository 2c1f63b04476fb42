"""Formal equivalence (yosys SAT) of PE arithmetic rewrites against the plain MAC."""
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.config import PEConfig
from hwgen.formal import ProofResult, prove, prove_arith
from hwgen.numerics import parse_format

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
