"""The golden GEMM against NumPy and against a plain Python loop with explicit overflow."""
import numpy as np
import pytest

from hwgen.golden import gemm, gemm_tiled_ws
from hwgen.numerics import Format


def loop_reference(a, w, acc_bits, overflow, c=None):
    """Scalar Python, one accumulator at a time: the definition, spelled out."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    M, K = a.shape
    N = w.shape[1]
    out = np.zeros((M, N), dtype=np.int64)
    for m in range(M):
        for n in range(N):
            acc = 0 if c is None else int(c[m, n])
            for k in range(K):
                acc += int(a[m, k]) * int(w[k, n])
                if overflow == "saturate":
                    acc = min(max(acc, lo), hi)
                else:
                    acc = ((acc - lo) % (1 << acc_bits)) + lo
            out[m, n] = acc
    return out


def test_matches_numpy_without_overflow(seed):
    rng = np.random.default_rng(seed)
    a = Format(8).random(rng, (13, 70), extremes=0.1)
    w = Format(8).random(rng, (70, 9), extremes=0.1)
    for overflow in ("wrap", "saturate"):
        assert np.array_equal(gemm(a, w, acc_bits=32, overflow=overflow), a @ w)


@pytest.mark.parametrize("acc_bits", [16, 17, 20])
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_overflow_matches_loop(seed, acc_bits, overflow):
    rng = np.random.default_rng(seed)
    a = Format(8).random(rng, (5, 40), extremes=0.5)
    w = Format(8).random(rng, (40, 4), extremes=0.5)
    got = gemm(a, w, acc_bits=acc_bits, overflow=overflow)
    assert np.array_equal(got, loop_reference(a, w, acc_bits, overflow))


def test_saturation_happens_per_step_in_k_order():
    # products +16384, +16384, -16256: saturating, the sum sticks at 32767 before the
    # negative product, so the result is 16511; wrapping gives the exact 16512.
    a = np.array([[-128, -128, -128]])
    w = np.array([[-128], [-128], [127]])
    got = gemm(a, w, acc_bits=16, overflow="saturate")
    assert got[0, 0] == 16511
    assert gemm(a, w, acc_bits=16, overflow="wrap")[0, 0] == 16512


def test_wrap_exact_for_64_bit_accumulators(seed):
    rng = np.random.default_rng(seed)
    a = Format(16).random(rng, (3, 300), extremes=0.9)
    w = Format(16).random(rng, (300, 2), extremes=0.9)
    assert np.array_equal(gemm(a, w, acc_bits=64), loop_reference(a, w, 64, "wrap"))


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_ws_k_tiling_with_initial_accumulator_is_exact(seed, overflow):
    rng = np.random.default_rng(seed)
    a = Format(8).random(rng, (7, 23), extremes=0.4)
    w = Format(4).random(rng, (23, 5), extremes=0.4)
    for rows in (1, 4, 8, 23, 30):
        assert np.array_equal(gemm_tiled_ws(a, w, rows=rows, acc_bits=16, overflow=overflow),
                              gemm(a, w, acc_bits=16, overflow=overflow))


def test_shape_and_argument_errors():
    with pytest.raises(ValueError, match=r"gemm needs \(M, K\) @ \(K, N\)"):
        gemm(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="overflow must be"):
        gemm(np.zeros((1, 1)), np.zeros((1, 1)), overflow="clip")
    with pytest.raises(ValueError, match=r"c must be \(1, 1\)"):
        gemm(np.zeros((1, 1)), np.zeros((1, 1)), c=np.zeros((2, 2)))
