"""The STORE arithmetic (hwgen.golden.store): the pair-mixing requantization against Python
integers, the walk's bounds, and (hwgen.llm.kvquant) that its coefficients really are Llama's
rotary embedding and the cache's quantization."""
from fractions import Fraction

import numpy as np
import pytest

from hwgen.golden.store import requantize_pair, store_bounds_ok, store_steps
from hwgen.llm.kvquant import KvQuant, interleave_heads, rope_pairs, single_group
from hwgen.llm.model import LlamaConfig, random_weights, rmsnorm, rope
from hwgen.llm.quant import quantize_activations, quantize_weight


def _rhe(x: Fraction) -> int:
    """Round half to even, exactly."""
    f = x.numerator // x.denominator
    r = x - f
    return f + (r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2 == 1))


def test_requantize_pair_is_the_exact_rounded_mix(seed):
    rng = np.random.default_rng(seed)
    for acc_bits in (20, 32, 48):
        acc = rng.integers(-2**(acc_bits - 1), 2**(acc_bits - 1), size=(5, 6))
        a, b = (rng.integers(-2**15, 2**15, 6) for _ in range(2))
        shift = int(rng.integers(0, 64))
        got = requantize_pair(acc, a, b, shift)
        for m in range(5):
            for c in range(6):
                v = _rhe(Fraction(int(acc[m, c]) * int(a[c]) + int(acc[m, c ^ 1]) * int(b[c]), 2**shift))
                assert got[m, c] == min(127, max(-128, v)), (acc_bits, m, c)
    assert np.array_equal(requantize_pair(acc, a, None, 3), requantize_pair(acc, a, np.zeros(6, np.int64), 3))
    with pytest.raises(ValueError, match="signed 16-bit"):
        requantize_pair(acc, a + 2**16, b, 3)


def test_store_walk_bounds():
    common = dict(flags=1, shift=4, src=0, src1=1, src2=4, dst=2, dst1=10, dst2=1, coef=0, coef1=0, coef2=2)
    sizes = dict(acc_words=12, scale_words=6, pim_words=40)
    assert store_bounds_ok(**common, n1=4, n2=3, **sizes)          # last: acc 11, scale 4 (+1), pim 34
    assert not store_bounds_ok(**common, n1=4, n2=4, **sizes)      # acc 15
    assert not store_bounds_ok(**{**common, "coef2": 3}, n1=4, n2=3, **sizes)   # scale 6 + 1
    assert store_bounds_ok(**{**common, "flags": 0, "coef2": 2}, n1=4, n2=3, **{**sizes, "scale_words": 5})
    assert not store_bounds_ok(**{**common, "flags": 2}, n1=1, n2=1, **sizes)
    assert not store_bounds_ok(**common, n1=0, n2=1, **sizes)
    assert list(store_steps(2, 3, 5, 1, 10)) == [5, 6, 15, 16, 25, 26]


def test_store_coefficients_are_rotary_and_the_cache_scale(seed):
    """k8 · σ · s_x, back in Llama's half-split order, is rope(x·Wkᵀ) of the quantized weights
    to within the int8 step; V likewise without the rotation."""
    cfg = LlamaConfig(dim=64, n_heads=4, n_kv_heads=2, hidden=96)
    w = random_weights(cfg, seed, 1)[0]
    qk = interleave_heads(quantize_weight(w.proj["k_proj"], "int8", 64), cfg.head_dim)
    qv = quantize_weight(w.proj["v_proj"], "int8", 64)
    assert single_group(qk) and single_group(qv)
    kvq = KvQuant.calibrate(cfg, w, qk, qv)
    rng = np.random.default_rng(seed)
    h = rmsnorm(rng.normal(size=(6, cfg.dim)).astype(np.float32), w.input_norm, cfg.norm_eps)
    xq, xs = quantize_activations(h)
    pos = 37
    (ka, kb, sk), (va, _, sv) = kvq.coefs(pos)
    k8 = requantize_pair(xq.astype(np.int64) @ qk.q.astype(np.int64).T, ka, kb, sk)
    v8 = requantize_pair(xq.astype(np.int64) @ qv.q.astype(np.int64).T, va, None, sv)
    hd, kvh = cfg.head_dim, cfg.n_kv_heads
    k_real = k8.reshape(6, kvh, hd) * (xs[:, None] * kvq.sigma_k)[:, :, None]
    # the float path on the interleaved layout, and the same in Llama's own half-split order
    k_float = (xq @ qk.q.astype(np.float32).T) * qk.scales[:, 0] * xs[:, None]
    want = rope_pairs(k_float.reshape(6, kvh, hd), np.full(6, pos), cfg.rope_theta)
    half = np.concatenate([k_float.reshape(6, kvh, hd)[..., 0::2], k_float.reshape(6, kvh, hd)[..., 1::2]], -1)
    llama = rope(half, np.full(6, pos), cfg.rope_theta)
    assert np.allclose(np.concatenate([want[..., 0::2], want[..., 1::2]], -1), llama, atol=1e-4)
    # within about one int8 step (the coefficients' own rounding adds a little to the half step),
    # except where a value passed the calibrated range and was clipped (rare: HEADROOM)
    k_in = (np.abs(k8) < 127).reshape(6, kvh, hd // 2, 2).all(-1).repeat(2, -1)
    step = (xs[:, None] * kvq.sigma_k)[:, :, None]
    assert k_in.mean() > 0.95
    assert (np.abs(k_real - want) / step)[k_in].max() <= 1.0
    v_float = ((xq @ qv.q.astype(np.float32).T) * qv.scales[:, 0] * xs[:, None]).reshape(6, kvh, hd)
    v_real = v8.reshape(6, kvh, hd) * (xs[:, None] * kvq.sigma_v)[:, :, None]
    v_in = (np.abs(v8) < 127).reshape(6, kvh, hd)
    assert v_in.mean() > 0.95
    assert (np.abs(v_real - v_float) / (xs[:, None] * kvq.sigma_v)[:, :, None])[v_in].max() <= 0.51
