"""The STORE command in NumPy (docs/pim.md): accumulator words requantized on chip, with a
pair mix for rotary embeddings, written into PIM bank words (new K/V cache rows).

A store walks ``n2 × n1`` steps; step ``(i2, i1)`` (``i1`` fastest) reads accumulator word
``src + i1·src1 + i2·src2`` (``C`` accumulators), coefficient words ``a`` = scale word
``coef + i1·coef1 + i2·coef2`` and, with the pair flag, ``b`` = the scale word after it (each
``C`` signed 16-bit values), and writes bank word ``dst + i1·dst1 + i2·dst2`` (flat,
bank-major) with

    y[c] = clip(round_half_even((acc[c]·a[c] + acc[c ^ 1]·b[c]) / 2**shift))   (int8)

(without the pair flag ``b`` is 0). ``a = m·cos θ`` and ``b = ∓m·sin θ`` rotate the pair of
lanes ``(2j, 2j+1)`` by θ while scaling it by ``m/2**shift``: a key's rotary embedding and its
int8 quantization in one step; ``b = 0`` is a plain per-column requantization (values).

Every address is checked before anything is written: a walk that leaves a memory at any step
is refused whole.
"""
from __future__ import annotations

import numpy as np

from ..numerics import Format
from .requant import round_shift_clip

__all__ = ["STORE_PAIR", "COEF_MIN", "COEF_MAX", "requantize_pair", "store_steps", "store_bounds_ok"]

#: flags bit 0: mix each lane with its pair lane (``b`` read from the scale word after ``a``)
STORE_PAIR = 1
#: the coefficients' range (signed 16-bit)
COEF_MIN, COEF_MAX = -(1 << 15), (1 << 15) - 1


def requantize_pair(acc, a, b, shift: int, out_fmt: Format = Format(8)) -> np.ndarray:
    """``clip(rhe((acc[:, c]·a[c] + acc[:, c^1]·b[c]) / 2**shift))`` for (M, C) accumulators,
    C even; ``a``, ``b`` (C,) signed 16-bit (``b`` None: zero)."""
    acc = np.asarray(acc, dtype=np.int64)
    if acc.ndim != 2 or acc.shape[1] % 2:
        raise ValueError(f"acc must be (M, C) with C even, got shape {acc.shape}")
    C = acc.shape[1]
    a = np.asarray(a, dtype=np.int64)
    b = np.zeros(C, dtype=np.int64) if b is None else np.asarray(b, dtype=np.int64)
    for what, x in (("a", a), ("b", b)):
        if x.shape != (C,) or (x.size and (x.min() < COEF_MIN or x.max() > COEF_MAX)):
            raise ValueError(f"{what} must be ({C},) signed 16-bit values, got shape {x.shape}"
                             + (f", range {x.min()}..{x.max()}" if x.size else ""))
    pair = np.arange(C) ^ 1
    if np.abs(acc).max(initial=0) < 1 << 45:   # |acc·a + acc'·b| < 2**62: int64 is exact
        prod = acc * a + acc[:, pair] * b
    else:
        o = acc.astype(object)
        prod = o * a.astype(object) + o[:, pair] * b.astype(object)
    return round_shift_clip(prod, shift, out_fmt.min, out_fmt.max).reshape(acc.shape)


def store_steps(n1: int, n2: int, base: int, s1: int, s2: int) -> np.ndarray:
    """The addresses of a walk, (n2·n1,) in step order."""
    i2, i1 = np.meshgrid(np.arange(n2, dtype=np.int64), np.arange(n1, dtype=np.int64), indexing="ij")
    return (base + i1 * s1 + i2 * s2).reshape(-1)


def store_bounds_ok(*, flags: int, shift: int, n1: int, n2: int, src: int, src1: int, src2: int, dst: int,
                    dst1: int, dst2: int, coef: int, coef1: int, coef2: int, acc_words: int, scale_words: int,
                    pim_words: int) -> bool:
    """Whether a STORE's walk stays inside the accumulator, scale and bank memories."""
    if flags & ~STORE_PAIR or shift > 63 or not n1 or not n2:
        return False
    last = lambda base, s1, s2: base + (n1 - 1) * s1 + (n2 - 1) * s2   # strides are unsigned
    return (last(src, src1, src2) < acc_words and last(coef, coef1, coef2) + (flags & STORE_PAIR) < scale_words
            and last(dst, dst1, dst2) < pim_words)
