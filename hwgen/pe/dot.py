"""Dot-product units: ``acc + Σ_d a[d]·w[d]`` in one cycle, in three arithmetic forms.

Used by the cube, 2D-matrix and adder-tree engines. ``acc_words`` is a list of
accumulator words whose sum (mod 2**acc) is the accumulator, as in :mod:`hwgen.pe.mac`.

* ``mac`` (baseline): ``depth`` multipliers, a balanced tree of carry-propagate adders
  over the exact products, then the accumulator adder (with the PE's overflow rule).
* ``compressor_tree`` (OPT2, "same bit-weight compressor"): every multiplication is
  radix-4 Booth encoded (⌈(n+1)/2⌉ digit rows instead of n bit rows), and the digit rows
  of *all* ``depth`` products plus the accumulator are compressed together by bit weight
  in one 3:2 tree; one carry-propagate adder per output per cycle.
* ``carry_save`` (OPT1 on a dot-product engine): the same tree, but the accumulator stays
  as two words (sum, carry), so there is no carry-propagate adder until the result leaves.

Signed rows use the sign-bit inversion trick (``-s·2^k = (1-s)·2^k - 2^k``): each row is
its own width with the top bit inverted, and all the ``-2^k`` terms fold into one
constant row, so the tree does no sign-extension work.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from ..config import PEConfig
from ..numerics import Format, acc_range
from .compress import compress, extend

__all__ = ["Term", "booth_digits", "booth_terms", "rows_from_terms", "dot_terms", "dot_rows", "mac_sum", "dot_step",
           "add_node", "adder_tree", "saturating_add"]


@dataclass(frozen=True)
class Term:
    """``value`` (two's complement if ``signed``) times ``2**shift``."""
    value: Value
    signed: bool
    shift: int = 0


def booth_digits(w: Value, w_fmt: Format):
    """Radix-4 Booth digits of ``w``: a list of (one, two, neg) bit expressions per digit i
    (weight ``4**i``); digit = (-1 if neg) · (1 if one, 2 if two, else 0)."""
    n = w_fmt.bits + (0 if w_fmt.signed else 1)  # unsigned: one more (zero) bit
    n += n % 2
    bits = extend(w, w_fmt, n)
    out = []
    for i in range(n // 2):
        lo = bits[2 * i - 1] if i else Const(0, 1)
        b0, b1 = bits[2 * i], bits[2 * i + 1]
        one = b0 ^ lo
        two = (b1 & ~b0 & ~lo) | (~b1 & b0 & lo)
        out.append((one, two, b1))
    return out


def booth_terms(m: Module, a: Value, a_fmt: Format, w: Value, w_fmt: Format, name: str) -> list[Term]:
    """Terms whose sum is ``a * w``: one row per radix-4 Booth digit of ``w`` plus one row
    collecting the ``+1`` of every negated digit."""
    wa = a_fmt.bits + 2  # holds ±2a for signed and unsigned a
    ax = extend(a, a_fmt, wa)
    terms, negs = [], []
    for i, (one, two, neg) in enumerate(booth_digits(w, w_fmt)):
        row = Signal(wa, name=f"{name}_pp{i}")
        mag = Mux(two, Cat(Const(0, 1), ax)[:wa], Mux(one, ax, 0))
        m.d.comb += row.eq(mag ^ neg.replicate(wa))
        terms.append(Term(row, True, 2 * i))
        negs += [neg, Const(0, 1)]
    terms.append(Term(Cat(*negs[:-1]), False, 0))
    return terms


def rows_from_terms(terms: list[Term], width: int) -> list[Value]:
    """``width``-bit rows (plus one constant row) whose sum mod ``2**width`` is the terms' sum."""
    rows, const = [], 0
    for t in terms:
        k = len(t.value)
        bits = Cat(t.value[:k - 1], ~t.value[k - 1]) if t.signed else t.value
        if t.signed:
            const -= 1 << (k - 1 + t.shift)
        if t.shift < width:
            rows.append(Cat(Const(0, t.shift), bits)[:width] if t.shift else bits[:width])
    const %= 1 << width
    if const:
        rows.append(Const(const, width))
    return rows


def add_node(m: Module, x: Value, y: Value, name: str) -> Value:
    """``x + y`` (signed) in a named signal one bit wider than the wider input: exact."""
    s = Signal(signed(max(len(x), len(y)) + 1), name=name)
    m.d.comb += s.eq(x + y)
    return s


def adder_tree(m: Module, values: list[Value], name: str, *, node=add_node) -> Value:
    """Balanced tree of carry-propagate adders (``node``: :func:`add_node`; a formal proof
    substitutes its own); every level is a named signal."""
    level = 0
    while len(values) > 1:
        nxt = []
        for i in range(0, len(values) - 1, 2):
            nxt.append(node(m, values[i], values[i + 1], f"{name}_l{level}_{i // 2}"))
        if len(values) % 2:
            nxt.append(values[-1])
        values, level = nxt, level + 1
    return values[0]


def saturating_add(acc: Value, x: Value, bits: int) -> Value:
    """``acc + x`` clamped to a signed ``bits`` range (``x`` may be wider than ``bits``)."""
    lo, hi = acc_range(bits)
    total = acc.as_signed() + x.as_signed()
    if len(x) <= bits:  # the sum fits bits + 1: overflow shows in the top two bits
        return Mux(total[bits] != total[bits - 1], Mux(total[bits], lo, hi), total)
    return Mux(total > hi, hi, Mux(total < lo, lo, total))


def _product(a: Value, a_fmt: Format, w: Value, w_fmt: Format, pe: PEConfig) -> Value:
    return (a.as_signed() if a_fmt.signed else a.as_unsigned()) * (w.as_signed() if w_fmt.signed else w.as_unsigned())


def dot_terms(m: Module, pe: PEConfig, a: list[Value], w: list[Value], name: str) -> list[Term]:
    """The Booth terms of every product ``a[d]·w[d]`` (:func:`booth_terms`), in order of ``d``."""
    terms = []
    for d, (x, y) in enumerate(zip(a, w)):
        terms += booth_terms(m, x, pe.a, y, pe.w, f"{name}_m{d}")
    return terms


def dot_rows(pe: PEConfig, acc_words: list[Value], terms: list[Term]) -> list[Value]:
    """The rows the compressor tree of a ``compressor_tree``/``carry_save`` dot step reduces:
    the terms' rows (:func:`rows_from_terms`) and the accumulator words."""
    return rows_from_terms(terms, pe.acc) + [word[:pe.acc] for word in acc_words]


def mac_sum(m: Module, pe: PEConfig, acc_words: list[Value], prods: list[Value], name: str, *,
            node=add_node) -> list[Value]:
    """The plain ``mac`` dot step after its multipliers: ``prods`` summed by :func:`adder_tree`
    (exact), then added to the accumulator with the PE's overflow rule."""
    W = pe.acc
    total = adder_tree(m, prods, name, node=node)
    acc = acc_words[0]
    for extra in acc_words[1:]:
        acc = (acc + extra)[:W]
    if pe.overflow == "saturate":
        return [saturating_add(acc, total, W)]
    return [(acc + total)[:W]]


def dot_step(m: Module, pe: PEConfig, acc_words: list[Value], a: list[Value], w: list[Value],
             *, out_words: int | None = None, name: str = "dot") -> list[Value]:
    """Accumulator words after adding ``Σ a[d]·w[d]`` with ``pe.arith``.

    ``out_words`` defaults to 1 for ``mac``/``compressor_tree`` and 2 for ``carry_save``."""
    W = pe.acc
    if pe.arith == "mac":
        prods = []
        for d, (x, y) in enumerate(zip(a, w)):
            p = Signal(signed(pe.product_bits), name=f"{name}_p{d}")
            m.d.comb += p.eq(_product(x, pe.a, y, pe.w, pe))
            prods.append(p)
        return mac_sum(m, pe, acc_words, prods, name)
    if pe.arith not in ("compressor_tree", "carry_save"):
        raise ValueError(f"dot_step does not implement arith {pe.arith!r}")
    rows = dot_rows(pe, acc_words, dot_terms(m, pe, a, w, name))
    s, c = compress(m, rows, W, name=f"{name}_cmp")
    words = out_words if out_words is not None else (2 if pe.arith == "carry_save" else 1)
    return [s, c] if words == 2 else [(s + c)[:W]]
