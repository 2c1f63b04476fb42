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


def group_loop_reference(a, w, acc_bits, group):
    """Saturation after each group of products (summed exactly), spelled out."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    out = np.zeros((a.shape[0], w.shape[1]), dtype=np.int64)
    for m in range(a.shape[0]):
        for n in range(w.shape[1]):
            acc = 0
            for k0 in range(0, a.shape[1], group):
                acc += sum(int(a[m, k]) * int(w[k, n]) for k in range(k0, min(k0 + group, a.shape[1])))
                acc = min(max(acc, lo), hi)
            out[m, n] = acc
    return out


@pytest.mark.parametrize("group", [1, 3, 4, 16])
def test_saturate_by_group_matches_loop(seed, group):
    rng = np.random.default_rng(seed)
    a = Format(8).random(rng, (4, 37), extremes=0.6)
    w = Format(8).random(rng, (37, 3), extremes=0.6)
    got = gemm(a, w, acc_bits=16, overflow="saturate", group=group)
    assert np.array_equal(got, group_loop_reference(a, w, 16, group))
    if group == 1:
        assert np.array_equal(got, loop_reference(a, w, 16, "saturate"))


def test_group_changes_saturated_result():
    """Grouping is not cosmetic: +20000 then -20000 in a 15-bit accumulator clamps at 16383
    when added one by one, but cancels exactly when summed as one group."""
    a, w = np.array([[1, 1]]), np.array([[20000], [-20000]])
    one = gemm(a, w, acc_bits=15, overflow="saturate", group=1)[0, 0]
    two = gemm(a, w, acc_bits=15, overflow="saturate", group=2)[0, 0]
    assert (one, two) == (16383 - 20000, 0)
