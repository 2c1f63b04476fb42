"""The exact integer requantization every output stage is checked against.

An output stage turns wide accumulators into activations of the next layer's format, as
Gemmini's requantizing store does. Semantics (what the hardware implements, stated once),
for each element ``acc[m, n]`` with the column's multiplier ``scale[n]``:

* the product ``p = acc[m, n] * scale[n]`` is exact (no width limit);
* ``y = p / 2**shift`` rounded to the nearest integer, ties to even (``1.5 -> 2``,
  ``2.5 -> 2``, ``-2.5 -> -2``); with ``shift = 0`` there is nothing to round;
* ``y`` is clipped to ``[out_fmt.min, out_fmt.max]``;
* with ``relu``, ``y = max(y, 0)`` after the clip (for an unsigned format a no-op).

``scale`` is unsigned 16-bit (0..65535) and ``shift`` is 0..63: the ranges of the
hardware's default ``scale_bits=16`` and ``shift_bits=6`` ports.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..numerics import Format

__all__ = ["requantize", "round_shift_clip", "SCALE_BITS", "SHIFT_MAX"]

#: Width of the unsigned per-column multiplier.
SCALE_BITS = 16
#: Largest right shift.
SHIFT_MAX = 63

# Below this magnitude acc * scale (scale < 2**16) fits in int64 and NumPy can do the work.
_FAST_ACC_LIMIT = 1 << (63 - SCALE_BITS)


def requantize(acc, scale, shift: int, *, relu: bool = False, out_fmt: Format = Format(8)) -> np.ndarray:
    """``clip(round_half_even(acc * scale / 2**shift))`` (then ReLU), per this module's docstring.

    Parameters
    ----------
    acc : (M, N) integer array
        Accumulator values (any integers; int64, uint64 or Python ints in an object array).
    scale : (N,) integer array
        Per-column multiplier, 0..65535.
    shift : int
        Right shift, 0..63.
    relu : bool
        Clamp negative results to zero (after the clip).
    out_fmt : Format
        Output format; results are clipped to its range.

    Returns
    -------
    (M, N) int64 array
        Values within ``[out_fmt.min, out_fmt.max]``.
    """
    acc = _integer_array(acc, "acc")
    scale = _integer_array(scale, "scale")
    if acc.ndim != 2:
        raise ValueError(f"acc must be an (M, N) array, got shape {acc.shape}")
    if scale.shape != (acc.shape[1],):
        raise ValueError(f"scale must have shape ({acc.shape[1]},) to match acc {acc.shape}, got {scale.shape}")
    if scale.size and (scale.min() < 0 or scale.max() > (1 << SCALE_BITS) - 1):
        raise ValueError(f"scale must be unsigned {SCALE_BITS}-bit (0..{(1 << SCALE_BITS) - 1}), "
                         f"got min {scale.min()}, max {scale.max()}")
    if isinstance(shift, bool) or not isinstance(shift, numbers.Integral) or not 0 <= shift <= SHIFT_MAX:
        raise ValueError(f"shift must be an integer 0..{SHIFT_MAX}, got {shift!r}")
    if not isinstance(out_fmt, Format):
        raise ValueError(f"out_fmt must be a hwgen.numerics.Format, got {out_fmt!r}")
    shift = int(shift)

    fast = (acc.dtype != object and acc.dtype != np.uint64
            and (not acc.size or (acc.min() > -_FAST_ACC_LIMIT and acc.max() < _FAST_ACC_LIMIT)))
    if fast:
        prod = acc.astype(np.int64) * scale.astype(np.int64)
    else:
        # Python ints: exact for any magnitude (a 64-bit acc times 16 bits needs 80).
        prod = acc.astype(object) * scale.astype(object)

    lo = max(out_fmt.min, 0) if relu else out_fmt.min   # ReLU after the clip == a raised floor
    return round_shift_clip(prod, shift, lo, out_fmt.max).reshape(acc.shape)


def round_shift_clip(prod: np.ndarray, shift: int, lo: int, hi: int) -> np.ndarray:
    """``clip(round_half_even(prod / 2**shift), lo, hi)`` of exact integers (int64 or Python
    ints in an object array), as int64."""
    # Floor division by 2**shift and the remainder, compared with one half: the same
    # operators are exact on int64 (|prod| < 2**63) and on Python ints.
    q = prod >> shift
    y = q
    if shift:
        rem = prod & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
        y = q + up.astype(q.dtype)
    return np.asarray(np.minimum(np.maximum(y, lo), hi), dtype=np.int64)


def _integer_array(x, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        return x
    if x.dtype == object and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in x.flat):
        return x
    raise ValueError(f"{what} must be an array of integers, got dtype {x.dtype}")
