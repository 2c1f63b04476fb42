"""Quantization for running linear layers on the accelerator's integer GEMM.

Weights are symmetric integers with float scales, in one of four schemes:

* ``int8`` — per output channel (one scale per row of ``W``), levels −127..127;
* ``int4`` — per group of ``group`` input channels (default 128), levels −7..7;
* ``int2`` — per group, levels −2..1 (scale = absmax / 2, the positive end clipped to 1);
* ``ternary`` — per group, levels −1..1 with BitNet b1.58's absmean scale.

Activations are symmetric int8 per token (one scale per row of ``x``), levels −127..127.

**Scales are applied on the host, not in the accelerator's output stage.** A linear layer
``y = x Wᵀ`` becomes ``y[t, c] = s_x[t] · Σ_g s_w[c, g] · (Σ_{k∈g} x_q[t, k] · w_q[c, k])``: the
inner sums are exact integers from the accelerator (one GEMM per weight group), and the
output stage's per-column integer scale and shift can express neither the per-token factor
nor a float per-group factor without an extra rounding. On the host both are one NumPy
multiply-add per group; the results stay bit-identical to :func:`linear_reference`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SCHEMES", "QuantizedWeight", "quantize_weight", "quantize_activations", "group_partials",
           "combine", "linear_reference"]

#: scheme → (lowest level, highest level, per-group?)
SCHEMES = {"int8": (-127, 127, False), "int4": (-7, 7, True), "int2": (-2, 1, True), "ternary": (-1, 1, True)}


@dataclass(frozen=True)
class QuantizedWeight:
    """``W ≈ q · scales`` for a weight ``W`` of shape (out, in) = (N, K)."""
    q: np.ndarray          # (N, K) int8
    scales: np.ndarray     # (N, G) float32: one per output channel and input group
    group: int             # input channels per group (K for per-channel schemes)
    scheme: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape

    @property
    def bits(self) -> int:
        """Bits of a signed integer holding every level (the engine's ``pe.w`` must be at least this)."""
        return {"int8": 8, "int4": 4, "int2": 2, "ternary": 2}[self.scheme]

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        s = np.repeat(self.scales, self.group, axis=1)[:, :k]
        return (self.q.astype(np.float32) * s).astype(np.float32)


def quantize_weight(w: np.ndarray, scheme: str = "int8", group: int = 128) -> QuantizedWeight:
    """Quantize a float weight of shape (out, in)."""
    if scheme not in SCHEMES:
        raise ValueError(f"weight scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"a weight must be 2-D (out, in), got shape {w.shape}")
    lo, hi, grouped = SCHEMES[scheme]
    n, k = w.shape
    g = group if grouped else k
    if g < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    n_groups = -(-k // g)
    padded = np.zeros((n, n_groups * g), np.float32)
    padded[:, :k] = w
    blocks = padded.reshape(n, n_groups, g)
    if scheme == "ternary":   # BitNet b1.58: absmean over the real (unpadded) weights of a group
        counts = np.minimum(g, k - np.arange(n_groups) * g)
        scale = np.abs(blocks).sum(axis=2) / counts
    else:
        scale = np.abs(blocks).max(axis=2) / max(-lo, hi)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(blocks / scale[:, :, None]), lo, hi).astype(np.int8).reshape(n, -1)[:, :k]
    return QuantizedWeight(q=np.ascontiguousarray(q), scales=scale, group=g, scheme=scheme)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token symmetric int8: ``x ≈ q · s[:, None]``; returns (q int8 (T, K), s float32 (T,))."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"activations must be 2-D (tokens, features), got shape {x.shape}")
    s = np.abs(x).max(axis=1) / 127.0
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / s[:, None]), -127, 127).astype(np.int8)
    return q, s


def group_partials(gemm, xq: np.ndarray, qw: QuantizedWeight) -> list[np.ndarray]:
    """The exact integer sums per weight group, ``gemm(x_q[:, g], w_q[:, g]ᵀ)`` for each group,
    with ``gemm`` the accelerator's (``Accelerator.gemm``) or the golden model's."""
    n, k = qw.shape
    return [np.asarray(gemm(xq[:, s:s + qw.group], qw.q[:, s:s + qw.group].T), dtype=np.int64)
            for s in range(0, k, qw.group)]


def combine(partials: list[np.ndarray], xs: np.ndarray, qw: QuantizedWeight) -> np.ndarray:
    """``y = s_x · Σ_g s_w[:, g] · partial_g`` in float32, groups in order (bit-reproducible)."""
    y = np.zeros(partials[0].shape, np.float32)
    for gi, p in enumerate(partials):
        y += p.astype(np.float32) * qw.scales[:, gi][None, :]
    return y * xs[:, None]


def linear_reference(x: np.ndarray, qw: QuantizedWeight, *, acc_bits: int = 32) -> np.ndarray:
    """The quantized linear layer in NumPy, the same arithmetic the accelerator path does."""
    from ..golden import gemm
    xq, xs = quantize_activations(x)
    parts = group_partials(lambda a, w: gemm(a.astype(np.int64), w.astype(np.int64), acc_bits=acc_bits), xq, qw)
    return combine(parts, xs, qw)
