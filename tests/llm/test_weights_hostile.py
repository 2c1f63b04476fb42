"""Truncated, corrupted and hostile safetensors and config.json files: each one is a
WeightsError naming the file, the tensor or key and the offset — never an IndexError,
KeyError, TypeError, MemoryError or a NumPy ValueError, never a read past the file, never
an allocation of what the header claims. Plus a Hypothesis property: byte flips and
truncations of a valid file either load what the file's bytes say or raise WeightsError."""
import json
import math
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hwgen.llm.model import LlamaConfig, random_weights
from hwgen.llm.weights import MAX_HEADER, WeightsError, load_llama, read_safetensors, save_llama, write_safetensors

# a small valid file: F32 [2, 3] at [0, 24], I8 [4] at [24, 28]
A = {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
B = {"dtype": "I8", "shape": [4], "data_offsets": [24, 28]}
DATA = np.arange(6, dtype="<f4").tobytes() + bytes([1, 2, 3, 0xFF])


def st_file(header, data=DATA, length=None) -> bytes:
    """A safetensors file: ``header`` (an object, or the header's raw bytes/text), ``data`` after it."""
    text = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def hdr(**entries):
    return {"a": A, "b": B, **entries}


def with_a(**fields):
    return hdr(a={**A, **fields})


VALID = st_file(hdr())
N = len(json.dumps(hdr()))   # header length of VALID; the data region starts at file byte 8 + N

#: name → (file bytes, fragment the WeightsError must contain)
CASES = {
    # the 8-byte length
    "empty": (b"", "(0 bytes, shorter than the 8-byte header length"),
    "five bytes": (b"\x05\x00\x00\x00\x00", "(5 bytes, shorter than the 8-byte header length"),
    "length 2**64-1": (st_file(hdr(), length=2**64 - 1), f"header length {2**64 - 1:,} bytes (bytes 0..8) is over "
                       f"the {MAX_HEADER:,}-byte limit"),
    "length 2**40": (st_file(hdr(), length=2**40), f"header length {2**40:,} bytes"),
    "length past the end": (st_file("{}", b"", length=1000), "header length 1,000 bytes (bytes 0..8) runs past the "
                            "end of the file (10 bytes, so at most 2)"),
    "only the length": (struct.pack("<Q", 8), "header length 8 bytes (bytes 0..8) runs past the end of the file"),
    # the header itself
    "empty header": (st_file(b"", b""), "the header (file bytes 8..8) is not JSON: Expecting value at byte 0"),
    "header cut short": (VALID[:8] + VALID[8:8 + N // 2], "runs past the end of the file"),
    "header not UTF-8": (st_file(b'{"\xff": 1}'), "the header (file bytes 8..16) is not UTF-8 (invalid start byte "
                         "at file byte 10)"),
    "header not JSON": (st_file(b"hello, world"), "is not JSON: Expecting value at byte 0 of it"),
    "header a JSON array": (st_file([]), "the header is a JSON array, expected an object"),
    "header a JSON number": (st_file(b"42"), "the header is a JSON number, expected an object"),
    "NaN in the header": (st_file(b'{"a": NaN}'), "is not JSON: NaN is not JSON"),
    "nesting bomb": (st_file(b"[" * 200_000), "nested too deeply"),
    "integer of 5000 digits": (st_file(b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b"]}}"), "is not JSON"),
    "tensor named twice": (st_file(b'{"a": %s, "a": %s}' % (json.dumps(A).encode(), json.dumps(A).encode()), DATA[:24]),
                           "names the key 'a' twice"),
    "dtype named twice": (st_file(b'{"a": {"dtype": "I8", "dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}',
                                  DATA[:24]), "names the key 'dtype' twice"),
    "__metadata__ not strings": (st_file(hdr(__metadata__={"format": 1})),
                                 "__metadata__ must be an object of strings, got 1"),
    "__metadata__ an array": (st_file(hdr(__metadata__=["pt"])),
                              "__metadata__ must be an object of strings, got ['pt']"),
    # one entry
    "entry an array": (st_file(hdr(a=[0, 24])), "tensor 'a': entry is a JSON array, expected an object"),
    "entry null": (st_file(hdr(a=None)), "tensor 'a': entry is a JSON null"),
    "no dtype": (st_file(hdr(a={"shape": [2, 3], "data_offsets": [0, 24]})), "tensor 'a': no 'dtype'"),
    "no shape": (st_file(hdr(a={"dtype": "F32", "data_offsets": [0, 24]})), "tensor 'a': no 'shape'"),
    "no data_offsets": (st_file(hdr(a={"dtype": "F32", "shape": [2, 3]})), "tensor 'a': no 'data_offsets'"),
    "unknown dtype": (st_file(with_a(dtype="F33")), "tensor 'a': dtype 'F33' is not a safetensors dtype (readable: "
                      "F64, F32, F16, BF16"),
    "dtype lower case": (st_file(with_a(dtype="f32")), "dtype 'f32' is not a safetensors dtype"),
    "dtype a number": (st_file(with_a(dtype=4)), "dtype 4 is not a safetensors dtype"),
    "dtype an array": (st_file(with_a(dtype=["F32"])), "dtype ['F32'] is not a safetensors dtype"),
    "dtype FP8": (st_file(with_a(dtype="F8_E4M3")), "dtype 'F8_E4M3' is not supported here"),
    "shape a number": (st_file(with_a(shape=6)), "tensor 'a': shape must be a list of non-negative integers, got 6"),
    "shape a string": (st_file(with_a(shape="2x3")), "shape must be a list of non-negative integers, got '2x3'"),
    "negative dim": (st_file(with_a(shape=[-2, -3])), "got [-2, -3]"),
    "float dim": (st_file(with_a(shape=[2.0, 3])), "got [2.0, 3]"),
    "boolean dim": (st_file(with_a(shape=[True, 6])), "got [True, 6]"),
    "huge dims": (st_file(with_a(shape=[2**40, 2**40])), "tensor 'a': shape [1099511627776, 1099511627776] of F32 "
                  "needs 4,835,703,278,458,516,698,824,704 bytes, data_offsets [0, 24] hold 24"),
    "40 dims": (st_file(with_a(shape=[1] * 40)), "tensor 'a': shape has 40 dimensions, at most 32"),
    "shape too small": (st_file(with_a(shape=[2, 2])),
                        "shape [2, 2] of F32 needs 16 bytes, data_offsets [0, 24] hold 24"),
    "shape too big": (st_file(with_a(shape=[3, 3])), "needs 36 bytes, data_offsets [0, 24] hold 24"),
    "dtype wider than its bytes": (st_file(with_a(dtype="F64")), "shape [2, 3] of F64 needs 48 bytes"),
    "I32 in the bytes of I8": (st_file(hdr(b={**B, "dtype": "I32"})),
                               "tensor 'b': shape [4] of I32 needs 16 bytes, data_offsets [24, 28] hold 4"),
    "odd byte count for F16": (st_file(hdr(b={**B, "dtype": "F16", "shape": [2], "data_offsets": [24, 27]}), DATA[:27]),
                               "tensor 'b': shape [2] of F16 needs 4 bytes, data_offsets [24, 27] hold 3"),
    "offsets past the end": (st_file(with_a(data_offsets=[0, 2400])), "tensor 'a': data_offsets [0, 2400] run past "
                             f"the end of the file: offset 2400 is file byte "
                             f"{8 + len(json.dumps(with_a(data_offsets=[0, 2400]))) + 2400:,}, the data region is file "
                             f"bytes {8 + N + 2}..{8 + N + 30} (28 bytes)"),
    "offsets at 2**64": (st_file(with_a(data_offsets=[2**64, 2**64 + 24])), "run past the end of the file"),
    "offsets reversed": (st_file(with_a(data_offsets=[24, 0])),
                         "tensor 'a': data_offsets [24, 0] end before they begin"),
    "negative offset": (st_file(with_a(data_offsets=[-4, 20])), "tensor 'a': data_offsets must be [begin, end], two "
                        "non-negative integers, got [-4, 20]"),
    "float offsets": (st_file(with_a(data_offsets=[0.0, 24.0])), "got [0.0, 24.0]"),
    "string offsets": (st_file(with_a(data_offsets=["0", "24"])), "got ['0', '24']"),
    "three offsets": (st_file(with_a(data_offsets=[0, 24, 28])), "got [0, 24, 28]"),
    "offsets an object": (st_file(with_a(data_offsets={"begin": 0})), "got {'begin': 0}"),
    "boolean offsets": (st_file(with_a(data_offsets=[False, True])), "got [False, True]"),
    # all entries together
    "overlap": (st_file(hdr(b={**B, "data_offsets": [20, 24]})), "tensor 'b': data_offsets [20, 24] overlap tensor "
                "'a' [0, 24] (tensors must not share bytes)"),
    "same bytes twice": (st_file(hdr(c={**A}), DATA), "tensor 'c': data_offsets [0, 24] overlap tensor 'a' [0, 24]"),
    "hole": (st_file(hdr(b={**B, "data_offsets": [26, 30]}), DATA + b"\0\0"), f"bytes 24..26 of the data region (file "
             f"bytes {8 + N + 24:,}..{8 + N + 26:,}) belong to no tensor, before tensor 'b' [26, 30]"),
    "hole at the start": (st_file({"b": {**B, "data_offsets": [4, 8]}}, DATA[:8]), "bytes 0..4 of the data region"),
    "trailing data": (VALID + b"\0\0\0\0", f"the data region has 32 bytes but the tensors end at offset 28: file bytes "
                      f"{8 + N + 28:,}..{8 + N + 32:,} belong to no tensor"),
    "data but no tensors": (st_file({}, b"\0" * 8), "the data region has 8 bytes but the tensors end at offset 0"),
    "truncated data": (VALID[:-1], "tensor 'b': data_offsets [24, 28] run past the end of the file"),
    "data cut after the header": (VALID[:8 + N], "tensor 'a': data_offsets [0, 24] run past the end of the file"),
    "long name": (st_file({"x" * 10_000: {**A, "dtype": "?"}}), "tensor 'xxxxxxxx"),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_safetensors(tmp_path, name):
    data, fragment = CASES[name]
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    with pytest.raises(WeightsError) as e:
        read_safetensors(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and fragment in msg, msg
    assert len(msg) < 600, msg   # a hostile name or shape is quoted, cut short


def test_the_valid_file_reads(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(VALID)
    t = read_safetensors(tmp_path / "w.safetensors")
    assert t["a"].dtype == np.float32 and np.array_equal(t["a"], np.arange(6).reshape(2, 3))
    assert t["b"].dtype == np.int8 and t["b"].tolist() == [1, 2, 3, -1]


@pytest.mark.parametrize("header, data, expect", [
    ({}, b"", {}),                                                           # no tensors at all
    (hdr(__metadata__={"format": "pt"}), DATA, {"a": (2, 3), "b": (4,)}),
    (hdr(__metadata__=None), DATA, {"a": (2, 3), "b": (4,)}),               # null metadata, as the reference reads it
    (hdr(z={"dtype": "F32", "shape": [0, 5], "data_offsets": [24, 24]}), DATA, {"a": (2, 3), "b": (4,), "z": (0, 5)}),
    (hdr(s={"dtype": "U8", "shape": [], "data_offsets": [28, 29]}), DATA + b"\x07", {"a": (2, 3), "b": (4,), "s": ()}),
    ({"b": B, "a": A}, DATA, {"a": (2, 3), "b": (4,)}),                      # entries in any order
])
def test_edge_cases_that_are_valid(tmp_path, header, data, expect):
    (tmp_path / "w.safetensors").write_bytes(st_file(header, data) if header else st_file(b"{}      ", data))
    got = read_safetensors(tmp_path / "w.safetensors")
    assert {k: v.shape for k, v in got.items()} == expect


def test_not_a_file(tmp_path):
    (tmp_path / "w.safetensors").mkdir()
    with pytest.raises(WeightsError, match=r"w.safetensors: not a regular file"):
        read_safetensors(tmp_path / "w.safetensors")
    (tmp_path / "locked.safetensors").write_bytes(VALID)
    (tmp_path / "locked.safetensors").chmod(0)
    if not os.access(tmp_path / "locked.safetensors", os.R_OK):   # root reads anyway
        with pytest.raises(WeightsError, match=r"locked.safetensors: cannot read \(Permission denied\)"):
            read_safetensors(tmp_path / "locked.safetensors")
    with pytest.raises(WeightsError, match="/dev/zero: not a regular file"):
        read_safetensors("/dev/zero")
    os.mkfifo(tmp_path / "fifo.safetensors")   # open() would wait for a writer forever
    with pytest.raises(WeightsError, match="fifo.safetensors: not a regular file"):
        read_safetensors(tmp_path / "fifo.safetensors")


def test_every_dtype_decodes_little_endian(tmp_path):
    vals = [0, 1, 2, 127]
    for dtype, np_dtype in [("F64", "<f8"), ("F32", "<f4"), ("F16", "<f2"), ("I64", "<i8"), ("I32", "<i4"),
                            ("I16", "<i2"), ("I8", "i1"), ("U64", "<u8"), ("U32", "<u4"), ("U16", "<u2"), ("U8", "u1")]:
        raw = np.array(vals, np_dtype).tobytes()
        (tmp_path / "w.safetensors").write_bytes(st_file({"x": {"dtype": dtype, "shape": [4],
                                                               "data_offsets": [0, len(raw)]}}, raw))
        x = read_safetensors(tmp_path / "w.safetensors")["x"]
        assert x.tolist() == vals and x.dtype.isnative and x.flags.writeable, dtype


# ---------------------------------------------------------------- load_llama: names, dtypes, values
CFG = LlamaConfig(dim=16, n_heads=2, n_kv_heads=1, hidden=24, max_seq=8)


def _model(tmp_path, edit=None, layers=1):
    save_llama(tmp_path / "m.safetensors", CFG, random_weights(CFG, 1, n_layers=layers))
    tensors = read_safetensors(tmp_path / "m.safetensors")
    if edit:
        edit(tensors)
        write_safetensors(tmp_path / "m.safetensors", tensors)
    return tmp_path / "m.safetensors"


Q0 = "model.layers.0.self_attn.q_proj.weight"

LLAMA_CASES = {
    "a layer called x": (lambda t: t.update({"model.layers.x.foo": np.zeros(1)}),
                         "tensor 'model.layers.x.foo' is not model.layers.N.<name> with N a layer number"),
    "no layer number": (lambda t: t.update({"model.layers.": np.zeros(1)}), "tensor 'model.layers.' is not"),
    "leading zero": (lambda t: t.update({"model.layers.01.mlp.up_proj.weight": np.zeros(1)}),
                     "tensor 'model.layers.01.mlp.up_proj.weight' is not model.layers.N"),
    "a bias": (lambda t: t.update({"model.layers.0.self_attn.q_proj.bias": np.zeros(16)}),
               "tensor 'model.layers.0.self_attn.q_proj.bias' is not part of a Llama layer"),
    "a Qwen3 q_norm": (lambda t: t.update({"model.layers.0.self_attn.q_norm.weight": np.zeros(8)}),
                       "is not part of a Llama layer"),
    "a gap in the layers": (lambda t: t.update({k.replace("layers.1.", "layers.2."): t.pop(k)
                                                for k in [k for k in t if ".layers.1." in k]}),
                            "model.layers.1.self_attn.q_proj.weight is missing (layer 1 of 2 asked for; the file has "
                            "layers 0, 2)"),
    "NaN weight": (lambda t: t[Q0].__setitem__((3, 4), np.nan),
                   f"{Q0} has 1 values that are NaN or infinite as float32 (the first at flat index 52)"),
    "infinite norm": (lambda t: t["model.layers.0.input_layernorm.weight"].__setitem__(0, np.inf),
                      "input_layernorm.weight has 1 values that are NaN or infinite"),
}


@pytest.mark.parametrize("name", LLAMA_CASES)
def test_hostile_llama(tmp_path, name):
    edit, fragment = LLAMA_CASES[name]
    path = _model(tmp_path, edit, layers=3 if name == "a gap in the layers" else 1)
    with pytest.raises(WeightsError) as e:
        load_llama(path)
    assert str(e.value).startswith(f"{path}: ") and fragment in str(e.value), str(e.value)


def test_llama_integer_and_f64_weights(tmp_path):
    path = _model(tmp_path)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    # q_proj as I32 of the same bytes: quantized-looking weights are refused, not read as numbers
    header[Q0]["dtype"] = "I32"
    path.write_bytes(st_file(header, raw[8 + n:]))
    with pytest.raises(WeightsError, match=rf"{Q0} is int32 \(integer\), expected float weights"):
        load_llama(path)
    # F64 beyond float32's range: inf after the cast, refused
    t = read_safetensors(_model(tmp_path))
    big = np.full((2,), 1e300, "<f8").tobytes()
    hdr64 = {"model.layers.0.input_layernorm.weight": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}
    path.write_bytes(st_file(hdr64, big))
    assert math.isinf(read_safetensors(path)["model.layers.0.input_layernorm.weight"][0])
    assert t  # the valid model read fine before


def test_the_rotary_table_of_older_exports_is_accepted(tmp_path):
    path = _model(tmp_path, lambda t: t.update({"model.layers.0.self_attn.rotary_emb.inv_freq": np.ones(4),
                                               "model.embed_tokens.weight": np.zeros((10, 16)), "lm_head.weight":
                                               np.zeros((10, 16))}))
    assert len(load_llama(path)[1]) == 1


@pytest.mark.parametrize("layers", [0, -1, 1.5, True])
def test_layers_must_be_positive(tmp_path, layers):
    with pytest.raises(WeightsError, match=f"layers must be a positive integer, got {layers}"):
        load_llama(_model(tmp_path), layers)


# ---------------------------------------------------------------- config.json
GOOD = {"hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 24,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 8}

CONFIG_CASES = {
    "not JSON": (b"hidden_size = 16", "config.json is not JSON: Expecting value at byte 0 of it"),
    "not UTF-8": (b'{"hidden_size": "\xff"}', "config.json: not UTF-8 (invalid start byte at byte 17)"),
    "an array": (b"[16, 2, 1, 24]", "config.json: a JSON array, expected an object with hidden_size"),
    "a key twice": (b'{"hidden_size": 16, "hidden_size": 32}', "names the key 'hidden_size' twice"),
    "nesting bomb": (b'{"a": ' + b"[" * 100_000, "nested too deeply"),
    "over a megabyte": (b" " * 1_000_001 + b"{}", "config.json: over 1,000,000 bytes"),
    "missing hidden_size": ({k: v for k, v in GOOD.items() if k != "hidden_size"},
                            "config.json: missing key hidden_size"),
    "hidden_size a string": ({**GOOD, "hidden_size": "16"},
                             "config.json: hidden_size must be a positive integer, got '16'"),
    "hidden_size a float": ({**GOOD, "hidden_size": 16.5}, "hidden_size must be a positive integer, got 16.5"),
    "hidden_size true": ({**GOOD, "hidden_size": True}, "hidden_size must be a positive integer, got True"),
    "hidden_size an array": ({**GOOD, "hidden_size": [16]}, "hidden_size must be a positive integer, got [16]"),
    "hidden_size zero": ({**GOOD, "hidden_size": 0}, "config.json: hidden_size must be positive, got 0"),
    "hidden_size negative": ({**GOOD, "hidden_size": -16}, "hidden_size must be positive, got -16"),
    "no heads": ({**GOOD, "num_attention_heads": 0}, "num_attention_heads must be positive, got 0"),
    "no KV heads": ({**GOOD, "num_key_value_heads": 0}, "num_key_value_heads must be positive, got 0"),
    "intermediate_size negative": ({**GOOD, "intermediate_size": -24}, "intermediate_size must be positive, got -24"),
    "max_position_embeddings zero": ({**GOOD, "max_position_embeddings": 0},
                                     "max_position_embeddings must be positive"),
    "rope_theta a string": ({**GOOD, "rope_theta": "1e4"}, "rope_theta must be a positive number, got '1e4'"),
    "rope_theta NaN": (json.dumps({**GOOD, "rope_theta": float("nan")}).encode(), "NaN is not JSON"),
    "rms_norm_eps negative": ({**GOOD, "rms_norm_eps": -1e-5}, "rms_norm_eps must be positive, got -1e-05"),
    "heads do not divide": ({**GOOD, "num_attention_heads": 3}, "hidden_size 16 must be num_attention_heads 3 × an "
                            "even head size"),
    "odd head size": ({**GOOD, "hidden_size": 12, "num_attention_heads": 4}, "× an even head size"),
    "KV heads do not divide": ({**GOOD, "num_attention_heads": 4, "num_key_value_heads": 3},
                               "num_attention_heads 4 must be a multiple of num_key_value_heads 3"),
    "head_dim of its own": ({**GOOD, "head_dim": 16}, "head_dim 16 is not hidden_size / num_attention_heads = 8"),
    "rope_scaling": ({**GOOD, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, "rope_scaling {'rope_type': "),
    "attention bias": ({**GOOD, "attention_bias": True}, "attention_bias true is not supported"),
    "gelu": ({**GOOD, "hidden_act": "gelu"}, "hidden_act 'gelu' is not supported"),
}


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_hostile_config(tmp_path, name):
    text, fragment = CONFIG_CASES[name]
    path = _model(tmp_path)
    (tmp_path / "config.json").write_bytes(text if isinstance(text, bytes) else json.dumps(text).encode())
    with pytest.raises(WeightsError) as e:
        load_llama(path)
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}") and fragment in str(e.value), str(e.value)


def test_config_defaults_and_nulls(tmp_path):
    path = _model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 16, "num_attention_heads": 2,
                                                      "num_key_value_heads": None, "intermediate_size": 24,
                                                      "head_dim": 8, "rope_scaling": None, "hidden_act": "silu"}))
    with pytest.raises(WeightsError, match=r"k_proj.weight has shape \[8, 16\], expected \[16, 16\]"):
        load_llama(path)   # num_key_value_heads null → as many as the heads; this file has 1
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").mkdir()
    with pytest.raises(WeightsError, match=r"config.json: not a regular file"):
        load_llama(path)


# ---------------------------------------------------------------- property: flips and truncations
def _small_file() -> bytes:
    tensors = {"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]},
               "h": {"dtype": "F16", "shape": [3], "data_offsets": [24, 30]},
               "b": {"dtype": "BF16", "shape": [2], "data_offsets": [30, 34]},
               "q": {"dtype": "I8", "shape": [2, 2], "data_offsets": [34, 38]},
               "__metadata__": {"format": "pt"}}
    data = (np.linspace(-1, 1, 6, dtype="<f4").tobytes() + np.array([0.5, -2, 3], "<f2").tobytes()
            + np.array([0x3F80, 0xC000], "<u2").tobytes() + bytes([1, 0x80, 0x7F, 0]))
    return st_file(tensors, data)


SMALL = _small_file()
SMALL_N = struct.unpack("<Q", SMALL[:8])[0]


def _oracle(raw: bytes) -> dict[str, bytes]:
    """What the file's bytes say, decoded independently (trusting the header; only called on files
    read_safetensors accepted): name → (dtype, shape, float32/int bytes)."""
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        chunk = raw[8 + n + b:8 + n + end]
        if e["dtype"] == "BF16":
            a = (np.frombuffer(chunk, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(chunk, {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "U8": "u1", "I16": "<i2",
                                      "U16": "<u2", "I32": "<i4", "U32": "<u4", "I64": "<i8", "U64": "<u8"}[e["dtype"]])
        a = a.astype(np.float32) if a.dtype.kind == "f" else a.astype(a.dtype.type)
        out[name] = (a.dtype, tuple(e["shape"]), a.tobytes())
    return out


def _read(tmp_path, raw: bytes):
    path = tmp_path / "p.safetensors"
    path.write_bytes(raw)
    try:
        got = read_safetensors(path)
    except WeightsError as e:
        assert str(e).startswith(f"{path}: ")
        event("refused")
        return None
    event("loaded")
    return {k: (v.dtype, v.shape, v.tobytes()) for k, v in got.items()}


PROPERTY = settings(max_examples=200, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(st.integers(0, len(SMALL) - 1))
def test_every_truncation_is_refused(tmp_path, keep):
    assert _read(tmp_path, SMALL[:keep]) is None


@PROPERTY
@given(st.binary(min_size=1, max_size=16))
def test_every_appended_tail_is_refused(tmp_path, tail):
    assert _read(tmp_path, SMALL + tail) is None


@settings(PROPERTY, max_examples=500)
@given(st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(1, 255)), min_size=1, max_size=3))
def test_byte_flips_load_what_the_bytes_say_or_are_refused(tmp_path, flips):
    raw = bytearray(SMALL)
    for pos, mask in flips:
        raw[pos] ^= mask
    raw = bytes(raw)
    got = _read(tmp_path, raw)
    if all(pos >= 8 + SMALL_N for pos, _ in flips):   # only tensor data changed: still a valid file
        assert got is not None
    if got is not None:
        assert got == _oracle(raw)
        if raw[:8 + SMALL_N] == SMALL[:8 + SMALL_N]:
            assert got.keys() == _oracle(SMALL).keys()


JUNK = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=6)
SMALL_INT = st.integers(-2, 40)
ENTRY = st.fixed_dictionaries({}, optional={
    "dtype": st.sampled_from(["F32", "F16", "BF16", "I8", "U8", "I64", "F64", "BOOL", "f32"]) | JUNK,
    "shape": st.lists(SMALL_INT, max_size=3) | JUNK,
    "data_offsets": st.lists(SMALL_INT, min_size=2, max_size=2) | JUNK})


@PROPERTY
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "__metadata__"]), ENTRY | JUNK, max_size=4),
       st.binary(max_size=48))
def test_generated_headers_load_what_they_say_or_are_refused(tmp_path, header, data):
    raw = st_file(json.dumps(header, allow_nan=False) if not _has_nan(header) else b"{}", data)
    got = _read(tmp_path, raw)
    if got is not None:
        assert got == _oracle(raw)


def _has_nan(v) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, (list, dict)):
        return any(map(_has_nan, v.values() if isinstance(v, dict) else v))
    return False
