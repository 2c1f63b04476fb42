"""The carry-save and compressor-tree PEs equal the plain MAC at full width (int8×int8 …),
proven piece by piece (hwgen.formal.parts), and every piece refutes a broken generator."""
import re

import pytest
from amaranth.hdl import Cat, Const, Signal

from hwgen.config import PEConfig
from hwgen.formal.parts import (AbstractPEMiter, AddNodeLemma, BoothLemma, CsaLemma, PartialProductLemma, TermRowLemma,
                                TreeLemma, dot_shapes, mac_node_widths, pe_rows, prove_dot_parts, prove_pe_parts)
from hwgen.formal.sat import PEMiter, StepMiter, prove
from hwgen.formal.smt import prove_smt
from hwgen.numerics import parse_format
from hwgen.pe.compress import compress, csa, partial_products
from hwgen.pe.dot import Term, add_node, booth_terms, rows_from_terms
from test_formal import _Wrong   # a 'rewrite' off by one for a=3, w=5 only (tests/pe/test_formal.py)
from formal_checks import refuted


def _pe(a, w, acc, arith):
    return PEConfig(a=parse_format(a), w=parse_format(w), acc=acc, arith=arith)


def _assert_proved(results, kinds):
    assert [r.kind for r in results] == kinds
    for r in results:
        assert r.proved, f"{r.kind} ({r.method}) failed; log {r.log}\n{r.counterexample}"
        text = r.log.read_text()
        if r.method == "bitwuzla":
            assert text.rstrip().endswith("PROVED") and ": unsat" in text, text
        else:
            assert "SAT proof finished - no model found: SUCCESS!" in text


# Each signedness pair at int8, the examples' 32-bit accumulator and narrow ones where the
# sum of products wraps (a product is 16 bits, 17 for uint8×uint8).
PE_CASES = [("int8", "int8", 32), ("uint8", "int8", 16), ("int8", "uint8", 20), ("uint8", "uint8", 17)]


@pytest.mark.parametrize("a, w, acc", PE_CASES, ids=lambda v: str(v))
def test_carry_save_pe_int8_by_parts(a, w, acc, tmp_path):
    """The carry-save systolic PE: its step (csa, tree, partial products) and the whole PE
    (k-induction over both PEs with the step abstracted)."""
    results = prove_pe_parts(_pe(a, w, acc, "carry_save"), tmp_path, timeout=300)
    _assert_proved(results, ["csa", "tree", "partial-products", "pe-induction"])
    assert "induction step k=1: unsat" in results[-1].log.read_text()


# (arith, depth, a, w, acc): the cube example (int8×int8, depth 4, acc 32), the adder-tree
# example (int8×int4, 16 rows, acc 24), depth 2 and 8, each signedness pair, narrow sums.
DOT_CASES = [
    ("compressor_tree", 2, "int8", "int8", 32), ("compressor_tree", 4, "int8", "int8", 32),
    ("compressor_tree", 4, "uint8", "int8", 17), ("compressor_tree", 8, "int8", "uint8", 20),
    ("compressor_tree", 4, "uint8", "uint8", 18), ("compressor_tree", 16, "int8", "int4", 24),
    ("carry_save", 2, "int8", "int8", 32), ("carry_save", 4, "int8", "int8", 32),
    ("carry_save", 8, "uint8", "int8", 18),
]


@pytest.mark.parametrize("arith, depth, a, w, acc", [
    pytest.param(*c, id=f"{c[0]}-d{c[1]}-{c[2]}x{c[3]}-acc{c[4]}") for c in DOT_CASES])
def test_dot_step_int8_by_parts(arith, depth, a, w, acc, tmp_path):
    results = prove_dot_parts(_pe(a, w, acc, arith), depth, tmp_path, timeout=300)
    _assert_proved(results, ["csa", "tree", "term-rows", "booth", "add-node", "mac-ref"])


# -- every lemma refutes a broken generator (int8, the widths above) -------------------------

def test_a_carry_not_shifted_isrefuted(tmp_path):
    def bad_csa(m, x, y, z, width, name="csa"):
        s, c = Signal(width, name=f"{name}_s"), Signal(width, name=f"{name}_c")
        m.d.comb += [s.eq(x ^ y ^ z), c.eq((x & y) | (x & z) | (y & z))]
        return s, c
    refuted(prove(CsaLemma(32, node=bad_csa), tmp_path, name="bad_csa"))


def test_a_tree_that_drops_a_leftover_row_isrefuted(tmp_path):
    """compress with the leftover rows of a level lost when there is one (k % 3 == 1)."""
    def bad_tree(m, rows, width, name="cmp", *, node=csa):
        rows = [Cat(r, Const(0, width - len(r))) if len(r) < width else r[:width] for r in rows]
        while len(rows) > 2:
            nxt = []
            for i in range(0, len(rows) - 2, 3):
                nxt.extend(node(m, rows[i], rows[i + 1], rows[i + 2], width, name=f"{name}_{len(rows)}_{i}"))
            nxt.extend(rows[len(rows) - len(rows) % 3:] if len(rows) % 3 == 2 else [])
            rows = nxt
        return rows[0], rows[1]
    pe = _pe("int8", "int8", 32, "compressor_tree")
    refuted(prove_smt(TreeLemma(dot_shapes(pe, 4)[1], 32, tree=bad_tree), tmp_path, name="bad_tree"))
    # the real tree on the same rows is proven (the difference is the bug)
    assert prove_smt(TreeLemma(dot_shapes(pe, 4)[1], 32), tmp_path, name="good_tree").proved


