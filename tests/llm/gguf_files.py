"""Tiny Llama GGUF files for tests/llm/test_gguf.py, written with llama.cpp's own writer
(``gguf.GGUFWriter``) and quantizer (``gguf.quants.quantize``), laid out as llama.cpp's
converter (``convert_hf_to_gguf.py``) lays out a real model: Q and K rows permuted for its
rotary layout, ``[in, out]`` dimension order, a byte-level BPE vocabulary with control tokens.

A :class:`TinyLlama` keeps the Hugging Face-layout float weights it started from (``hf``), the
metadata and the stored tensors; a test edits the last two (drops a key, swaps a tensor's
type or shape) and writes the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

from hwgen.llm.model import LlamaConfig
from hwgen.llm.quant import quantize_weight

__all__ = ["CONTROL", "MERGES", "CFG", "TinyLlama", "tiny_llama", "byte_tokens", "permute", "unpermute",
           "expected_float", "tensor_offsets", "LINEAR"]

#: control tokens (token_type 3), first in the vocabulary as in SmolLM2
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
#: merges in rank order; each result is a vocabulary token
MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "n d", "Ġa nd", "i n", "e r", "1 2", "Ġ Ġ"]
CFG = LlamaConfig(dim=64, n_heads=4, n_kv_heads=2, hidden=96, rope_theta=50000.0,
                  norm_eps=float(np.float32(1e-6)), max_seq=128)
#: GGUF tensor of a layer → (out, in) as functions of the config
LINEAR = {"attn_q": lambda c: (c.dim, c.dim), "attn_k": lambda c: (c.kv_dim, c.dim),
          "attn_v": lambda c: (c.kv_dim, c.dim), "attn_output": lambda c: (c.dim, c.dim),
          "ffn_gate": lambda c: (c.hidden, c.dim), "ffn_up": lambda c: (c.hidden, c.dim),
          "ffn_down": lambda c: (c.dim, c.hidden)}


def byte_tokens() -> list[str]:
    """GPT-2's ``bytes_to_unicode``: the printable character standing for each byte 0..255."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's converter (``LlamaModel.permute``): HF rows → GGUF rows, per head."""
    out, inp = w.shape
    return w.reshape(n_head, 2, out // n_head // 2, inp).swapaxes(1, 2).reshape(out, inp)


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF rows → HF rows (the inverse of :func:`permute`)."""
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


def expected_float(w: np.ndarray, qtype: T) -> np.ndarray:
    """What the loader's weight for float weight ``w`` (HF layout) must dequantize to: the
    file's Q4_1/Q8_0 values as gguf decodes them, or int8 per channel of the F16/F32 values."""
    if qtype in (T.Q4_1, T.Q8_0):
        return gguf.quants.dequantize(gguf.quants.quantize(w, qtype), qtype)
    stored = w.astype(np.float16).astype(np.float32) if qtype == T.F16 else w
    return quantize_weight(stored, "int8").dequantize()


def tensor_offsets(path: Path) -> dict[str, tuple[int, int]]:
    """Tensor name → (absolute byte offset of its data, its byte count), read with gguf's reader."""
    return {t.name: (int(t.data_offset), int(t.n_bytes)) for t in gguf.GGUFReader(path).tensors}


