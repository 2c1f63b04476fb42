"""A Llama-style decoder block in NumPy with every linear layer behind one callable.

``DecoderBlock.forward(x, cache, linear)`` runs RMSNorm → grouped-query attention with
rotary embeddings and a KV cache → residual → RMSNorm → SwiGLU MLP → residual. The seven
projections go through ``linear(name, x)``: float (``x @ Wᵀ``), the quantized NumPy
reference, or the accelerator through the driver — the rest (norms, rotary, softmax, SiLU,
residuals) stays on the host in float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LLMError", "LlamaConfig", "LayerWeights", "KVCache", "DecoderBlock", "PROJECTIONS", "random_weights",
           "rmsnorm", "rope"]

#: projection name → (out features, in features) as functions of the config
PROJECTIONS = {
    "q_proj": lambda c: (c.dim, c.dim), "k_proj": lambda c: (c.kv_dim, c.dim), "v_proj": lambda c: (c.kv_dim, c.dim),
    "o_proj": lambda c: (c.dim, c.dim), "gate_proj": lambda c: (c.hidden, c.dim),
    "up_proj": lambda c: (c.hidden, c.dim), "down_proj": lambda c: (c.dim, c.hidden),
}


class LLMError(ValueError):
    """A model run cannot be done as asked (its arguments, or the accelerator for its weights)."""


@dataclass(frozen=True)
class LlamaConfig:
    dim: int = 256
    n_heads: int = 4
    n_kv_heads: int = 2
    hidden: int = 688
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    max_seq: int = 256

    def __post_init__(self):
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim


@dataclass
class LayerWeights:
    """One layer's float32 weights; projections are (out, in) as in Llama checkpoints."""
    proj: dict[str, np.ndarray]
    input_norm: np.ndarray
    post_norm: np.ndarray


def random_weights(cfg: LlamaConfig, seed: int, n_layers: int = 1) -> list[LayerWeights]:
    """Weights with Llama-like statistics (std 1/sqrt(in)), from ``seed``."""
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(n_layers):
        proj = {name: (rng.normal(0, 1 / np.sqrt(shape(cfg)[1]), size=shape(cfg))).astype(np.float32)
                for name, shape in PROJECTIONS.items()}
        layers.append(LayerWeights(proj, (1 + 0.1 * rng.normal(size=cfg.dim)).astype(np.float32),
                                   (1 + 0.1 * rng.normal(size=cfg.dim)).astype(np.float32)))
    return layers


def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float32)
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight).astype(np.float32)


def rope(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """Rotary embeddings (Llama's half-split form) on x of shape (T, heads, head_dim)."""
    hd = x.shape[-1]
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = positions[:, None].astype(np.float64) * inv[None, :]          # (T, hd/2)
    cos, sin = np.cos(ang).astype(np.float32)[:, None, :], np.sin(ang).astype(np.float32)[:, None, :]
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(np.float32)


@dataclass
class KVCache:
    """Keys (after rotary) and values of the positions seen so far, per layer."""
    cfg: LlamaConfig
    k: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    length: int = 0

    def __post_init__(self):
        shape = (self.cfg.max_seq, self.cfg.n_kv_heads, self.cfg.head_dim)
        self.k, self.v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def append(self, k: np.ndarray, v: np.ndarray) -> None:
        t = k.shape[0]
        if self.length + t > self.cfg.max_seq:
            raise ValueError(f"KV cache full: {self.length} + {t} tokens > max_seq {self.cfg.max_seq}")
        self.k[self.length:self.length + t], self.v[self.length:self.length + t] = k, v
        self.length += t


class DecoderBlock:
    def __init__(self, cfg: LlamaConfig, weights: LayerWeights):
        self.cfg, self.w = cfg, weights

    def float_linear(self, name: str, x: np.ndarray) -> np.ndarray:
        return (x @ self.w.proj[name].T).astype(np.float32)

    def forward(self, x: np.ndarray, cache: KVCache, linear=None) -> np.ndarray:
        """``x`` (T, dim) for positions ``cache.length ..``; returns (T, dim), extends ``cache``."""
        c = self.cfg
        linear = linear or self.float_linear
        t = x.shape[0]
        pos = np.arange(cache.length, cache.length + t)
        h = rmsnorm(x, self.w.input_norm, c.norm_eps)
        q = linear("q_proj", h).reshape(t, c.n_heads, c.head_dim)
        k = linear("k_proj", h).reshape(t, c.n_kv_heads, c.head_dim)
        v = linear("v_proj", h).reshape(t, c.n_kv_heads, c.head_dim)
        q, k = rope(q, pos, c.rope_theta), rope(k, pos, c.rope_theta)
        cache.append(k, v)
        keys, vals = cache.k[:cache.length], cache.v[:cache.length]       # (S, kv_heads, hd)
        rep = c.n_heads // c.n_kv_heads
        keys, vals = np.repeat(keys, rep, axis=1), np.repeat(vals, rep, axis=1)
        scores = np.einsum("thd,shd->hts", q, keys) / np.float32(np.sqrt(c.head_dim))
        causal = pos[:, None] >= np.arange(cache.length)[None, :]          # (T, S)
        scores = np.where(causal[None], scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p = (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)
        att = np.einsum("hts,shd->thd", p, vals).reshape(t, c.dim).astype(np.float32)
        x = x + linear("o_proj", att)
        h = rmsnorm(x, self.w.post_norm, c.norm_eps)
        g, u = linear("gate_proj", h), linear("up_proj", h)
        act = (g / (1 + np.exp(-g)) * u).astype(np.float32)                # SwiGLU: SiLU(gate) · up
        return (x + linear("down_proj", act)).astype(np.float32)
