"""The NumPy decoder block: KV-cache decode equals full recompute; the quantized path
(W8A8 through the integer GEMM with host scales) stays close to float."""
import numpy as np

from hwgen.llm.model import DecoderBlock, KVCache, LlamaConfig, random_weights, rope
from hwgen.llm.quant import linear_reference, quantize_weight

CFG = LlamaConfig(dim=64, n_heads=4, n_kv_heads=2, hidden=96, max_seq=32)


def test_kv_cache_decode_equals_full_recompute(seed):
    (w,) = random_weights(CFG, seed)
    block = DecoderBlock(CFG, w)
    x = np.random.default_rng(seed).normal(size=(9, CFG.dim)).astype(np.float32)
    full = block.forward(x, KVCache(CFG))
    cache = KVCache(CFG)
    prefill = block.forward(x[:5], cache)
    steps = [block.forward(x[i:i + 1], cache) for i in range(5, 9)]
    got = np.concatenate([prefill, *steps])
    assert cache.length == 9
    assert np.allclose(got, full, rtol=1e-5, atol=1e-5)


def test_rope_keeps_norms_and_relative_positions(seed):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(1, 1, 16)).astype(np.float32), rng.normal(size=(1, 1, 16)).astype(np.float32)
    a = (rope(q, np.array([3]), 1e4) * rope(k, np.array([1]), 1e4)).sum()
    b = (rope(q, np.array([12]), 1e4) * rope(k, np.array([10]), 1e4)).sum()
    assert np.isclose(a, b, rtol=1e-4) and np.isclose(np.linalg.norm(rope(q, np.array([7]), 1e4)), np.linalg.norm(q))


def test_w8a8_block_is_close_to_float(seed):
    (w,) = random_weights(CFG, seed)
    block = DecoderBlock(CFG, w)
    qws = {n: quantize_weight(m, "int8") for n, m in w.proj.items()}
    x = np.random.default_rng(seed).normal(size=(6, CFG.dim)).astype(np.float32)
    y_f = block.forward(x, KVCache(CFG))
    y_q = block.forward(x, KVCache(CFG), lambda n, h: linear_reference(h, qws[n]))
    d_f, d_q = (y_f - x).ravel(), (y_q - x).ravel()    # compare the block's contribution, not the residual
    cos = d_f @ d_q / np.linalg.norm(d_f) / np.linalg.norm(d_q)
    assert cos >= 0.99, cos
