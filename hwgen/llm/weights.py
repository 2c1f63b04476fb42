"""Llama weights from a local safetensors file (read here, no extra dependency), plus the
small ``config.json`` beside it (Hugging Face keys). Nothing is downloaded.

Tensor names are the usual ones: ``model.layers.N.self_attn.{q,k,v,o}_proj.weight``,
``model.layers.N.mlp.{gate,up,down}_proj.weight``, ``model.layers.N.input_layernorm.weight``,
``model.layers.N.post_attention_layernorm.weight``.

Both files are treated as hostile: every number in them is checked before it is used, and
anything wrong is a :class:`WeightsError` naming the file, the tensor or key, the offset where
one applies, and what would be right. The safetensors reader follows the reference
implementation's rules (``huggingface/safetensors``, ``Metadata::validate``): a header of at most
100 MB of UTF-8 JSON, an object of tensors whose ``data_offsets`` (relative to the first byte
after the header) tile the data region exactly — in order, no overlap, no hole, ending at the
end of the file — each holding exactly ``prod(shape) · dtype size`` bytes. It also refuses a
header that names a key twice (JSON readers disagree on which one wins). It reads the
8-byte length, then the header, then each tensor's bytes by seeking, so memory is bounded by
what the file really holds, never by what the header claims.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import PROJECTIONS, LayerWeights, LlamaConfig

__all__ = ["WeightsError", "read_safetensors", "write_safetensors", "load_llama", "save_llama", "tensor_name",
           "MAX_HEADER"]

#: safetensors dtype → NumPy dtype (little-endian, as the format stores them); BF16 is widened to float32
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1"}
#: safetensors dtypes this reader does not decode (said so by name, not as "unknown")
_UNSUPPORTED = ("BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64")
#: the reference implementation's limit on the JSON header
MAX_HEADER = 100_000_000
#: NumPy 1.x builds arrays of at most 32 dimensions
_MAX_DIMS = 32
#: config.json is a few hundred bytes; anything past this is not one
_MAX_CONFIG = 1_000_000


class WeightsError(ValueError):
    """A weights or config file is missing, malformed, or does not match the model."""


class _DuplicateKey(Exception):
    pass


def _short(value, limit: int = 60) -> str:
    """``repr`` of a value from a hostile file, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _json(text: str, what: str):
    """Parse ``text`` strictly: no NaN/Infinity, no key twice, no nesting that overflows the stack."""
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise _DuplicateKey(k)
            out[k] = v
        return out

    def constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except _DuplicateKey as e:
        raise WeightsError(f"{what} names the key {_short(e.args[0])} twice (a JSON object names each key once; "
                           "readers disagree on which one wins)") from None
    except json.JSONDecodeError as e:
        at = len(text[:e.pos].encode())
        raise WeightsError(f"{what} is not JSON: {e.msg} at byte {at} of it") from None
    except ValueError as e:  # NaN/Infinity, an integer of more digits than Python converts
        raise WeightsError(f"{what} is not JSON: {e}") from None
    except RecursionError:
        raise WeightsError(f"{what} is not JSON this reader accepts: nested too deeply") from None


@dataclass(frozen=True)
class _Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int   # data_offsets, relative to the data region
    end: int