@dataclass
class TinyLlama:
    cfg: LlamaConfig
    n_layers: int
    hf: dict[str, np.ndarray]                          # GGUF tensor name → float32 weight, HF layout (out, in)
    tensors: dict[str, tuple[np.ndarray, T]] = field(default_factory=dict)   # name → (stored data, type)
    meta: dict[str, tuple] = field(default_factory=dict)                    # key → (value, type, array type)

    def heads(self, name: str) -> int | None:
        """The head count the converter permutes tensor ``name`` with (None: not permuted)."""
        return {"attn_q": self.cfg.n_heads, "attn_k": self.cfg.n_kv_heads}.get(name.split(".")[-2])

    def store(self, name: str, qtype: T, w: np.ndarray | None = None) -> None:
        """(Re)write tensor ``name`` as ``qtype`` from float ``w`` (default its HF weight), permuted
        as the converter does."""
        w = self.hf[name] if w is None else w
        if w.ndim == 2 and self.heads(name) and w.shape[0] % (2 * self.heads(name)) == 0:
            w = permute(w, self.heads(name))
        self.tensors[name] = (gguf.quants.quantize(np.ascontiguousarray(w, np.float32), qtype), qtype)

    def write(self, path: Path) -> Path:
        arch = self.meta.get("general.architecture", ("llama",))[0]
        w = gguf.GGUFWriter(path, arch)
        w.kv_data[0].clear()             # exactly the keys in self.meta (the writer adds the architecture)
        for key, (value, vtype, *sub) in self.meta.items():
            w.add_key_value(key, value, vtype, sub[0] if sub else None)
        for name, (data, qtype) in self.tensors.items():
            w.add_tensor(name, data, raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return Path(path)

    @property
    def tokens(self) -> list[str]:
        return self.meta["tokenizer.ggml.tokens"][0]

    def token_id(self, token: str) -> int:
        return self.tokens.index(token)


def tiny_llama(seed: int, linear: T = T.Q4_1, embed: T = T.Q8_0, output: T | None = None, *, n_layers: int = 2,
               pre: str = "smollm", cfg: LlamaConfig = CFG) -> TinyLlama:
    """A ``n_layers`` Llama of ``cfg`` with random weights from ``seed``: every linear layer
    stored as ``linear``, the embedding as ``embed``, an untied ``output.weight`` as ``output``
    (None: tied, no output.weight), norms F32."""
    rng = np.random.default_rng(seed)
    tokens = CONTROL + byte_tokens() + ["".join(m.split(" ")) for m in MERGES]
    assert len(set(tokens)) == len(tokens)
    vocab = len(tokens)
    m = TinyLlama(cfg, n_layers, {})
    for i in range(n_layers):
        for g, shape in LINEAR.items():
            out, inp = shape(cfg)
            m.hf[f"blk.{i}.{g}.weight"] = rng.normal(0, inp ** -0.5, (out, inp)).astype(np.float32)
        for g in ("attn_norm", "ffn_norm"):
            m.hf[f"blk.{i}.{g}.weight"] = (1 + 0.1 * rng.normal(size=cfg.dim)).astype(np.float32)
    m.hf["token_embd.weight"] = rng.normal(0, 1, (vocab, cfg.dim)).astype(np.float32)
    m.hf["output_norm.weight"] = (1 + 0.1 * rng.normal(size=cfg.dim)).astype(np.float32)
    if output is not None:
        m.hf["output.weight"] = rng.normal(0, cfg.dim ** -0.5, (vocab, cfg.dim)).astype(np.float32)
    for name, w in m.hf.items():
        m.store(name, T.F32 if w.ndim == 1 else embed if name == "token_embd.weight"
                else output if name == "output.weight" else linear)
    m.meta = {
        "general.architecture": ("llama", V.STRING),
        "general.name": ("tiny llama", V.STRING),
        "llama.block_count": (n_layers, V.UINT32),
        "llama.context_length": (cfg.max_seq, V.UINT32),
        "llama.embedding_length": (cfg.dim, V.UINT32),
        "llama.feed_forward_length": (cfg.hidden, V.UINT32),
        "llama.attention.head_count": (cfg.n_heads, V.UINT32),
        "llama.attention.head_count_kv": (cfg.n_kv_heads, V.UINT32),
        "llama.rope.freq_base": (cfg.rope_theta, V.FLOAT32),
        "llama.rope.dimension_count": (cfg.head_dim, V.UINT32),
        "llama.attention.layer_norm_rms_epsilon": (cfg.norm_eps, V.FLOAT32),
        "llama.vocab_size": (vocab, V.UINT32),
        "tokenizer.ggml.model": ("gpt2", V.STRING),
        "tokenizer.ggml.pre": (pre, V.STRING),
        "tokenizer.ggml.tokens": (tokens, V.ARRAY, V.STRING),
        "tokenizer.ggml.token_type": ([3 if t in CONTROL else 1 for t in tokens], V.ARRAY, V.INT32),
        "tokenizer.ggml.merges": (list(MERGES), V.ARRAY, V.STRING),
        "tokenizer.ggml.bos_token_id": (1, V.UINT32),
        "tokenizer.ggml.eos_token_id": (0, V.UINT32),
        "tokenizer.ggml.add_bos_token": (False, V.BOOL),
        "tokenizer.chat_template": ("{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}",
                                    V.STRING),
    }
    return m
