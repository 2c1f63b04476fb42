"""The exact integer GEMM every engine is checked against.

Semantics (what the hardware implements, stated once):

* products ``a[m, k] * w[k, n]`` are exact (the accumulator is at least as wide as a product);
* the accumulator starts at ``c[m, n]`` (zero by default) and adds the products in
  increasing ``k`` order;
* ``overflow="wrap"``: the accumulator keeps its low ``acc_bits`` bits (two's complement),
  so the result is the exact sum reduced modulo ``2**acc_bits``, independent of order;
* ``overflow="saturate"``: after *every* addition the accumulator is clamped to
  ``[-2**(acc_bits-1), 2**(acc_bits-1) - 1]``. The result then depends on the order, and
  is the order above: every dataflow adds products in increasing k. Dot-product engines
  add ``group`` products at a time (k = 0..group-1, group..2·group-1, …): each group's
  sum is exact and the clamp follows each group's addition (``group=1``: every product).
"""
from __future__ import annotations

import numpy as np

from ..numerics import acc_range, saturate

__all__ = ["gemm", "gemm_tiled_ws"]


def gemm(a, w, *, acc_bits: int = 32, overflow: str = "wrap", c=None, group: int = 1) -> np.ndarray:
    """``c + a @ w`` with the accumulator semantics in this module's docstring.

    Parameters
    ----------
    a : (M, K) integer array
    w : (K, N) integer array
    acc_bits : int
        Accumulator width, 2..64.
    overflow : {"wrap", "saturate"}
    c : (M, N) integer array, optional
        Initial accumulator value (must already fit in ``acc_bits``).
    group : int
        Products added exactly before each clamp (``saturate`` only; see module docstring).

    Returns
    -------
    (M, N) int64 array
    """
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"gemm needs (M, K) @ (K, N), got {a.shape} @ {w.shape}")
    m, n = a.shape[0], w.shape[1]
    c0 = np.zeros((m, n), dtype=np.int64) if c is None else np.asarray(c, dtype=np.int64)
    if c0.shape != (m, n):
        raise ValueError(f"c must be {(m, n)}, got {c0.shape}")
    if overflow == "wrap":
        # Modular arithmetic: order does not matter, so use one plain matmul: in int64 when no
        # sum can pass 2**62 (then exact), else in Python ints (object dtype), exact for any K.
        amax = int(np.abs(a).max(initial=0))
        wmax = int(np.abs(w).max(initial=0))
        cmax = int(np.abs(c0).max(initial=0))
        bound = amax * wmax * a.shape[1] + cmax
        if bound < 1 << 62:
            # below 2**53 every partial sum is an integer a float64 holds exactly: BLAS, any order
            exact = c0 + ((a.astype(np.float64) @ w.astype(np.float64)).astype(np.int64) if bound < 1 << 53
                          else a @ w)
            if acc_bits >= 63:
                return exact
            half = np.int64(1 << (acc_bits - 1))
            return ((exact + half) & np.int64((1 << acc_bits) - 1)) - half
        exact = c0.astype(object) + a.astype(object) @ w.astype(object)
        return np.array([[_wrap_int(v, acc_bits) for v in row] for row in exact], dtype=np.int64).reshape(m, n)
    if overflow == "saturate":
        lo, hi = acc_range(acc_bits)
        if c0.size and (c0.min() < lo or c0.max() > hi):
            raise ValueError(f"c does not fit a {acc_bits}-bit accumulator")
        acc = c0.copy()
        for k0 in range(0, a.shape[1], group):
            acc = saturate(acc + a[:, k0:k0 + group] @ w[k0:k0 + group, :], acc_bits)
        return acc
    raise ValueError(f"overflow must be 'wrap' or 'saturate', got {overflow!r}")


def _wrap_int(v: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((int(v) + half) % (1 << bits)) - half


def gemm_tiled_ws(a, w, *, rows: int, acc_bits: int = 32, overflow: str = "wrap", group: int = 1) -> np.ndarray:
    """GEMM computed the way a weight-stationary array chains K tiles of ``rows``.

    Each K tile's output is the next tile's initial accumulator; with the semantics of
    :func:`gemm` this equals ``gemm(a, w)`` exactly, which the tests check.
    """
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    c = None
    for k0 in range(0, max(a.shape[1], 1), rows):
        c = gemm(a[:, k0:k0 + rows], w[k0:k0 + rows], acc_bits=acc_bits, overflow=overflow, c=c, group=group)
    return c