def _jtype(v) -> str:
    """The JSON name of a parsed value's type."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), "number")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry(where: str, name: str, info, data_len: int, data_start: int) -> _Tensor:
    """One header entry, checked on its own (the tiling of all of them is checked after)."""
    at = f"{where}: tensor {_short(name)}"
    if not isinstance(info, dict):
        raise WeightsError(f"{at}: entry is a JSON {_jtype(info)}, expected an object with dtype, shape and "
                           "data_offsets")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in info:
            raise WeightsError(f"{at}: no {key!r} (an entry needs dtype, shape and data_offsets)")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        known = "is not supported here" if dtype in _UNSUPPORTED else "is not a safetensors dtype"
        raise WeightsError(f"{at}: dtype {_short(dtype)} {known} (readable: {', '.join(_DTYPES)})")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise WeightsError(f"{at}: shape must be a list of non-negative integers, got {_short(shape)}")
    if len(shape) > _MAX_DIMS:
        raise WeightsError(f"{at}: shape has {len(shape)} dimensions, at most {_MAX_DIMS} are supported")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets)):
        raise WeightsError(f"{at}: data_offsets must be [begin, end], two non-negative integers, got "
                           f"{_short(offsets)}")
    begin, end = offsets
    if end < begin:
        raise WeightsError(f"{at}: data_offsets [{begin}, {end}] end before they begin")
    if end > data_len:
        raise WeightsError(f"{at}: data_offsets [{begin}, {end}] run past the end of the file: offset {end} is "
                           f"file byte {data_start + end:,}, the data region is file bytes {data_start:,}.."
                           f"{data_start + data_len:,} ({data_len:,} bytes)")
    need = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
    if end - begin != need:
        raise WeightsError(f"{at}: shape {_short(shape)} of {dtype} needs {need:,} bytes, data_offsets "
                           f"[{begin}, {end}] hold {end - begin:,}")
    return _Tensor(name, dtype, tuple(shape), begin, end)


def _check_tiling(where: str, tensors: list[_Tensor], data_len: int, data_start: int) -> None:
    """The tensors cover the data region in order, without overlap or hole, up to its end."""
    pos, prev = 0, None
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin < pos:
            raise WeightsError(f"{where}: tensor {_short(t.name)}: data_offsets [{t.begin}, {t.end}] overlap tensor "
                               f"{_short(prev.name)} [{prev.begin}, {prev.end}] (tensors must not share bytes)")
        if t.begin > pos:
            raise WeightsError(f"{where}: bytes {pos}..{t.begin} of the data region (file bytes "
                               f"{data_start + pos:,}..{data_start + t.begin:,}) belong to no tensor, before tensor "
                               f"{_short(t.name)} [{t.begin}, {t.end}] (tensors must cover the data region without "
                               "holes)")
        pos, prev = t.end, t
    if pos != data_len:
        raise WeightsError(f"{where}: the data region has {data_len:,} bytes but the tensors end at offset {pos:,}: "
                           f"file bytes {data_start + pos:,}..{data_start + data_len:,} belong to no tensor "
                           "(trailing data, or a file spliced together)")


def _header(where: str, f, size: int) -> tuple[int, dict]:
    """(header length, header object) of an open safetensors file of ``size`` bytes."""
    if size < 8:
        raise WeightsError(f"{where}: not a safetensors file ({size} bytes, shorter than the 8-byte header length "
                           "it starts with)")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER:
        raise WeightsError(f"{where}: not a safetensors file: header length {n:,} bytes (bytes 0..8) is over the "
                           f"{MAX_HEADER:,}-byte limit")
    if n > size - 8:
        raise WeightsError(f"{where}: truncated or not a safetensors file: header length {n:,} bytes (bytes 0..8) "
                           f"runs past the end of the file ({size:,} bytes, so at most {size - 8:,})")
    raw = f.read(n)
    if len(raw) != n:
        raise WeightsError(f"{where}: the file ended at byte {8 + len(raw):,} inside the header (it changed while "
                           "being read?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WeightsError(f"{where}: not a safetensors file: the header (file bytes 8..{8 + n:,}) is not UTF-8 "
                           f"({e.reason} at file byte {8 + e.start:,})") from None
    header = _json(text, f"{where}: the header (file bytes 8..{8 + n:,})")
    if not isinstance(header, dict):
        raise WeightsError(f"{where}: the header is a JSON {_jtype(header)}, expected an object of tensor "
                           "name → {dtype, shape, data_offsets}")
    meta = header.get("__metadata__")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        bad = meta if not isinstance(meta, dict) else next(v for v in meta.values() if not isinstance(v, str))
        raise WeightsError(f"{where}: __metadata__ must be an object of strings, got {_short(bad)}")
    return n, header


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, as float32 for float dtypes (BF16 widened).

    Raises
    ------
    WeightsError
        The file cannot be read or breaks a rule of the format (see the module docstring).
    """
    path = Path(path)
    where = str(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # before open(): a FIFO would block it
            raise WeightsError(f"{where}: not a regular file")
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            n, header = _header(where, f, st.st_size)
            data_start = 8 + n
            data_len = st.st_size - data_start
            tensors = [_entry(where, name, info, data_len, data_start)
                       for name, info in header.items() if name != "__metadata__"]
            _check_tiling(where, tensors, data_len, data_start)
            out = {}
            for t in tensors:
                f.seek(data_start + t.begin)
                raw = f.read(t.end - t.begin)
                if len(raw) != t.end - t.begin:
                    raise WeightsError(f"{where}: tensor {_short(t.name)}: the file ended at byte "
                                       f"{data_start + t.begin + len(raw):,}, before the tensor's end at "
                                       f"{data_start + t.end:,} (it changed while being read?)")
                arr = np.frombuffer(raw, dtype=_DTYPES[t.dtype]).reshape(t.shape)
                if t.dtype == "BF16":
                    arr = (arr.astype(np.uint32) << 16).view(np.float32)
                with np.errstate(all="ignore"):  # F64 beyond float32 becomes inf; load_llama refuses those
                    out[t.name] = arr.astype(np.float32 if arr.dtype.kind == "f" else arr.dtype.type)
            return out
    except OSError as e:
        raise WeightsError(f"{where}: cannot read ({e.strerror or e})") from None


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype="<f4")
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


