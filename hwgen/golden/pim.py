"""PIM banks in NumPy: what one GEMV computes in every bank (docs/pim.md).

A bank word is ``lanes`` bytes. Elements of a format of ``b`` bits are packed in it, element
``e`` at bit ``e·b`` (little-endian, two's complement for signed formats), so a word holds
``8 // b`` *slices* of ``lanes`` elements: slice ``s`` is part ``s % (8 // b)`` of word
``s // (8 // b)``. The GEMV unit reads one slice per cycle.

Both modes walk the same addresses: slice ``base + o·ostride + n·nstride`` for output
``o < outer`` and reduction step ``n < inner``:

* ``dot`` (q·Kᵀ, W·x): ``y[o] = Σ_n Σ_l M[o, n][l] · x[n][l]``, ``x[n]`` = vector word
  ``vec_base + n``; ``y[o]`` goes to lane ``o % lanes`` of result word ``out_base + o // lanes``
  (the word's other lanes keep their values);
* ``bacc`` (broadcast-accumulate, p·V, xᵀ·W): ``y[o][l] = Σ_n p[n] · M[o, n][l]``, ``p[n]`` =
  vector element ``n`` (byte ``n % lanes`` of word ``vec_base + n // lanes``); ``y[o]`` is
  result word ``out_base + o``.

The vector is int8; sums wrap at ``acc`` bits. The functions here compute from the math
(gathered slices, one integer sum), not by replaying the hardware's cycle loop.
"""
from __future__ import annotations

import numpy as np

from ..numerics import Format, wrap_signed

__all__ = ["DOT", "BACC", "MODES", "unpack_slices", "gemv", "gemv_bounds_ok", "pack_elements"]

DOT, BACC = 0, 1
MODES = {"dot": DOT, "bacc": BACC}


def unpack_slices(words: np.ndarray, fmt: Format, lanes: int) -> np.ndarray:
    """A bank's words ((rows, lanes) bytes, uint8) as its slices ((rows · 8/b, lanes) int64)."""
    b = fmt.bits
    per = 8 // b
    bits = np.unpackbits(np.asarray(words, dtype=np.uint8), axis=1, bitorder="little")    # (rows, 8·lanes)
    codes = (bits.reshape(-1, lanes * per, b).astype(np.int64) << np.arange(b)).sum(axis=2)  # (rows, lanes·per)
    if fmt.signed:
        codes = np.where(codes >= 1 << (b - 1), codes - (1 << b), codes)
    return codes.reshape(-1, lanes)


def pack_elements(values: np.ndarray, fmt: Format, lanes: int) -> np.ndarray:
    """Inverse of :func:`unpack_slices`: elements (a multiple of lanes · 8/b of them, flat in
    slice order) as bank words ((words, lanes) uint8)."""
    b = fmt.bits
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size % (lanes * 8 // b):
        raise ValueError(f"{v.size} elements do not fill whole words of {lanes * 8 // b} {fmt} elements")
    fmt.check(v, "values")
    u = (v & ((1 << b) - 1)).reshape(-1, 1)
    bits = ((u >> np.arange(b)) & 1).astype(np.uint8).reshape(-1, 8 * lanes)
    return np.packbits(bits, axis=1, bitorder="little")


def gemv_bounds_ok(*, mode: int, fmt: Format | None, outer: int, inner: int, base: int, ostride: int, nstride: int,
                   vec_base: int, out_base: int, rows: int, lanes: int, vec_words: int, out_words: int) -> bool:
    """Whether a GEMV's arguments name a mode and a format the banks have (``fmt`` None: not
    one of them), non-zero counts, and slices, vector and result words inside the memories."""
    if mode not in (DOT, BACC) or fmt is None or not outer or not inner:
        return False
    last = base + (outer - 1) * ostride + (inner - 1) * nstride
    if last >= rows * (8 // fmt.bits):
        return False
    vec_need = inner if mode == DOT else -(-inner // lanes)
    out_need = -(-outer // lanes) if mode == DOT else outer
    return vec_base + vec_need <= vec_words and out_base + out_need <= out_words


def gemv(bank: np.ndarray, vec: np.ndarray, out: np.ndarray, *, mode: int, fmt: Format, outer: int, inner: int,
         base: int, ostride: int, nstride: int, vec_base: int, out_base: int, acc: int) -> None:
    """One bank's GEMV: ``bank`` (rows, lanes) uint8 words, ``vec`` (vec_words, lanes) int8
    values, ``out`` (out_words, lanes) int64 accumulators, updated in place. The arguments
    must pass :func:`gemv_bounds_ok`."""
    lanes = bank.shape[1]
    sl = unpack_slices(bank, fmt, lanes)
    addr = base + np.arange(outer)[:, None] * ostride + np.arange(inner)[None, :] * nstride
    m = sl[addr]                                                       # (outer, inner, lanes)
    vec = np.asarray(vec, dtype=np.int64)
    if mode == DOT:
        x = vec[vec_base:vec_base + inner]                             # (inner, lanes)
        y = wrap_signed(np.einsum("onl,nl->o", m, x), acc)
        for o in range(outer):
            out[out_base + o // lanes, o % lanes] = y[o]
    else:
        p = vec[vec_base:vec_base + -(-inner // lanes)].reshape(-1)[:inner]
        out[out_base:out_base + outer] = wrap_signed(np.einsum("onl,n->ol", m, p), acc)