@pytest.mark.parametrize("digit, bit", [(0, 0), (2, 5), (3, 9)])
def test_a_flipped_booth_row_bit_isrefuted(digit, bit, tmp_path):
    def flipped(m, a, a_fmt, w, w_fmt, name):
        ts = booth_terms(m, a, a_fmt, w, w_fmt, name)
        t = ts[digit]
        ts[digit] = Term(t.value ^ (1 << bit), t.signed, t.shift)
        return ts
    refuted(prove(BoothLemma(parse_format("int8"), parse_format("int8"), terms=flipped), tmp_path,
                   name=f"bad_booth_{digit}_{bit}"))


def test_a_flipped_partial_product_bit_isrefuted(tmp_path):
    def flipped(a, a_fmt, w, w_fmt, width):
        rows = partial_products(a, a_fmt, w, w_fmt, width)
        rows[5] = rows[5] ^ (1 << 12)
        return rows
    refuted(prove(PartialProductLemma(parse_format("int8"), parse_format("int8"), 32, rows=flipped), tmp_path,
                   name="bad_pp"))


def test_rows_without_the_sign_inversion_arerefuted(tmp_path):
    pe = _pe("int8", "int8", 32, "compressor_tree")
    unsigned = lambda terms, width: rows_from_terms([Term(t.value, False, t.shift) for t in terms], width)  # noqa: E731
    # no constant row at all: caught before the solver
    with pytest.raises(ValueError, match="gave 10 rows, expected 11: one per term below bit 32 and the constant row"):
        prove(TermRowLemma(dot_shapes(pe, 2)[0], 32, rows=unsigned), tmp_path, name="no_const")

    def no_inversion(terms, width):                     # the constant row, but the top bits not inverted
        rows = rows_from_terms(terms, width)
        return [rows_from_terms([Term(t.value, False, t.shift)], width)[0] for t in terms] + rows[-1:]
    refuted(prove(TermRowLemma(dot_shapes(pe, 2)[0], 32, rows=no_inversion), tmp_path, name="bad_rows"))


def test_a_narrow_adder_in_the_mac_tree_isrefuted(tmp_path):
    def narrow(m, x, y, name):
        s = Signal(x.shape() if len(x) >= len(y) else y.shape(), name=name)
        m.d.comb += s.eq(x + y)
        return s
    pairs = mac_node_widths(_pe("int8", "int8", 32, "compressor_tree"), 4)
    assert prove(AddNodeLemma(pairs), tmp_path, name="good_add").proved
    refuted(prove(AddNodeLemma(pairs, node=narrow), tmp_path, name="bad_add"))


def test_a_carry_save_pe_off_by_one_isrefuted(tmp_path):
    """The whole-PE induction is not vacuous: a step one too large fails from reset."""
    r = prove_smt(AbstractPEMiter(_pe("int8", "int8", 32, "carry_save"), offset=1), tmp_path, name="bad_pe", steps=0)
    table = refuted(r)
    assert "base case k=2: sat" in r.log.read_text()
    assert "Time" in table and "\\v" in table


def test_the_row_counts_are_the_generators():
    """The lemmas see the rows the engines compress: 8 partial-product rows + 1 (the signed
    weight's +1) + s, c for int8×int8; per product 4 Booth rows + 1 negation row."""
    pe = _pe("int8", "int8", 32, "carry_save")
    assert pe_rows(pe) == [32] * 11
    shapes, widths = dot_shapes(_pe("int8", "int8", 32, "compressor_tree"), 2)
    assert [(s[1], s[2]) for s in shapes] == [(True, 0), (True, 2), (True, 4), (True, 6), (False, 0)] * 2
    assert len(widths) == 10 + 1 + 1  # term rows, the constant row, the accumulator


def test_the_smt_flow_agrees_with_sat_end_to_end(tmp_path):
    """Bitwuzla on the end-to-end miters at a small width: the step, the whole PE by
    k-induction, and a wrong claim refuted with the inputs that show it."""
    pe = _pe("int3", "uint3", 9, "carry_save")
    assert prove_smt(StepMiter(pe), tmp_path, name="step").proved
    r = prove_smt(PEMiter(pe), tmp_path, name="pe", steps=0)
    assert r.proved and "induction step k=1: unsat" in r.log.read_text()
    table = refuted(prove_smt(_Wrong(), tmp_path, name="wrong"))
    values = dict(re.findall(r"^\s*\\(\w+)\s+\S+\s+\S+\s+([01]+)$", table, re.M))
    assert (int(values["a"], 2), int(values["w"], 2)) == (3, 5), table
