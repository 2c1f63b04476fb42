"""Equivalence of the carry-save and compressor-tree PEs with the plain MAC at full width
(int8×int8 and wider), proven piece by piece.

One SAT or SMT query over a whole 8×8-bit rewritten step is a multiplier-equivalence problem
and does not finish in minutes (measured: ``bench/formal_widths.py``). The rewrites are
built from a few generator functions, though, and each of them has a small, multiplier-free
contract that a solver proves in seconds on *the generator's own output* (the functions the
engines call, with free inputs at the cut points). The contracts chain to the whole step by
a short argument, written out here. Every congruence is modulo ``2**W`` with ``W = pe.acc``;
``val(t)`` is a term's value (two's complement if signed).

Lemmas (the class proving each; all combinational, every input free):

1. **csa** (:class:`CsaLemma`): one 3:2 node :func:`~hwgen.pe.compress.csa` at width W gives
   ``s + c ≡ x + y + z``.
2. **tree** (:class:`TreeLemma`): :func:`~hwgen.pe.compress.compress` over rows of the real
   rows' widths, each of its ``k - 2`` nodes replaced by "``s`` free, ``c = x + y + z - s``",
   gives ``s + c ≡ Σ rows``. By (1) every real node is one of these (take ``s`` = its sum
   word), so the real tree adds up its rows too. This is the "sum of free rows" argument
   with a cut at every node; Bitwuzla proves it by word-level normalization (yosys SAT does
   not finish at 32 bits and 11 rows).
3. **partial-products** (:class:`PartialProductLemma`, the carry-save systolic PE): the rows
   of :func:`~hwgen.pe.compress.partial_products` are, one bit of ``w`` each,
   ``row_i ≡ a·w_i·2^i`` (the signed top bit's row plus its ``+1`` row ``≡ -a·w_{n-1}·2^{n-1}``),
   and ``w = Σ_i ±w_i·2^i``.
4. **booth** (:class:`BoothLemma`): the terms of :func:`~hwgen.pe.dot.booth_terms` are one
   row per radix-4 digit, ``val(row_i) + w'_{2i+1} = d_i·a`` exactly, with the digit
   ``d_i = w'_{2i} + w'_{2i-1} - 2·w'_{2i+1}`` read from the bits ``w'`` of ``w``
   sign-extended, plus one row of the negations ``= Σ_i w'_{2i+1}·4^i``; and the recoding
   identity ``Σ_i d_i·4^i = w`` (which also shows there are enough digits).
5. **term-rows** (:class:`TermRowLemma`): :func:`~hwgen.pe.dot.rows_from_terms` gives one row
   per term below bit W, ``row_t ≡ (val(t) + [t signed]·2^(k_t-1))·2^shift_t``, then the
   constant row ``≡ -Σ_t [t signed]·2^(k_t-1+shift_t)`` (sign-bit inversion).
6. **mac-ref**, the reference side: the plain ``mac`` dot step is its exact products
   ``p_d = a_d·w_d`` (signals of the product's full width) fed to
   :func:`~hwgen.pe.dot.mac_sum`; (a) **add-node** (:class:`AddNodeLemma`): each adder of
   its tree (:func:`~hwgen.pe.dot.add_node`) is exact at the widths the tree uses; (b)
   (:class:`DotRefLemma`): with each adder replaced by its sum mod ``2^W`` (equal mod
   ``2^W`` by (a), and everything after it is mod ``2^W``), ``mac_sum ≡ acc + Σ_d p_d``.

Chains (the glue is the few lines of the generator that call the pieces):

* carry-save step (``mac_step``: ``(s', c') = compress(partial_products(a, w) ++ [s, c])``):
  ``s' + c' ≡ Σ rows + s + c`` (1, 2) ``≡ Σ_i ±a·w_i·2^i + s + c`` (3)
  ``= a·w + resolve(s, c)`` (3, distributivity), which is the plain MAC step from the
  resolved accumulator — the induction step of :class:`~hwgen.formal.sat.StepMiter`.
* whole carry-save PE (:class:`AbstractPEMiter`, k-induction): both output-stationary PEs,
  their control and registers as generated, with the step replaced by what the step
  lemma guarantees (a shared free product ``p`` for ``a·w``: the plain PE adds it, the
  carry-save PE's next words are any pair ``(x, s + c + p - x)``). Every run of the real
  pair is a run of this one (``p = a·w``, ``x`` = the real sum word), so the resolved
  accumulator and hold registers agree in every reachable state.
* dot step (``dot_step``: ``compress(rows_from_terms(dot_terms(a, w)) ++ acc)``, then
  ``s + c`` for ``compressor_tree``, ``(s, c)`` kept for ``carry_save``): the outputs
  sum to ``Σ rows + acc`` (1, 2) ``≡ Σ_t val(t)·2^shift_t + acc`` (5)
  ``= Σ_d Σ_i 4^i·(val(row_i) + w'_{2i+1}) + acc = Σ_d Σ_i 4^i·d_i·a_d + acc`` (4)
  ``= Σ_d a_d·w_d + acc`` (4: recoding, distributivity) ``≡ dot_step(mac)(acc, a, w)`` (6).
  One Booth lemma covers every product: all ``depth`` of them are the same call.

What stays informal is distributivity (``Σ_i a·x_i = a·Σ_i x_i``) and the generator
glue above; the end-to-end proofs of :mod:`hwgen.formal.sat` check the same glue at small
widths without any decomposition.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import PEConfig
from ..numerics import Format
from ..pe.compress import compress, csa, partial_products
from ..pe.dot import (Term, add_node, adder_tree, booth_digits, booth_terms, dot_rows, dot_terms, mac_sum,
                      rows_from_terms)
from ..pe.mac import OSMacPE, accumulate, operand_shape, resolve, words
from .sat import ProofResult, prove
from .smt import prove_smt

__all__ = ["CsaLemma", "TreeLemma", "PartialProductLemma", "BoothLemma", "TermRowLemma", "AddNodeLemma", "DotRefLemma",
           "AbstractPEMiter", "pe_rows", "dot_shapes", "mac_node_widths", "prove_pe_parts", "prove_dot_parts"]


def _obligations(m: Module, ok: Signal, conds: list) -> None:
    """``ok`` is the vector of ``conds``, each proven by its own query (see :func:`~hwgen.formal.sat.prove`)."""
    if len(conds) != len(ok):
        raise ValueError(f"{len(conds)} obligations for a {len(ok)}-bit ok")
    m.d.comb += ok.eq(Cat(*conds))


def _congruent(x, y, width: int):
    """``x ≡ y (mod 2**width)`` for Amaranth values of any widths."""
    return (x - y)[:width] == 0


def _scratch() -> Module:
    """A module to run a generator in only for the shapes of what it returns."""
    m = Module()
    m._MustUse__silence = True
    return m


def pe_rows(pe: PEConfig) -> list[int]:
    """Widths of the rows the carry-save PE step compresses (partial products, then s and c)."""
    a, w = Signal(operand_shape(pe.a)), Signal(operand_shape(pe.w))
    return [len(r) for r in partial_products(a, pe.a, w, pe.w, pe.acc)] + [pe.acc, pe.acc]


def dot_shapes(pe: PEConfig, depth: int) -> tuple[list[tuple[int, bool, int]], list[int]]:
    """The terms ``(width, signed, shift)`` of a ``depth``-wide dot step, and the widths of the
    rows its compressor tree reduces (with the accumulator's ``words(pe)`` words)."""
    m = _scratch()
    a = [Signal(operand_shape(pe.a)) for _ in range(depth)]
    w = [Signal(operand_shape(pe.w)) for _ in range(depth)]
    terms = dot_terms(m, pe, a, w, "dot")
    acc = [Signal(signed(pe.acc)) for _ in range(words(pe))]
    return [(len(t.value), t.signed, t.shift) for t in terms], [len(r) for r in dot_rows(pe, acc, terms)]


class CsaLemma(wiring.Component):
    """(1) ``s + c ≡ x + y + z (mod 2**width)`` for ``(s, c) = node(x, y, z)`` (default: the real
    :func:`~hwgen.pe.compress.csa`)."""

    def __init__(self, width: int, *, node=csa):
        self.width, self.node = width, node
        super().__init__({"x": In(width), "y": In(width), "z": In(width), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        s, c = self.node(m, self.x, self.y, self.z, self.width)
        m.d.comb += self.ok.eq(_congruent(s + c, self.x + self.y + self.z, self.width))
        return m


class TreeLemma(wiring.Component):
    """(2) ``compress`` over free rows of ``widths``, every 3:2 node abstracted to (``s`` =
    ``split[j]``, ``c = x + y + z - s``), sums to the rows' sum (mod ``2**width``)."""

    def __init__(self, widths: list[int], width: int, *, tree=compress):
        self.widths, self.width, self.tree = list(widths), width, tree
        self.nodes = max(0, len(widths) - 2)
        super().__init__({"rows": In(sum(widths)), "split": In(max(1, self.nodes * width)), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        W, rows, o = self.width, [], 0
        for k in self.widths:
            rows.append(self.rows[o:o + k])
            o += k
        used = []

        def node(m, x, y, z, width, name="csa"):
            j = len(used)
            used.append(name)
            if j >= self.nodes:
                raise ValueError(f"compress used more than {self.nodes} nodes for {len(rows)} rows")
            s, c = Signal(width, name=f"{name}_s"), Signal(width, name=f"{name}_c")
            m.d.comb += [s.eq(self.split[j * W:(j + 1) * W]), c.eq(x + y + z - s)]
            return s, c

        s, c = self.tree(m, rows, W, node=node)
        # the rows' sum as one chain of W-bit adders (Bitwuzla normalizes a same-width chain;
        # with Amaranth's growing widths every sum is a different sort and it does not)
        padded = [Cat(r, Const(0, W - len(r))) if len(r) < W else r[:W] for r in rows]
        total = Signal(W, name="total")
        m.d.comb += total.eq(padded[0])
        for j, r in enumerate(padded[1:]):
            nxt = Signal(W, name=f"total{j}")
            m.d.comb += nxt.eq(total + r)
            total = nxt
        m.d.comb += self.ok.eq((s + c)[:W] == total)
        return m


class PartialProductLemma(wiring.Component):
    """(3) Each row of :func:`~hwgen.pe.compress.partial_products` is ``a·w_i·2^i`` (mod
    ``2**width``); a signed ``w``'s top row and the ``+1`` row after it add to
    ``-a·w_{n-1}·2^{n-1}``; and ``w = Σ_i ±w_i·2^i``."""

    def __init__(self, a: Format, w: Format, width: int, *, rows=partial_products):
        self.a_fmt, self.w_fmt, self.width, self._rows = a, w, width, rows
        super().__init__({"a": In(operand_shape(a)), "w": In(operand_shape(w)), "ok": Out(w.bits + 1)})

    def elaborate(self, platform):
        m = Module()
        W, n, sw = self.width, self.w_fmt.bits, self.w_fmt.signed
        rows = self._rows(self.a, self.a_fmt, self.w, self.w_fmt, W)
        if len(rows) != n + sw:
            raise ValueError(f"partial_products gave {len(rows)} rows for a {self.w_fmt} weight, expected {n + sw}")
        conds, weight = [], 0
        for i in range(n):
            term = Mux(self.w[i], self.a, 0) << i           # a·w_i·2^i, exact
            if sw and i == n - 1:
                conds.append(_congruent(rows[i] + rows[n], -term, W))
                weight = weight - (self.w[i] << i)
            else:
                conds.append(_congruent(rows[i], term, W))
                weight = weight + (self.w[i] << i)
        conds.append(weight == self.w)
        _obligations(m, self.ok, conds)
        return m


class BoothLemma(wiring.Component):
    """(4) The radix-4 Booth terms of one product ``a·w`` (:func:`~hwgen.pe.dot.booth_terms`):
    per digit ``val(row_i) + w'_{2i+1} == d_i·a``, the negation row ``== Σ_i w'_{2i+1}·4^i``,
    and ``Σ_i d_i·4^i == w`` (all exact)."""

    def __init__(self, a: Format, w: Format, *, terms=booth_terms):
        self.a_fmt, self.w_fmt, self._terms = a, w, terms
        self.digits = len(booth_digits(Signal(operand_shape(w)), w))
        super().__init__({"a": In(operand_shape(a)), "w": In(operand_shape(w)), "ok": Out(self.digits + 2)})

    def elaborate(self, platform):
        m = Module()
        ts = self._terms(m, self.a, self.a_fmt, self.w, self.w_fmt, "pp")
        n = len(ts) - 1                                     # digits
        shape = [(t.signed, t.shift) for t in ts]
        if shape != [(True, 2 * i) for i in range(n)] + [(False, 0)]:
            raise ValueError(f"booth_terms: unexpected term layout {shape}")
        wx = Signal(signed(2 * n + 1), name="w_ext")        # w's two's-complement bits w'
        m.d.comb += wx.eq(self.w)
        conds, negs, recoded = [], 0, 0
        for i in range(n):
            lo = wx[2 * i - 1] if i else 0
            d = Signal(signed(3), name=f"digit{i}")
            m.d.comb += d.eq(wx[2 * i] + lo - 2 * wx[2 * i + 1])
            conds.append(ts[i].value.as_signed() + wx[2 * i + 1] == d * self.a)
            negs = negs + (wx[2 * i + 1] << 2 * i)
            recoded = recoded + (d << 2 * i)
        conds += [ts[n].value.as_unsigned() == negs, recoded == self.w]
        _obligations(m, self.ok, conds)
        return m


class TermRowLemma(wiring.Component):
    """(5) :func:`~hwgen.pe.dot.rows_from_terms` on free terms of ``shapes`` (width, signed,
    shift): one row per term below bit ``width`` with ``row ≡ (val + [signed]·2^(k-1))·2^shift``,
    then the constant row ``≡ -Σ [signed]·2^(k-1+shift)`` (mod ``2**width``)."""

    def __init__(self, shapes: list[tuple[int, bool, int]], width: int, *, rows=rows_from_terms):
        self.shapes, self.width, self._rows = list(shapes), width, rows
        self.const = -sum(1 << (k - 1 + sh) for k, sg, sh in shapes if sg) % (1 << width)
        n = sum(sh < width for _, _, sh in shapes) + bool(self.const)
        super().__init__({"v": In(sum(k for k, _, _ in shapes)), "ok": Out(n)})

    def elaborate(self, platform):
        W, terms, o = self.width, [], 0
        for k, sg, sh in self.shapes:
            terms.append(Term(self.v[o:o + k], sg, sh))
            o += k
        rows = self._rows(terms, W)
        kept, const = [t for t in terms if t.shift < W], self.const
        if len(rows) != len(kept) + bool(const):
            raise ValueError(f"rows_from_terms gave {len(rows)} rows, expected {len(kept) + bool(const)}: one per "
                             f"term below bit {W}" + (" and the constant row" if const else ""))
        m = Module()
        conds = []
        for row, t in zip(rows, kept):
            val = t.value.as_signed() if t.signed else t.value.as_unsigned()
            offset = (1 << (len(t.value) - 1)) if t.signed else 0
            conds.append(_congruent(row, (val + offset) << t.shift, W))
        if const:
            conds.append(_congruent(rows[-1], const, W))
        _obligations(m, self.ok, conds)
        return m


class DotRefLemma(wiring.Component):
    """(6b) The plain ``mac`` dot step after its multipliers (:func:`~hwgen.pe.dot.mac_sum`: an
    adder tree, then the accumulator, wrapping) is ``acc + Σ_d p_d (mod 2**acc)`` for free
    products ``p_d`` of the product width.

    Every adder of the tree is exact (6a) and everything after it is taken mod ``2**acc``,
    so each is replaced by its sum mod ``2**acc`` (an ``acc``-bit adder of the inputs mod
    ``2**acc``) without changing the result. With all adders one width, Bitwuzla's
    normalization proves the tree adds every product once; with the real growing widths
    (sign extensions between the adders) neither it nor yosys SAT finishes at depth 8 in
    minutes."""

    def __init__(self, pe: PEConfig, depth: int):
        self.pe, self.depth = dataclasses.replace(pe, arith="mac"), depth
        super().__init__({"p": In(data.ArrayLayout(signed(pe.product_bits), depth)),
                          "acc": In(signed(pe.acc)), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        W = self.pe.acc
        prods = [self.p[d] for d in range(self.depth)]

        def word(m, v, name):                               # v mod 2**W, as an unsigned word
            if len(v) == W and not v.shape().signed:
                return v
            u = Signal(W, name=name)
            m.d.comb += u.eq(v)
            return u

        def node(m, x, y, name):
            s = Signal(W, name=name)
            m.d.comb += s.eq(word(m, x, f"{name}_x") + word(m, y, f"{name}_y"))
            return s

        (got,) = mac_sum(m, self.pe, [self.acc], prods, "ref", node=node)
        total = Signal(W, name="total")                     # one chain of W-bit adders
        m.d.comb += total.eq(self.acc)
        for d, p in enumerate(prods):
            nxt = Signal(W, name=f"total{d}")
            m.d.comb += nxt.eq(total + word(m, p, f"p{d}_w"))
            total = nxt
        m.d.comb += self.ok.eq(got[:W] == total)
        return m


def mac_node_widths(pe: PEConfig, depth: int) -> list[tuple[int, int]]:
    """The input widths of every adder in the plain dot step's tree (distinct pairs, in order)."""
    m, pairs = _scratch(), []

    def node(m, x, y, name):
        if (len(x), len(y)) not in pairs:
            pairs.append((len(x), len(y)))
        return add_node(m, x, y, name)

    adder_tree(m, [Signal(signed(pe.product_bits)) for _ in range(depth)], "ref", node=node)
    return pairs


class AddNodeLemma(wiring.Component):
    """(6a) The plain dot step's adder (:func:`~hwgen.pe.dot.add_node`) is exact at each pair
    of signed input widths in ``pairs``: ``node(x, y) == x + y``."""

    def __init__(self, pairs: list[tuple[int, int]], *, node=add_node):
        self.pairs, self.node = list(pairs), node
        super().__init__({"v": In(max(1, sum(a + b for a, b in pairs))), "ok": Out(len(self.pairs))})

    def elaborate(self, platform):
        m = Module()
        conds, o = [], 0
        for j, (a, b) in enumerate(self.pairs):
            x, y = self.v[o:o + a].as_signed(), self.v[o + a:o + a + b].as_signed()
            o += a + b
            conds.append(self.node(m, x, y, f"node{j}") == x + y)
        _obligations(m, self.ok, conds)
        return m


class _AbstractStepPE(OSMacPE):
    """The real output-stationary PE whose step adds a free ``product`` instead of ``a * w``;
    carry-save words become ``(split, s + c + product - split)``, every pair with that sum."""

    def __init__(self, pe: PEConfig, product: Signal, split: Signal, offset: int = 0):
        super().__init__(pe)
        self._product, self._split, self._offset = product, split, offset

    def step(self, m, acc, a, w):
        if words(self.pe) == 1:
            return [accumulate(acc[0], self._product, self.pe)]
        return [self._split, acc[0] + acc[1] + self._product - self._split + self._offset]


class AbstractPEMiter(wiring.Component):
    """Both output-stationary PEs (plain and ``pe.arith``), their control and registers as
    generated, each step abstracted by the step lemma; ``ok`` while their resolved
    accumulators and hold registers agree (prove by induction). ``offset`` (tests only) makes
    the rewritten step wrong by that much."""

    def __init__(self, pe: PEConfig, *, offset: int = 0):
        if pe.arith != "carry_save":
            raise ValueError(f"the abstract PE proof is for arith carry_save, got {pe.arith}")
        self.pe, self.offset = pe, offset
        product = (Signal(operand_shape(pe.a)) * Signal(operand_shape(pe.w))).shape()
        super().__init__({"a": In(operand_shape(pe.a)), "w": In(operand_shape(pe.w)),
                          "v": In(1), "last": In(1), "p": In(product), "split": In(signed(pe.acc)),
                          "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ref = ref = _AbstractStepPE(dataclasses.replace(self.pe, arith="mac"), self.p, self.split)
        m.submodules.dut = dut = _AbstractStepPE(self.pe, self.p, self.split, self.offset)
        for p in (ref, dut):
            m.d.comb += [p.a_in.eq(self.a), p.w_in.eq(self.w), p.v_in.eq(self.v), p.l_in.eq(self.last)]
        m.d.comb += self.ok.eq((resolve(ref.pe, ref.hold) == resolve(dut.pe, dut.hold)) &
                               (resolve(ref.pe, ref.acc) == resolve(dut.pe, dut.acc)))
        return m


def _tag(pe: PEConfig) -> str:
    return f"{pe.a}x{pe.w}_acc{pe.acc}"


def _sat_or_smt(miter, workdir: Path, name: str, kind: str, method: str, timeout: float, **kw) -> ProofResult:
    if method == "bitwuzla":
        return prove_smt(miter, workdir, name=name, kind=kind, timeout=timeout, **kw)
    return prove(miter, workdir, name=name, kind=kind, timeout=timeout, **kw)


def prove_pe_parts(pe: PEConfig, workdir: Path, *, timeout: float = 600, whole_pe: bool = True) -> list[ProofResult]:
    """The carry-save systolic PE (``pe.arith == "carry_save"``) at any width, by lemmas
    1-3 (the step) and the abstracted whole-PE induction."""
    if pe.arith != "carry_save":
        raise ValueError(f"prove_pe_parts is for arith carry_save, got {pe.arith}")
    t, W = _tag(pe), pe.acc
    out = [_sat_or_smt(CsaLemma(W), workdir, f"csa_w{W}", "csa", "yosys-sat", timeout),
           _sat_or_smt(TreeLemma(pe_rows(pe), W), workdir, f"tree_pe_{t}", "tree", "bitwuzla", timeout),
           _sat_or_smt(PartialProductLemma(pe.a, pe.w, W), workdir, f"pp_{t}", "partial-products", "yosys-sat",
                       timeout)]
    if whole_pe:
        out.append(_sat_or_smt(AbstractPEMiter(pe), workdir, f"pe_abs_{t}", "pe-induction", "bitwuzla", timeout,
                               steps=0))
    return out


def prove_dot_parts(pe: PEConfig, depth: int, workdir: Path, *, timeout: float = 600) -> list[ProofResult]:
    """A ``depth``-wide ``compressor_tree`` or ``carry_save`` dot step at any width, by lemmas
    1, 2, 4, 5 and 6."""
    if pe.arith not in ("compressor_tree", "carry_save"):
        raise ValueError(f"prove_dot_parts is for compressor_tree and carry_save, got {pe.arith}")
    t, W = f"{pe.arith}_d{depth}_{_tag(pe)}", pe.acc
    shapes, widths = dot_shapes(pe, depth)
    return [_sat_or_smt(CsaLemma(W), workdir, f"csa_w{W}", "csa", "yosys-sat", timeout),
            _sat_or_smt(TreeLemma(widths, W), workdir, f"tree_{t}", "tree", "bitwuzla", timeout),
            _sat_or_smt(TermRowLemma(shapes, W), workdir, f"rows_{t}", "term-rows", "yosys-sat", timeout),
            _sat_or_smt(BoothLemma(pe.a, pe.w), workdir, f"booth_{pe.a}x{pe.w}", "booth", "yosys-sat", timeout),
            _sat_or_smt(AddNodeLemma(mac_node_widths(pe, depth)), workdir, f"addnode_{t}", "add-node", "yosys-sat",
                        timeout),
            _sat_or_smt(DotRefLemma(pe, depth), workdir, f"macref_{t}", "mac-ref", "bitwuzla", timeout)]
