"""Decoder layers on a LUT engine with group dequantization: the group scales in hardware as
16-bit fixed point, one RUN per linear layer, bit-exact against the NumPy reference of the
same arithmetic; the fixed point's error against float scales is small and stated."""
import numpy as np
import pytest

from hwgen.config import loads
from hwgen.driver import Accelerator
from hwgen.llm.layers import LutLinear, LutReferenceLinear, ReferenceLinear, fixed_scales, quantize_layer
from hwgen.llm.model import DecoderBlock, KVCache, LlamaConfig, LLMError, random_weights
from hwgen.llm.run import run_llm

CFG = LlamaConfig(dim=32, n_heads=2, n_kv_heads=1, hidden=88, max_seq=8)
# every layer of CFG fits half of each memory: one RUN per linear layer
HW = loads("name: llm_lut\narray: {kind: lut, rows: 2, cols: 8, dequant: group, pe: {w: int4, acc: 48}}\n"
           "soc: {a_words: 512, w_words: 2048, acc_words: 256, scale_words: 128}\n")


@pytest.mark.parametrize("scheme", ["int4", "int2", "ternary"])
def test_run_llm_on_a_lut_engine_is_exact_one_run_per_linear(scheme, seed):
    r = run_llm(HW, model=CFG, prompt_len=4, decode=2, transport="golden", scheme=scheme, group=32, seed=seed,
                log=lambda *_: None)
    assert r["exact"], (scheme, seed)
    assert all(row["runs"] == 7 for row in r["per_layer"])       # q, k, v, o, gate, up, down
    assert r["group_scales"].startswith("hardware") and 0 < r["scale_rel_error"] < 2 ** -12
    assert r["min_cosine"] > (0.9 if scheme == "int4" else 0.2)   # 2-bit random weights: 0.31..0.97 over 25 seeds


def test_run_llm_on_the_verilated_lut_engine(seed):
    r = run_llm(HW, model=CFG, prompt_len=3, decode=1, transport="verilator", scheme="int4", group=32, seed=seed,
                log=lambda *_: None)
    assert r["exact"] and all(row["runs"] == 7 for row in r["per_layer"])


def test_fixed_point_scales_stay_close_to_the_float_scales(seed):
    """Per linear layer: the 16-bit fixed-point group scales move the output by < 1e-4 of its
    largest value (the host path keeps float32 scales)."""
    (w,) = random_weights(CFG, seed)
    x = np.random.default_rng(seed).normal(size=(5, CFG.dim)).astype(np.float32)
    q = quantize_layer(w, "int4", 32)
    fx = fixed_scales(q)
    for name in ("q_proj", "gate_proj"):
        a, b = LutReferenceLinear(fx, 48)(name, x), ReferenceLinear(q)(name, x)
        assert np.abs(a - b).max() < 1e-4 * np.abs(b).max()


def test_a_group_the_engine_cannot_take_is_refused(seed):
    (w,) = random_weights(CFG, seed)
    with Accelerator.open(HW, "golden") as acc:
        with pytest.raises(LLMError, match=r"group 24 must be 4·2\^l input channels"):
            LutLinear(acc, fixed_scales(quantize_layer(w, "int4", 24)))
        with pytest.raises(LLMError, match=r"int8 weights need int8 planes; llm_lut stores up to 4 bits"):
            LutLinear(acc, fixed_scales(quantize_layer(w, "int8", 32)))
    block = DecoderBlock(CFG, w)
    assert block is not None and KVCache is not None
