"""Safetensors loading: round trip, BF16, and clear errors for missing or mis-shaped tensors."""
import json
import struct

import numpy as np
import pytest

from hwgen.llm.model import LlamaConfig, random_weights
from hwgen.llm.weights import WeightsError, load_llama, read_safetensors, save_llama, tensor_name, write_safetensors

CFG = LlamaConfig(dim=16, n_heads=2, n_kv_heads=1, hidden=24, max_seq=8)


def test_round_trip(tmp_path, seed):
    layers = random_weights(CFG, seed, n_layers=2)
    save_llama(tmp_path / "m.safetensors", CFG, layers)
    cfg, got = load_llama(tmp_path / "m.safetensors")
    assert cfg == CFG and len(got) == 2
    assert all(np.array_equal(got[i].proj[k], layers[i].proj[k]) for i in range(2) for k in layers[i].proj)
    assert np.array_equal(got[1].post_norm, layers[1].post_norm)
    assert len(load_llama(tmp_path / "m.safetensors", layers=1)[1]) == 1


def test_bf16_is_widened(tmp_path):
    vals = np.array([1.0, -2.5, 3.140625], np.float32)
    bf = (vals.view(np.uint32) >> 16).astype(np.uint16)
    hdr = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(hdr)) + hdr + bf.tobytes())
    assert np.array_equal(read_safetensors(tmp_path / "b.safetensors")["x"], vals)


def test_missing_tensor(tmp_path):
    layers = random_weights(CFG, 1)
    save_llama(tmp_path / "m.safetensors", CFG, layers)
    with pytest.raises(WeightsError, match=r"model.layers.1.self_attn.q_proj.weight is missing \(layer 1 of 2 "
                                           r"asked for; the file has layers 0\)"):
        load_llama(tmp_path / "m.safetensors", layers=2)
    t = read_safetensors(tmp_path / "m.safetensors")
    del t[tensor_name(0, "up_proj")]
    write_safetensors(tmp_path / "m.safetensors", t)
    with pytest.raises(WeightsError, match=r"model.layers.0.mlp.up_proj.weight is missing"):
        load_llama(tmp_path / "m.safetensors")


def test_misshaped_tensor(tmp_path):
    layers = random_weights(CFG, 1)
    layers[0].proj["k_proj"] = np.zeros((16, 16), np.float32)  # kv_dim is 8
    save_llama(tmp_path / "m.safetensors", CFG, layers)
    with pytest.raises(WeightsError, match=r"k_proj.weight has shape \[16, 16\], expected \[8, 16\]"):
        load_llama(tmp_path / "m.safetensors")


def test_bad_files(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        read_safetensors(tmp_path / "x.safetensors")
    with pytest.raises(WeightsError, match="cannot read"):
        read_safetensors(tmp_path / "nope.safetensors")
    save_llama(tmp_path / "m.safetensors", CFG, random_weights(CFG, 1))
    (tmp_path / "config.json").write_text('{"hidden_size": 16}')
    with pytest.raises(WeightsError, match="config.json: missing key num_attention_heads"):
        load_llama(tmp_path / "m.safetensors")
