"""Golden models of the LUT engines and the low-bit weight formats they read."""
import numpy as np
import pytest

from hwgen.golden.gemm import gemm
from hwgen.golden.lut import fixed_point_scales, grouped_gemm, lut_gemm
from hwgen.numerics import LowBitFormat, parse_lowbit

NAMES = ["binary", "ternary", "int2", "int3", "int4", "int8", "uint1", "uint2", "uint4", "bipolar2", "bipolar4"]


@pytest.mark.parametrize("name", NAMES)
def test_formats_encode_decode_and_plane_weights(name):
    f = parse_lowbit(name)
    assert f.name == name
    v = f.values()
    q = f.encode(v)
    assert q.min() >= 0 and q.max() < 1 << f.bits
    assert np.array_equal(f.decode(q), v)
    w, off = f.plane_weights()
    assert np.array_equal((w[:, None] * f.planes(q)).sum(axis=0) + off, v)
    assert (f.min, f.max) == (v.min(), v.max())


def test_format_values_are_what_the_formats_say():
    assert parse_lowbit("ternary").values().tolist() == [-1, 0, 1]
    assert parse_lowbit("binary").values().tolist() == [-1, 1]
    assert parse_lowbit("bipolar2").values().tolist() == [-3, -1, 1, 3]
    assert parse_lowbit("uint1").values().tolist() == [0, 1]
    assert parse_lowbit("int2").values().tolist() == [-2, -1, 0, 1]


@pytest.mark.parametrize("text", ["int1", "uint0", "uint9", "bipolar0", "int4 ", "float4", "", "ternary2"])
def test_bad_format_names_say_what_is_allowed(text):
    with pytest.raises(ValueError, match="expected a LUT weight format: int2..int8, uint1..uint8"):
        parse_lowbit(text)


def test_a_value_outside_the_format_is_named_by_index():
    with pytest.raises(ValueError, match=r"weights\[1, 2\] = 2 is not a ternary value \(integers -1..1\)"):
        parse_lowbit("ternary").encode(np.array([[0, 1, -1], [1, 0, 2]]))
    with pytest.raises(ValueError, match=r"weights\[0, 1\] = 2 is not a bipolar3 value \(odd integers -7..7\)"):
        parse_lowbit("bipolar3").check(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="must be integers"):
        parse_lowbit("int4").check(np.array([0.5]))


def test_lut_gemm_is_the_plain_matmul_of_the_values(seed):
    rng = np.random.default_rng(seed)
    for name in NAMES:
        f = parse_lowbit(name)
        a = rng.integers(-128, 128, (5, 37))
        w = f.random(rng, (37, 6), extremes=0.2)
        assert np.array_equal(lut_gemm(a, w, f, acc_bits=32), a @ w)
        assert np.array_equal(lut_gemm(a, w, f, acc_bits=12), gemm(a, w, acc_bits=12))


def test_grouped_gemm_is_the_dequantized_layer_exactly(seed):
    rng = np.random.default_rng(seed)
    f = LowBitFormat("uint", 4)
    a = rng.integers(-128, 128, (3, 64))
    q = f.random(rng, (64, 5))
    scale = rng.integers(-30000, 30000, (2, 5))
    zero = rng.integers(-30000, 30000, (2, 5))
    want = sum(a[:, g * 32:(g + 1) * 32] @ (q[g * 32:(g + 1) * 32] * scale[g] + zero[g]) for g in range(2))
    assert np.array_equal(grouped_gemm(a, q, f, group=32, scale=scale, zero=zero, acc_bits=64), want)
    # the accumulator wraps like the hardware's
    assert np.array_equal(grouped_gemm(a, q, f, group=32, scale=scale, zero=zero, acc_bits=24),
                          gemm(np.eye(3, dtype=np.int64), want, acc_bits=24))
    with pytest.raises(ValueError, match="multiple of the group size 24"):
        grouped_gemm(a, q, f, group=24, scale=scale)
    with pytest.raises(ValueError, match=r"scale must be \(K/group, N\) = \(2, 5\)"):
        grouped_gemm(a, q, f, group=32, scale=scale[:1])


def test_grouped_gemm_int64_path_equals_the_python_integer_path(seed):
    """The fast path (float64 partials, int64 sums) is taken only where nothing can round or
    overflow, and then equals the exact object-dtype sum wrapped at acc_bits."""
    from hwgen.golden.lut import _grouped_int64
    rng = np.random.default_rng(seed)
    for _ in range(50):
        g, n_g, m, n = int(rng.choice([4, 8, 32])), int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
        acc = int(rng.choice([20, 32, 48, 62]))
        a, q = rng.integers(-128, 128, (m, g * n_g)), rng.integers(-8, 16, (g * n_g, n))
        scale, zero = rng.integers(-32768, 32768, (n_g, n)), rng.integers(-32768, 32768, (n_g, n))
        fast = _grouped_int64(a, q, g, scale, zero, acc)
        assert fast is not None
        exact = sum((a[:, i * g:(i + 1) * g].astype(object) @ q[i * g:(i + 1) * g].astype(object)) * scale[i].astype(object)
                    + a[:, i * g:(i + 1) * g].astype(object).sum(axis=1)[:, None] * zero[i].astype(object)
                    for i in range(n_g))
        half = 1 << (acc - 1)
        assert [[int(v) for v in r] for r in fast] == [[(int(v) + half) % (1 << acc) - half for v in r] for r in exact]
    # operands too wide for float64 partials or int64 sums: the exact path, not a wrong fast one
    one, no = np.ones((1, 1), np.int64), np.zeros((1, 1), np.int64)
    big = np.full((1, 4), 1 << 51)
    assert _grouped_int64(big, np.ones((4, 1), np.int64), 4, one, no, 48) is None
    assert _grouped_int64(big >> 20, np.ones((4, 1), np.int64), 4, one << 30, no, 48) is None
    assert _grouped_int64(a, q, g, scale, zero, 63) is None
    y = grouped_gemm(big, np.ones((4, 1), np.int64), None, group=4, scale=np.full((1, 1), 3), acc_bits=48)
    assert int(y[0, 0]) == ((3 * 4 << 51) + (1 << 47)) % (1 << 48) - (1 << 47)


def test_fixed_point_scales_round_within_their_stated_bound(seed):
    rng = np.random.default_rng(seed)
    d = rng.uniform(1e-4, 3e-2, (8, 16)) * rng.choice([-1, 1], (8, 16))
    m = rng.uniform(-0.5, 0.0, (8, 16))
    D, M, frac = fixed_point_scales(d, m, bits=16)
    assert max(np.abs(D).max(), np.abs(M).max()) <= 32767
    assert max(np.abs(D).max(), np.abs(M).max()) > 16383   # the fixed point uses the width
    assert np.abs(D / 2.0 ** frac - d).max() <= 2.0 ** -(frac + 1)
    assert np.abs(M / 2.0 ** frac - m).max() <= 2.0 ** -(frac + 1)
    with pytest.raises(ValueError, match="finite"):
        fixed_point_scales(np.array([np.nan]))
