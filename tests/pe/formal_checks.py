"""Checks on a proof's result shared by the formal tests of tests/pe/."""


def refuted(r):
    """``r`` (a ProofResult) is a refutation with a counterexample, in the prover's own words;
    returns the counterexample."""
    assert not r.proved
    assert r.counterexample, r.log.read_text()[-2000:]
    text = r.log.read_text()
    assert ("model found: FAIL" in text) if r.method == "yosys-sat" else ("FAIL: counterexample" in text)
    return r.counterexample
