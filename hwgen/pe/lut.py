"""The two halves of a table-lookup (LUT) dot product, as Amaranth functions: the table
precompute (once per group of g activations, shared by every weight column) and the
lookup (per column: g weight bits of one bit-plane index the table).

With weight bits read as ±1, the table of a group a₀…a_{g−1} is

    T[p] = Σᵢ (bit i of p ? +aᵢ : −aᵢ),   p = 0 … 2^g − 1.

It is odd-symmetric, T[~p] = −T[p], so a **symmetric** table stores only the half with
the top bit set, H[q] = T[q | 2^(g−1)], and a lookup with the top bit clear reads
H[~q] and negates it. A **full** table stores all 2^g entries. Both give the same value
(proved in :mod:`hwgen.formal.lut`); the negation is returned as a flag so the caller can
fold it into its accumulator's carry-in (x − y = x + ~y + 1) instead of an extra adder.

A {0,1} plane's dot product follows from the ±1 one: Σ_{bit i set} aᵢ = (T[p] + S)/2 with
S = Σ aᵢ = T[2^g − 1], itself a table entry (the engine's per-row "offset column").
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, Value, signed

from ..numerics import Format
from .compress import extend

__all__ = ["table_width", "table_size", "build_table", "lookup", "sum_entry", "signed_lookup", "table_step",
           "accumulate"]


def table_width(a: Format, g: int) -> int:
    """Signed width that holds every entry Σ ±aᵢ of ``g`` activations of format ``a``."""
    bound = g * max(-a.min, a.max)       # |T[p]| ≤ g · max|a|
    return bound.bit_length() + 1


def table_size(g: int, symmetric: bool) -> int:
    return 1 << (g - 1) if symmetric else 1 << g


def build_table(m: Module, acts: list[Value], a: Format, symmetric: bool, name: str) -> list[Signal]:
    """The table of ``acts`` (g activations of format ``a``), combinational, entry e as a
    signed Signal. Built level by level (each level doubles the entries by ±a_i), so the
    full table costs 2^g − 2 adders and the symmetric one 2^(g−1) − 1."""
    g = len(acts)
    width = table_width(a, g)
    ext = [extend(x, a, width).as_signed() for x in acts]
    # symmetric: start from +a_{g-1} (the top bit is set in every stored entry)
    level = [ext[g - 1]] if symmetric else [-ext[0], ext[0]]
    for i in range(0 if symmetric else 1, g - 1 if symmetric else g):
        # entry index bit i selects ±a_i: new index = old | (bit << i) for the old entries' bits < i
        level = [e - ext[i] for e in level] + [e + ext[i] for e in level]
        # keep index order: entries with bit i clear occupy [0, 2^i), set [2^i, 2^(i+1))
    out = []
    for e, v in enumerate(level):
        s = Signal(signed(width), name=f"{name}_t{e}")
        m.d.comb += s.eq(v)
        out.append(s)
    return out


def lookup(m: Module, table: list[Value], index: Value, symmetric: bool, name: str) -> tuple[Signal, Signal]:
    """(value, negate) with T[index] = value if not negate else −value. ``index`` is the g
    weight bits (bit i for activation i); a full table never negates."""
    g = len(index)
    if not symmetric:
        v = Signal.like(table[0], name=f"{name}_v")
        m.d.comb += v.eq(Array(table)[index])
        return v, Signal(name=f"{name}_neg")   # constant 0
    top = index[g - 1]
    sel = Signal(g - 1, name=f"{name}_sel") if g > 1 else None
    neg = Signal(name=f"{name}_neg")
    v = Signal.like(table[0], name=f"{name}_v")
    m.d.comb += [neg.eq(~top)]
    if g == 1:
        m.d.comb += v.eq(table[0])
    else:
        m.d.comb += [sel.eq(Mux(top, index[:g - 1], ~index[:g - 1])), v.eq(Array(table)[sel])]
    return v, neg


def sum_entry(table: list[Value], symmetric: bool) -> Value:
    """S = Σ aᵢ = T[2^g − 1]: the last entry of either table."""
    return table[-1]


def signed_lookup(m: Module, table: list[Value], index: Value, sign: Value, symmetric: bool,
                  name: str) -> tuple[Signal, Signal]:
    """One plane's lookup for one column, as the engine registers it: (value, negate) with
    the lookup's own negation flag XOR ``sign`` (the sign plane of an ``int`` weight)."""
    val, lneg = lookup(m, table, index, symmetric, name)
    n = Signal(name=f"{name}_n")
    m.d.comb += n.eq(lneg ^ sign)
    return val, n


def table_step(fresh: Value, held: Value, first: Value, double: Value) -> Value:
    """A table register's next value: on a group's first plane the freshly built entry
    (doubled for bipolar weights), on every later plane the held one shifted left by one
    (plane i is worth 2^i, and the shift costs no logic)."""
    return Mux(first, Mux(double, fresh << 1, fresh), held << 1)


def accumulate(m: Module, acc: Value, x: Value, n: Value, width: int, name: str) -> Signal:
    """An accumulator's next value, ``acc + (n ? −x : x)`` at ``width`` bits (wrapping): the
    negation is ``x ^ n`` with ``n`` as the carry-in, so it costs no second adder."""
    tw = len(x)
    xs, nxt = Signal(signed(tw), name=f"{name}_x"), Signal(signed(width), name=f"{name}_nxt")
    m.d.comb += [xs.eq(x ^ n.replicate(tw)), nxt.eq(acc + xs + n)]
    return nxt
