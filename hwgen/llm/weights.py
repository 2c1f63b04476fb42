"""Llama weights from a local safetensors file (read here, no extra dependency), plus the
small ``config.json`` beside it (Hugging Face keys). Nothing is downloaded.

Tensor names are the usual ones: ``model.layers.N.self_attn.{q,k,v,o}_proj.weight``,
``model.layers.N.mlp.{gate,up,down}_proj.weight``, ``model.layers.N.input_layernorm.weight``,
``model.layers.N.post_attention_layernorm.weight``.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .model import PROJECTIONS, LayerWeights, LlamaConfig

__all__ = ["WeightsError", "read_safetensors", "write_safetensors", "load_llama", "save_llama", "tensor_name"]

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16,
           "I8": np.int8, "I32": np.int32, "I64": np.int64}


class WeightsError(ValueError):
    """A weights or config file is missing, malformed, or does not match the model."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, as float32 for float dtypes (BF16 widened)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror})") from None
    if len(raw) < 8:
        raise WeightsError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        raise WeightsError(f"{path}: not a safetensors file (the header is not JSON)") from None
    data, out = raw[8 + n:], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info.get("dtype")
        if dtype not in _DTYPES:
            raise WeightsError(f"{path}: {name} has dtype {dtype}; supported: {', '.join(_DTYPES)}")
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=_DTYPES[dtype]).reshape(info["shape"])
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
    return out


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + arr.nbytes]}
        blobs.append(arr.tobytes())
        off += arr.nbytes
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def tensor_name(layer: int, key: str) -> str:
    if key in ("input_layernorm", "post_attention_layernorm"):
        return f"model.layers.{layer}.{key}.weight"
    part = "self_attn" if key in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"model.layers.{layer}.{part}.{key}.weight"


def _config(path: Path) -> LlamaConfig:
    cfg_path = path.with_name("config.json")
    if not cfg_path.exists():
        raise WeightsError(f"{path}: no config.json beside it (hidden_size, num_attention_heads, "
                           "num_key_value_heads, intermediate_size, rope_theta, rms_norm_eps)")
    try:
        c = json.loads(cfg_path.read_text())
        return LlamaConfig(dim=int(c["hidden_size"]), n_heads=int(c["num_attention_heads"]),
                           n_kv_heads=int(c.get("num_key_value_heads", c["num_attention_heads"])),
                           hidden=int(c["intermediate_size"]), rope_theta=float(c.get("rope_theta", 10000.0)),
                           norm_eps=float(c.get("rms_norm_eps", 1e-5)),
                           max_seq=int(c.get("max_position_embeddings", 256)))
    except KeyError as e:
        raise WeightsError(f"{cfg_path}: missing key {e.args[0]}") from None
    except (ValueError, TypeError) as e:
        raise WeightsError(f"{cfg_path}: {e}") from None


def load_llama(path: Path, layers: int | None = None) -> tuple[LlamaConfig, list[LayerWeights]]:
    """The config and the first ``layers`` layers (all when None) of a Llama checkpoint."""
    path = Path(path)
    cfg = _config(path)
    tensors = read_safetensors(path)
    have = sorted({int(k.split(".")[2]) for k in tensors if k.startswith("model.layers.")})
    n = layers if layers is not None else len(have)
    if n < 1:
        raise WeightsError(f"{path}: no model.layers.N tensors")
    out = []
    for i in range(n):
        def get(key, shape):
            name = tensor_name(i, key)
            if name not in tensors:
                raise WeightsError(f"{path}: {name} is missing (layer {i} of {n} asked for; the file has layers "
                                   f"{have[0] if have else '-'}..{have[-1] if have else '-'})")
            t = tensors[name]
            if tuple(t.shape) != tuple(shape):
                raise WeightsError(f"{path}: {name} has shape {list(t.shape)}, expected {list(shape)} from "
                                   f"config.json (dim {cfg.dim}, heads {cfg.n_heads}, kv heads {cfg.n_kv_heads}, "
                                   f"intermediate {cfg.hidden})")
            return t
        proj = {k: get(k, shape(cfg)) for k, shape in PROJECTIONS.items()}
        out.append(LayerWeights(proj, get("input_layernorm", (cfg.dim,)), get("post_attention_layernorm", (cfg.dim,))))
    return cfg, out


def save_llama(path: Path, cfg: LlamaConfig, layers: list[LayerWeights]) -> None:
    """Write ``layers`` and ``config.json`` (for tests and the demo's seeded model)."""
    path = Path(path)
    tensors = {}
    for i, w in enumerate(layers):
        tensors.update({tensor_name(i, k): m for k, m in w.proj.items()})
        tensors[tensor_name(i, "input_layernorm")] = w.input_norm
        tensors[tensor_name(i, "post_attention_layernorm")] = w.post_norm
    write_safetensors(path, tensors)
    path.with_name("config.json").write_text(json.dumps({
        "hidden_size": cfg.dim, "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads,
        "intermediate_size": cfg.hidden, "rope_theta": cfg.rope_theta, "rms_norm_eps": cfg.norm_eps,
        "max_position_embeddings": cfg.max_seq}, indent=1) + "\n")
