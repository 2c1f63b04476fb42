"""Digit encodings of integers, for the bit-serial engines' cycle counts and statistics.

Computed digit by digit with Python integers (not with the 3x trick the hardware uses),
so the engines' encoders are checked against an independent construction.
"""
from __future__ import annotations

import numpy as np

__all__ = ["naf", "nonzero_digits", "sparse_serial_cycles"]


def naf(x: int) -> list[int]:
    """Non-adjacent form (canonical signed digits) of ``x``, least significant first:
    digits in {-1, 0, 1}, no two adjacent non-zero, the fewest non-zero digits of any
    signed-binary form. ``sum(d * 2**i) == x``."""
    x, digits = int(x), []
    while x:
        if x % 2:
            d = 2 - (x % 4)  # +1 if x ≡ 1 (mod 4), -1 if x ≡ 3
            x -= d
        else:
            d = 0
        digits.append(d)
        x //= 2
    return digits


def nonzero_digits(x) -> np.ndarray:
    """Number of non-zero NAF digits of each entry of ``x``."""
    x = np.asarray(x, dtype=np.int64)
    table = {}
    out = np.empty(x.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(x):
        v = int(v)
        if v not in table:
            table[v] = sum(1 for d in naf(v) if d)
        out[idx] = table[v]
    return out


def sparse_serial_cycles(w_tile) -> int:
    """Compute cycles of one sparse-serial tile: each step k lasts as long as its busiest
    column, at least one cycle (``w_tile`` is the K×C weight tile)."""
    w_tile = np.atleast_2d(np.asarray(w_tile, dtype=np.int64))
    per = np.maximum(nonzero_digits(w_tile), 1)
    return int(per.max(axis=1).sum())
