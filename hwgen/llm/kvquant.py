"""K and V quantized the way the chip writes them (docs/pim.md, "K/V rows written on chip").

A batched decoder's new K/V rows are int8 made from the projections' exact accumulators by
the STORE unit (:mod:`hwgen.golden.store`): ``k8 = clip(rhe((acc_e·a + acc_o·b) / 2**shift))``.
For that the quantization must be static per column, so that it is one integer multiplier:

* K of KV head ``h``, real value ``s_x[t] · s_w[c] · acc[c]`` (token scale times the weight's
  channel scale) is stored as ``k8 ≈ K_rot / (σ_k[h] · s_x[t])``; the token's scale stays on
  the host (the score of position t is multiplied by it, as by the per-position scale of a
  dynamically quantized cache), the column's ``s_w[c] / σ_k[h]`` is the multiplier ``m``, and
  the rotary rotation of the lane pair by θ folds into ``a = m·cos θ``, ``b = ∓m·sin θ``;
* V likewise with ``b = 0``.

``σ`` per KV head is calibrated once from the weights: the largest pair norm (K) or value (V)
over ``samples`` random RMS-normalized hidden states, quantized like activations, with
``HEADROOM`` above it, maps to 127 (a larger value is clipped, as any static int8 scale does).

Rotary pairs must be two lanes of one word: the Q and K projections' output channels are
reordered within each head from Llama's half-split layout (``j`` with ``j + head_dim/2``) to
interleaved pairs (``2j``, ``2j+1``) (:func:`interleave_heads`); scores are unchanged, since
q and k are reordered alike. :func:`rope_pairs` is rotary on that layout.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..golden.store import COEF_MAX
from .model import LayerWeights, LlamaConfig, rmsnorm
from .quant import QuantizedWeight, quantize_activations

__all__ = ["KvQuant", "rope_pairs", "interleave_heads", "single_group", "HEADROOM"]

#: the calibrated largest value is this fraction of the int8 range's end
HEADROOM = 1.25


def interleave_heads(qw: QuantizedWeight, head_dim: int) -> QuantizedWeight:
    """``qw`` with its output channels reordered within each head: channel ``j`` and
    ``j + head_dim/2`` become neighbours ``2j``, ``2j+1``."""
    n = qw.shape[0]
    half = head_dim // 2
    order = (np.arange(0, n, head_dim)[:, None] + np.stack([np.arange(half), np.arange(half) + half], 1).reshape(-1)
             ).reshape(-1)
    return replace(qw, q=qw.q[order], scales=qw.scales[order])


def rope_pairs(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """Rotary embeddings on interleaved pairs: x (T, heads, head_dim), pair ``(2j, 2j+1)``
    rotated by ``position · theta**(−2j/head_dim)`` (Llama's rotary, on the reordered layout)."""
    hd = x.shape[-1]
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = positions[:, None].astype(np.float64) * inv[None, :]
    cos, sin = np.cos(ang).astype(np.float32)[:, None, :], np.sin(ang).astype(np.float32)[:, None, :]
    e, o = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x, dtype=np.float32)
    out[..., 0::2], out[..., 1::2] = e * cos - o * sin, o * cos + e * sin
    return out


def single_group(qw: QuantizedWeight) -> bool:
    """One scale per output channel (int8, or a group as long as the input): the accumulator
    of a column is the whole sum, so the chip can requantize it."""
    return qw.scales.shape[1] == 1


def _shift(m: np.ndarray) -> int:
    """The largest shift with every ``m · 2**shift`` inside a signed 16-bit coefficient."""
    top = float(np.max(m))
    return int(np.clip(np.floor(np.log2(COEF_MAX / top)), 0, 63)) if top > 0 else 0


@dataclass(frozen=True)
class KvQuant:
    """One layer's static K/V quantization (the module docstring)."""
    sigma_k: np.ndarray   # (kv_heads,) float32
    sigma_v: np.ndarray
    mk: np.ndarray        # (kv_heads·head_dim,) float64: s_w[c] / σ_k[head of c]
    mv: np.ndarray
    shift_k: int
    shift_v: int
    inv: np.ndarray       # (head_dim/2,) rotary frequencies
    head_dim: int

    @classmethod
    def calibrate(cls, cfg: LlamaConfig, w: LayerWeights, qk: QuantizedWeight, qv: QuantizedWeight,
                  samples: int = 256, seed: int = 0) -> "KvQuant":
        hd, kvh = cfg.head_dim, cfg.n_kv_heads
        x = np.random.default_rng(seed).normal(size=(samples, cfg.dim)).astype(np.float32)
        xq, _ = quantize_activations(rmsnorm(x, w.input_norm, cfg.norm_eps))
        kn = (xq.astype(np.int64) @ qk.q.astype(np.int64).T) * qk.scales[:, 0].astype(np.float64)   # K / s_x
        vn = (xq.astype(np.int64) @ qv.q.astype(np.int64).T) * qv.scales[:, 0].astype(np.float64)
        pair_norm = np.sqrt(kn[:, 0::2] ** 2 + kn[:, 1::2] ** 2).reshape(samples, kvh, hd // 2)
        sk = (HEADROOM * pair_norm.max(axis=(0, 2)) / 127).astype(np.float32)
        sv = (HEADROOM * np.abs(vn).reshape(samples, kvh, hd).max(axis=(0, 2)) / 127).astype(np.float32)
        sk, sv = (np.where(s > 0, s, np.float32(1)) for s in (sk, sv))
        mk = qk.scales[:, 0].astype(np.float64) / np.repeat(sk, hd).astype(np.float64)
        mv = qv.scales[:, 0].astype(np.float64) / np.repeat(sv, hd).astype(np.float64)
        inv = cfg.rope_theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
        return cls(sk, sv, mk, mv, _shift(mk), _shift(mv), inv, hd)

    def coefs(self, pos: int) -> tuple[tuple, tuple]:
        """The STORE coefficients of position ``pos``: K's ``(a, b, shift)`` (pairs rotated by
        the position's angles) and V's ``(a, None, shift)``; a, b int64 (kv_heads·head_dim,)."""
        M = self.mk * 2.0 ** self.shift_k
        ang = pos * np.tile(self.inv, len(self.mk) // self.head_dim)           # per pair
        cos, sin = np.cos(ang), np.sin(ang)
        e, o = M[0::2], M[1::2]
        a, b = np.empty_like(M), np.empty_like(M)
        a[0::2], b[0::2] = e * cos, -o * sin
        a[1::2], b[1::2] = o * cos, e * sin
        ka, kb = (np.clip(np.rint(c), -COEF_MAX, COEF_MAX).astype(np.int64) for c in (a, b))
        va = np.clip(np.rint(self.mv * 2.0 ** self.shift_v), 0, COEF_MAX).astype(np.int64)
        return (ka, kb, self.shift_k), (va, None, self.shift_v)
