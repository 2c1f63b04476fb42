"""Quantizers: levels, round trip within half a step, BitNet's absmean, and the host-side
scale combination equal to a float computation on the dequantized operands."""
import numpy as np
import pytest

from hwgen.llm.quant import SCHEMES, combine, group_partials, linear_reference, quantize_activations, quantize_weight


@pytest.mark.parametrize("scheme", ["int8", "int4", "int2"])
def test_weight_round_trip_within_half_a_step(scheme, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.05, size=(24, 300)).astype(np.float32)
    qw = quantize_weight(w, scheme, group=64)
    lo, hi, grouped = SCHEMES[scheme]
    assert qw.q.dtype == np.int8 and qw.q.min() >= lo and qw.q.max() <= hi
    assert qw.scales.shape == (24, 5 if grouped else 1) and qw.group == (64 if grouped else 300)
    err = np.abs(qw.dequantize() - w)
    step = np.repeat(qw.scales, qw.group, axis=1)[:, :300]
    if scheme == "int2":  # the positive end clips to +1: up to one step for the largest weights
        assert np.all(err <= step * 1.0 + 1e-7)
        assert np.mean(err <= step * 0.5 + 1e-7) > 0.9
    else:
        assert np.all(err <= step * 0.5 + 1e-7)


def test_ternary_is_bitnet_absmean(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, size=(4, 128)).astype(np.float32)
    qw = quantize_weight(w, "ternary", group=128)
    assert set(np.unique(qw.q)) <= {-1, 0, 1}
    assert np.allclose(qw.scales[:, 0], np.abs(w).mean(axis=1))
    assert np.array_equal(qw.q, np.clip(np.rint(w / np.abs(w).mean(axis=1, keepdims=True)), -1, 1))


def test_activations_per_token(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, size=(5, 40)).astype(np.float32)
    x[2] = 0.0  # an all-zero token keeps scale 1, not a division by zero
    q, s = quantize_activations(x)
    assert q.dtype == np.int8 and np.abs(q).max() == 127 and s[2] == 1.0 and not q[2].any()
    assert np.all(np.abs(q * s[:, None] - x) <= s[:, None] / 2 + 1e-6)


@pytest.mark.parametrize("scheme,group", [("int8", 128), ("int4", 32), ("ternary", 16)])
def test_linear_reference_equals_float_on_dequantized(scheme, group, seed):
    """The integer path (exact partial sums per group, scales on the host) computes the
    float product of the dequantized operands, up to float32 rounding."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, size=(3, 96)).astype(np.float32)
    qw = quantize_weight(rng.normal(0, 0.1, size=(10, 96)), scheme, group=group)
    xq, xs = quantize_activations(x)
    y = linear_reference(x, qw)
    y_float = (xq * xs[:, None]).astype(np.float64) @ qw.dequantize().T.astype(np.float64)
    assert np.allclose(y, y_float, rtol=1e-5, atol=1e-5)
    # and group_partials/combine with any exact GEMM give the same bits
    parts = group_partials(lambda a, w: a.astype(np.int64) @ w.astype(np.int64), xq, qw)
    assert np.array_equal(combine(parts, xs, qw), y)


def test_bad_input():
    with pytest.raises(ValueError, match="weight scheme must be one of int8, int4, int2, ternary"):
        quantize_weight(np.zeros((2, 2)), "fp4")
    with pytest.raises(ValueError, match="2-D"):
        quantize_weight(np.zeros(4))
