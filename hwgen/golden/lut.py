"""Golden models of table-lookup (LUT) engines: low-bit weight GEMMs, plain and group-quantized.

Computed as plain integer matrix products of the *decoded* weights (DESIGN rule 3): the
engines' bit-planes and tables are checked against these, never mimicked by them.

Group-wise scales (what one RUN of a group-quantized linear layer computes): the K input
channels are cut into groups of ``group``; column n of group G has an integer fixed-point
scale ``scale[G, n]`` and (for unsigned weights, as GGUF Q4_1 and GPTQ store them,
w = d·q + m) a zero point ``zero[G, n]`` at the same fixed point. Then

    y[m, n] = Σ_G  scale[G, n] · Σ_{k∈G} a[m, k]·q[k, n]  +  zero[G, n] · Σ_{k∈G} a[m, k]

exactly, kept modulo 2**acc_bits (the accumulator wraps). With ``frac`` fractional bits in
the scales, ``y / 2**frac`` is the float layer's output (times the activations' scale) up
to the scales' own rounding, which :func:`fixed_point_scales` states.
"""
from __future__ import annotations

import numpy as np

from ..numerics import LowBitFormat
from .gemm import gemm

__all__ = ["lut_gemm", "grouped_gemm", "fixed_point_scales", "SCALE_BITS_DEFAULT"]

#: width of a group scale (and zero point) as the engine stores it: signed, two's complement
SCALE_BITS_DEFAULT = 16


def _ints(x, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "iub":
        raise ValueError(f"{what} must be integers, got dtype {x.dtype}")
    return x.astype(np.int64)


def lut_gemm(a, w, fmt: LowBitFormat, *, acc_bits: int = 32) -> np.ndarray:
    """``a @ w`` for weight *values* ``w`` of ``fmt`` (checked), the accumulator wrapping at ``acc_bits``."""
    a, w = _ints(a, "activations"), _ints(w, "weights")
    fmt.check(w)
    return gemm(a, w, acc_bits=acc_bits, overflow="wrap")


def grouped_gemm(a, w, fmt: LowBitFormat | None, *, group: int, scale, zero=None, acc_bits: int = 48) -> np.ndarray:
    """The group-quantized layer in this module's docstring; ``w`` are weight values of ``fmt``
    (checked unless ``fmt`` is None), ``scale``/``zero`` are (K/group, N) integers (K a
    multiple of ``group``)."""
    a, w = _ints(a, "activations"), _ints(w, "weights")
    if fmt is not None:
        fmt.check(w)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"grouped_gemm needs (M, K) @ (K, N), got {a.shape} @ {w.shape}")
    k, n = w.shape
    if group < 1 or k % group:
        raise ValueError(f"K = {k} must be a multiple of the group size {group}")
    groups = k // group
    scale = _ints(scale, "scale")
    zero = np.zeros_like(scale) if zero is None else _ints(zero, "zero")
    for name, x in (("scale", scale), ("zero", zero)):
        if x.shape != (groups, n):
            raise ValueError(f"{name} must be (K/group, N) = {(groups, n)}, got {x.shape}")
    fast = _grouped_int64(a, w, group, scale, zero, acc_bits)
    if fast is not None:
        return fast
    ao, wo = a.astype(object), w.astype(object)
    y = np.zeros((a.shape[0], n), dtype=object)
    for g in range(groups):
        ks = slice(g * group, (g + 1) * group)
        part = ao[:, ks] @ wo[ks]
        rowsum = ao[:, ks].sum(axis=1)[:, None]
        y += part * scale[g].astype(object)[None, :] + rowsum * zero[g].astype(object)[None, :]
    half = 1 << (acc_bits - 1)
    return np.array([[(int(v) + half) % (1 << acc_bits) - half for v in row] for row in y],
                    dtype=np.int64).reshape(y.shape)


def _grouped_int64(a, w, group, scale, zero, acc_bits) -> np.ndarray | None:
    """:func:`grouped_gemm` in int64 with each group's partial product from a float64 matmul,
    when no intermediate can lose a bit (every group's |partial| < 2**53, the whole sum < 2**62);
    None otherwise (the exact Python-integer path then runs)."""
    groups = a.shape[1] // group
    amax, wmax = int(np.abs(a).max(initial=0)), int(np.abs(w).max(initial=0))
    smax = max(int(np.abs(scale).max(initial=0)), int(np.abs(zero).max(initial=0)))
    part_max = group * amax * max(wmax, 1)
    if acc_bits > 62 or part_max >= 1 << 53 or groups * 2 * part_max * smax >= 1 << 62:
        return None
    y = np.zeros((a.shape[0], w.shape[1]), dtype=np.int64)
    af, wf = a.astype(np.float64), w.astype(np.float64)
    for g in range(groups):
        ks = slice(g * group, (g + 1) * group)
        part = (af[:, ks] @ wf[ks]).astype(np.int64)
        y += part * scale[g][None, :] + a[:, ks].sum(axis=1)[:, None] * zero[g][None, :]
    half = 1 << (acc_bits - 1)
    return ((y + half) & ((1 << acc_bits) - 1)) - half


def fixed_point_scales(d, m=None, *, bits: int = SCALE_BITS_DEFAULT) -> tuple[np.ndarray, np.ndarray, int]:
    """Float group scales ``d`` (and zero points ``m``) as ``bits``-wide signed integers at one
    fixed point for the whole layer: ``(D, M, frac)`` with ``D = round(d · 2**frac)``
    (half to even), ``frac`` the largest that keeps every |D| and |M| within ``bits``.

    The rounding error of each scale is at most 2**-(frac+1), i.e. a relative error of at most
    2**-(bits-1) for the largest scale of the layer (smaller scales lose relatively more)."""
    d = np.asarray(d, dtype=np.float64)
    m = np.zeros_like(d) if m is None else np.asarray(m, dtype=np.float64)
    if not (np.isfinite(d).all() and np.isfinite(m).all()):
        raise ValueError("scales and zero points must be finite")
    top = max(float(np.abs(d).max(initial=0.0)), float(np.abs(m).max(initial=0.0)))
    limit = (1 << (bits - 1)) - 1
    if top == 0.0:
        return np.zeros(d.shape, np.int64), np.zeros(m.shape, np.int64), 0
    frac = int(np.floor(np.log2(limit / top)))
    while frac > -64 and max(np.abs(np.rint(d * 2.0 ** frac)).max(), np.abs(np.rint(m * 2.0 ** frac)).max()) > limit:
        frac -= 1
    return (np.rint(d * 2.0 ** frac).astype(np.int64), np.rint(m * 2.0 ** frac).astype(np.int64), frac)