#: config.json key → (LlamaConfig field, default or None when required, integer?)
_CONFIG_KEYS = {"hidden_size": ("dim", None, True), "num_attention_heads": ("n_heads", None, True),
                "num_key_value_heads": ("n_kv_heads", "num_attention_heads", True),
                "intermediate_size": ("hidden", None, True), "rope_theta": ("rope_theta", 10000.0, False),
                "rms_norm_eps": ("norm_eps", 1e-5, False), "max_position_embeddings": ("max_seq", 256, True)}


def _config(path: Path) -> LlamaConfig:
    cfg_path = path.with_name("config.json")
    need = "hidden_size, num_attention_heads, num_key_value_heads, intermediate_size, rope_theta, rms_norm_eps"
    try:
        if not stat.S_ISREG(os.stat(cfg_path).st_mode):
            raise WeightsError(f"{cfg_path}: not a regular file")
        with open(cfg_path, "rb") as f:
            raw = f.read(_MAX_CONFIG + 1)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no config.json beside it ({need})") from None
    except OSError as e:
        raise WeightsError(f"{cfg_path}: cannot read ({e.strerror or e})") from None
    if len(raw) > _MAX_CONFIG:
        raise WeightsError(f"{cfg_path}: over {_MAX_CONFIG:,} bytes; a model's config.json is a few hundred")
    try:
        c = _json(raw.decode("utf-8"), str(cfg_path))
    except UnicodeDecodeError as e:
        raise WeightsError(f"{cfg_path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    if not isinstance(c, dict):
        raise WeightsError(f"{cfg_path}: a JSON {_jtype(c)}, expected an object with {need}")
    values = {}
    for key, (fld, default, integer) in _CONFIG_KEYS.items():
        v = c.get(key)
        if v is None:
            if default is None:
                raise WeightsError(f"{cfg_path}: missing key {key}")
            v = values[_CONFIG_KEYS[default][0]] if isinstance(default, str) else default
        elif integer and not _is_int(v):
            raise WeightsError(f"{cfg_path}: {key} must be a positive integer, got {_short(v)}")
        elif not integer and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
            raise WeightsError(f"{cfg_path}: {key} must be a positive number, got {_short(v)}")
        if v <= 0:
            raise WeightsError(f"{cfg_path}: {key} must be positive, got {v}")
        values[fld] = v if integer else float(v)
    dim, heads, kv = values["dim"], values["n_heads"], values["n_kv_heads"]
    if dim % heads or (dim // heads) % 2:
        raise WeightsError(f"{cfg_path}: hidden_size {dim} must be num_attention_heads {heads} × an even head size")
    if heads % kv:
        raise WeightsError(f"{cfg_path}: num_attention_heads {heads} must be a multiple of num_key_value_heads {kv}")
    # what this Llama block does not compute: refused, never silently ignored (that would be wrong numbers)
    if c.get("head_dim") is not None and c["head_dim"] != dim // heads:
        raise WeightsError(f"{cfg_path}: head_dim {_short(c['head_dim'])} is not hidden_size / num_attention_heads "
                           f"= {dim // heads}; this Llama block has no separate head size")
    if c.get("rope_scaling") is not None:
        raise WeightsError(f"{cfg_path}: rope_scaling {_short(c['rope_scaling'])} is not supported (plain RoPE "
                           "only: rope_scaling null)")
    for key in ("attention_bias", "mlp_bias"):
        if c.get(key):
            raise WeightsError(f"{cfg_path}: {key} true is not supported (Llama projections have no bias)")
    if c.get("hidden_act") not in (None, "silu"):
        raise WeightsError(f"{cfg_path}: hidden_act {_short(c['hidden_act'])} is not supported (SwiGLU: silu)")
    return LlamaConfig(**values)


#: a tensor of layer N: model.layers.N.<rest>, N without leading zeros
_LAYER = re.compile(r"model\.layers\.(0|[1-9][0-9]*)\.(.+)")
#: layer tensors a Llama checkpoint may carry that this block computes itself (older HF exports saved them)
_DERIVED = ("self_attn.rotary_emb.inv_freq",)


def _ranges(xs: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``0..2, 5``."""
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}..{xs[j]}")
        i = j + 1
    return ", ".join(out) or "none"


def load_llama(path: Path, layers: int | None = None) -> tuple[LlamaConfig, list[LayerWeights]]:
    """The config and the first ``layers`` layers (all when None) of a Llama checkpoint."""
    path = Path(path)
    if layers is not None and (not _is_int(layers) or layers < 1):
        raise WeightsError(f"{path}: layers must be a positive integer, got {_short(layers)}")
    cfg = _config(path)
    tensors = read_safetensors(path)
    known = {tensor_name(0, k).split(".", 3)[3] for k in [*PROJECTIONS, "input_layernorm", "post_attention_layernorm"]}
    have = set()
    for name in tensors:
        if not name.startswith("model.layers."):
            continue   # embeddings, final norm, lm_head: not used by the decoder layers
        m = _LAYER.fullmatch(name)
        if not m:
            raise WeightsError(f"{path}: tensor {_short(name)} is not model.layers.N.<name> with N a layer number")
        if m[2] not in known and m[2] not in _DERIVED:
            raise WeightsError(f"{path}: tensor {_short(name)} is not part of a Llama layer (its layers have "
                               f"{', '.join(sorted(known))}); this loader would ignore it and compute another model")
        have.add(int(m[1]))
    have = sorted(have)
    n = layers if layers is not None else len(have)
    if n < 1:
        raise WeightsError(f"{path}: no model.layers.N tensors")
    out = []
    for i in range(n):
        def get(key, shape):
            name = tensor_name(i, key)
            if name not in tensors:
                raise WeightsError(f"{path}: {name} is missing (layer {i} of {n} asked for; the file has layers "
                                   f"{_ranges(have)})")
            t = tensors[name]
            if tuple(t.shape) != tuple(shape):
                raise WeightsError(f"{path}: {name} has shape {list(t.shape)}, expected {list(shape)} from "
                                   f"config.json (dim {cfg.dim}, heads {cfg.n_heads}, kv heads {cfg.n_kv_heads}, "
                                   f"intermediate {cfg.hidden})")
            if t.dtype != np.float32:
                raise WeightsError(f"{path}: {name} is {t.dtype} (integer), expected float weights (F32, F16, BF16, "
                                   "F64); quantized checkpoints are not supported")
            bad = np.flatnonzero(~np.isfinite(t))
            if bad.size:
                raise WeightsError(f"{path}: {name} has {bad.size:,} values that are NaN or infinite as float32 "
                                   f"(the first at flat index {bad[0]:,})")
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
