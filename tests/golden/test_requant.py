"""The golden requantization against a scalar Fraction reference with explicit rounding."""
import math
from fractions import Fraction

import numpy as np
import pytest

from hwgen.golden.requant import requantize
from hwgen.numerics import Format

HALF = Fraction(1, 2)


def scalar_reference(acc: int, scale: int, shift: int, relu: bool, fmt: Format) -> int:
    """One element, spelled out: exact quotient, ties to even, clip, ReLU."""
    x = Fraction(int(acc) * int(scale), 2 ** shift)
    low = math.floor(x)
    frac = x - low
    y = low + 1 if frac > HALF or (frac == HALF and low % 2 == 1) else low
    assert y == round(x)   # Python rounds Fractions half to even too
    y = min(max(y, fmt.min), fmt.max)
    return max(y, 0) if relu else y


def reference(acc, scale, shift, relu, fmt):
    return np.array([[scalar_reference(a, s, shift, relu, fmt) for a, s in zip(row, scale)] for row in acc],
                    dtype=np.int64).reshape(np.shape(acc))


def random_case(rng, acc_bits: int, cols: int, rows: int):
    """Accumulators, scales and a shift, with ties, extremes and useful magnitudes mixed in."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    shift = int(rng.integers(0, 64))
    acc = np.array([[int(rng.integers(lo, hi, endpoint=True)) >> int(rng.integers(0, acc_bits))
                     for _ in range(cols)] for _ in range(rows)], dtype=np.int64)
    scale = rng.integers(0, 1 << 16, size=cols)
    scale[rng.random(cols) < 0.15] = 0
    scale[rng.random(cols) < 0.15] = 65535
    for c in range(cols):
        if shift and rng.random() < 0.4:
            # Ties: scale = 2**j and acc an odd multiple of 2**(shift-1-j), so exactly one half is shifted out.
            j = int(rng.integers(0, min(shift, 16)))
            scale[c] = 1 << j
            top = max(acc_bits - 1 - (shift - 1 - j), 1)
            if shift - 1 - j < acc_bits - 1:
                odd = 2 * rng.integers(-(1 << (top - 1)), 1 << (top - 1), size=rows) + 1
                acc[:, c] = odd << (shift - 1 - j)
    pick = rng.random(acc.shape) < 0.05
    acc[pick] = rng.choice([lo, hi, 0, -1, 1], size=int(pick.sum()))
    return acc, scale, shift


@pytest.mark.parametrize("acc_bits", [8, 20, 32, 48, 64])
def test_matches_scalar_reference(seed, acc_bits):
    rng = np.random.default_rng(seed)
    seen = {"tie": 0, "clip_lo": 0, "clip_hi": 0, "inside": 0}
    for i in range(150):
        fmt = [Format(8), Format(8, signed=False), Format(4), Format(16), Format(2)][i % 5]
        relu = bool(i % 3 == 0)
        acc, scale, shift = random_case(rng, acc_bits, cols=6, rows=4)
        if i % 10 == 0:
            shift = 0
        got = requantize(acc, scale, shift, relu=relu, out_fmt=fmt)
        want = reference(acc, scale, shift, relu, fmt)
        assert np.array_equal(got, want), (acc, scale, shift, relu, fmt, got, want)
        assert got.dtype == np.int64 and got.shape == acc.shape
        exact = [Fraction(int(a) * int(s), 2 ** shift) for row in acc for a, s in zip(row, scale)]
        seen["tie"] += sum(x.denominator == 2 for x in exact)
        seen["clip_lo"] += sum(round(x) < fmt.min for x in exact)
        seen["clip_hi"] += sum(round(x) > fmt.max for x in exact)
        seen["inside"] += sum(fmt.min <= round(x) <= fmt.max for x in exact)
    assert all(seen.values()), seen   # every case was exercised


def test_ties_round_to_even():
    acc = np.array([[5, -5, 6, 7, -7, 3, -3, 1, -1, 2, -2]])
    assert requantize(acc, [1] * 11, 1).tolist() == [[2, -2, 3, 4, -4, 2, -2, 0, 0, 1, -1]]
    # 0.75 -> 1, 0.25 -> 0, -0.75 -> -1, -0.25 -> 0, 1.25 -> 1, 1.75 -> 2, -1.5 -> -2
    acc = np.array([[3, 1, -3, -1, 5, 7, -6]])
    assert requantize(acc, [1] * 7, 2).tolist() == [[1, 0, -1, 0, 1, 2, -2]]


def test_shift_zero_scale_extremes_and_relu():
    acc = np.array([[1, -1, 100, -100, 2, -2]])
    scale = np.array([0, 0, 1, 1, 65535, 65535])
    assert requantize(acc, scale, 0).tolist() == [[0, 0, 100, -100, 127, -128]]
    assert requantize(acc, scale, 0, relu=True).tolist() == [[0, 0, 100, 0, 127, 0]]
    assert requantize(acc, scale, 0, out_fmt=Format(8, signed=False)).tolist() == [[0, 0, 100, 0, 255, 0]]
    assert requantize(acc, scale, 17, out_fmt=Format(4)).tolist() == [[0, 0, 0, 0, 1, -1]]


def test_wide_products_are_exact():
    """64-bit accumulators times 65535 need 80 bits; the result must not wrap."""
    big = np.array([[2**63 - 1, -2**63, 2**62 + 2**46, -(2**47)]], dtype=np.int64)
    scale = np.full(4, 65535)
    for shift in (0, 1, 47, 62, 63):
        for fmt in (Format(16), Format(8, signed=False)):
            assert np.array_equal(requantize(big, scale, shift, out_fmt=fmt), reference(big, scale, shift, False, fmt))
    assert requantize(big, scale, 63, out_fmt=Format(16)).tolist() == [[32767, -32768, 32767, -1]]
    # Python ints and uint64 take the exact path as well.
    obj = np.array([[2**63 - 1, -2**63]], dtype=object)
    assert requantize(obj, [65535, 65535], 63, out_fmt=Format(16)).tolist() == [[32767, -32768]]
    assert requantize(np.array([[2**64 - 1]], dtype=np.uint64), [3], 64 - 1, out_fmt=Format(8)).tolist() == [[6]]


def test_empty_and_unsigned_inputs():
    assert requantize(np.zeros((0, 3), dtype=np.int64), [1, 2, 3], 4).shape == (0, 3)
    assert requantize(np.array([[200]], dtype=np.uint8), np.array([3], dtype=np.uint16), 2).tolist() == [[127]]


def test_errors():
    acc = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"scale must be unsigned 16-bit \(0..65535\), got min -1, max 0"):
        requantize(acc, [-1, 0, 0], 0)
    with pytest.raises(ValueError, match=r"scale must be unsigned 16-bit \(0..65535\), got min 0, max 65536"):
        requantize(acc, [0, 65536, 0], 0)
    with pytest.raises(ValueError, match=r"shift must be an integer 0..63, got 64"):
        requantize(acc, [1, 1, 1], 64)
    with pytest.raises(ValueError, match=r"shift must be an integer 0..63, got -1"):
        requantize(acc, [1, 1, 1], -1)
    with pytest.raises(ValueError, match=r"shift must be an integer 0..63, got 1.5"):
        requantize(acc, [1, 1, 1], 1.5)
    with pytest.raises(ValueError, match=r"shift must be an integer 0..63, got True"):
        requantize(acc, [1, 1, 1], True)
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\) to match acc \(2, 3\), got \(2,\)"):
        requantize(acc, [1, 1], 0)
    with pytest.raises(ValueError, match=r"acc must be an \(M, N\) array, got shape \(3,\)"):
        requantize([1, 2, 3], [1, 1, 1], 0)
    with pytest.raises(ValueError, match=r"acc must be an array of integers, got dtype float64"):
        requantize(acc.astype(float), [1, 1, 1], 0)
    with pytest.raises(ValueError, match=r"scale must be an array of integers, got dtype float64"):
        requantize(acc, [1.0, 1.0, 1.0], 0)
    with pytest.raises(ValueError, match=r"out_fmt must be a hwgen.numerics.Format, got 'int8'"):
        requantize(acc, [1, 1, 1], 0, out_fmt="int8")
