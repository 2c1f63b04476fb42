"""Carry-save building blocks: partial products and word-level 3:2 compressor trees.

Everything here is modulo ``2**width``: rows are ``width``-bit two's-complement words, so
signed and unsigned operands are handled by sign/zero extension, and dropping carries out
of the top bit is exactly the accumulator's wrap-around.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from ..numerics import Format

__all__ = ["extend", "partial_products", "csa", "compress"]


def extend(x: Value, fmt: Format, width: int) -> Value:
    """``x`` (an operand of format ``fmt``) sign- or zero-extended to ``width`` bits."""
    if width <= fmt.bits:
        return x[:width]
    fill = x[fmt.bits - 1].replicate(width - fmt.bits) if fmt.signed else Const(0, width - fmt.bits)
    return Cat(x[:fmt.bits], fill)


def partial_products(a: Value, a_fmt: Format, w: Value, w_fmt: Format, width: int) -> list[Value]:
    """Rows whose sum (mod 2**width) is ``a * w``: one shifted copy of ``a`` per bit of ``w``.

    For a signed ``w`` the top bit weighs ``-2**(n-1)``: its row is ``~(a << (n-1))`` and the
    ``+1`` that completes the negation is one extra single-bit row.
    """
    ax = extend(a, a_fmt, width)
    n = w_fmt.bits
    rows = []
    for i in range(n):
        shifted = Cat(Const(0, i), ax)[:width] if i else ax
        if w_fmt.signed and i == n - 1:
            rows.append(Mux(w[i], ~shifted, 0)[:width])
            rows.append(Cat(w[i], Const(0, width - 1)) if width > 1 else w[i])
        else:
            rows.append(Mux(w[i], shifted, 0)[:width])
    return rows


def csa(m: Module, x: Value, y: Value, z: Value, width: int, name: str = "csa") -> tuple[Signal, Signal]:
    """One row of full adders: (sum, carry) with ``sum + carry == x + y + z`` (mod 2**width).

    The outputs are named signals, so each full adder appears once in the netlist (an
    expression reused by the next level would otherwise be duplicated into it).
    """
    s, c = Signal(width, name=f"{name}_s"), Signal(width, name=f"{name}_c")
    m.d.comb += [s.eq(x ^ y ^ z), c.eq(Cat(Const(0, 1), (x & y) | (x & z) | (y & z)))]
    return s, c


def compress(m: Module, rows: list[Value], width: int, name: str = "cmp", *, node=csa) -> tuple[Value, Value]:
    """Wallace-style reduction of ``rows`` to two words whose sum equals the rows' sum.

    Each level replaces every three rows by ``node``'s two (:func:`csa`; the formal proofs
    substitute an abstraction, :mod:`hwgen.formal.parts`), so ``len(rows) - 2`` nodes in all."""
    rows = [r[:width] if len(r) >= width else Cat(r, Const(0, width - len(r))) for r in rows]
    while len(rows) < 2:
        rows.append(Const(0, width))
    level = 0
    while len(rows) > 2:
        nxt = []
        for i in range(0, len(rows) - 2, 3):
            nxt.extend(node(m, rows[i], rows[i + 1], rows[i + 2], width, name=f"{name}_l{level}_{i // 3}"))
        nxt.extend(rows[len(rows) - len(rows) % 3:] if len(rows) % 3 else [])
        rows = nxt
        level += 1
    return rows[0], rows[1]
