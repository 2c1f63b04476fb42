"""Quantization for running linear layers on the accelerator's integer GEMM.

Weights are symmetric integers with float scales, in one of four schemes:

* ``int8`` — per output channel (one scale per row of ``W``), levels −127..127;
* ``int4`` — per group of ``group`` input channels (default 128), levels −7..7;
* ``int2`` — per group, levels −2..1 (scale = absmax / 2, the positive end clipped to 1);
* ``ternary`` — per group, levels −1..1 with BitNet b1.58's absmean scale;
* ``q4_1`` — llama.cpp's Q4_1, per group of 32: unsigned codes 0..15 with a scale and a
  minimum, ``w = d·q + m`` (as a GGUF file stores them, :mod:`hwgen.llm.gguf`);
* ``q8_0`` — llama.cpp's Q8_0, per group of 32: int8 codes with a scale, ``w = d·q``.

Activations are symmetric int8 per token (one scale per row of ``x``), levels −127..127; for
a GGUF model's weights (``q4_1``, ``q8_0``) per token and block of 32 inputs, as llama.cpp's
Q8_1 activations: the block's integer sum is computed alone anyway, so its own activation
scale costs the hardware nothing (:attr:`QuantizedWeight.act_group`).

**Scales are applied on the host, not in the accelerator's output stage.** A linear layer
``y = x Wᵀ`` becomes ``y[t, c] = s_x[t] · Σ_g s_w[c, g] · (Σ_{k∈g} x_q[t, k] · w_q[c, k])``: the
inner sums are exact integers from the accelerator (one GEMM per weight group), and the
output stage's per-column integer scale and shift can express neither the per-token factor
nor a float per-group factor without an extra rounding. On the host both are one NumPy
multiply-add per group; the results stay bit-identical to :func:`linear_reference`. A weight
with minimums (Q4_1) adds ``m[c, g] · Σ_{k∈g} x_q[t, k]`` per group, the token's exact group
sum times the minimum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SCHEMES", "QuantizedWeight", "quantize_weight", "quantize_activations", "group_partials",
           "combine", "linear_reference"]

#: scheme → (lowest level, highest level, per-group?)
SCHEMES = {"int8": (-127, 127, False), "int4": (-7, 7, True), "int2": (-2, 1, True), "ternary": (-1, 1, True),
           "q4_1": (0, 15, True), "q8_0": (-128, 127, True)}


@dataclass(frozen=True)
class QuantizedWeight:
    """``W ≈ q · scales`` for a weight ``W`` of shape (out, in) = (N, K)."""
    q: np.ndarray          # (N, K) int8 (q4_1: uint8 codes 0..15)
    scales: np.ndarray     # (N, G) float32: one per output channel and input group
    group: int             # input channels per group (K for per-channel schemes)
    scheme: str
    mins: np.ndarray | None = None   # (N, G) float32: q4_1's minimum per group (w = d·q + m)

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape

    @property
    def act_group(self) -> int | None:
        """Inputs per activation scale: the weight's own blocks for the GGUF schemes, else None
        (one scale per token)."""
        return self.group if self.scheme in ("q4_1", "q8_0") else None

    @property
    def bits(self) -> int:
        """Bits of a signed integer holding every level (the engine's ``pe.w`` must be at least this)."""
        return {"int8": 8, "int4": 4, "int2": 2, "ternary": 2, "q4_1": 4, "q8_0": 8}[self.scheme]

    @property
    def fmt(self) -> str:
        """The integer format of the codes (what the engine's ``pe.w`` must hold)."""
        return "uint4" if self.scheme == "q4_1" else f"int{self.bits}"

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        s = np.repeat(self.scales, self.group, axis=1)[:, :k]
        w = self.q.astype(np.float32) * s
        if self.mins is not None:
            w = w + np.repeat(self.mins, self.group, axis=1)[:, :k]
        return w.astype(np.float32)


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
    if scheme == "q4_1":   # llama.cpp's rule: d = (max − min) / 15, m = min, q = round((w − m) / d)
        mn, mx = blocks.min(axis=2), blocks.max(axis=2)
        d = ((mx - mn) / 15).astype(np.float16).astype(np.float32)
        mn = mn.astype(np.float16).astype(np.float32)
        inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0)
        q = np.clip(np.rint((blocks - mn[:, :, None]) * inv[:, :, None]), 0, 15).astype(np.uint8).reshape(n, -1)[:, :k]
        return QuantizedWeight(q=np.ascontiguousarray(q), scales=d, group=g, scheme=scheme, mins=mn)
    if scheme == "ternary":   # BitNet b1.58: absmean over the real (unpadded) weights of a group
        counts = np.minimum(g, k - np.arange(n_groups) * g)
        scale = np.abs(blocks).sum(axis=2) / counts
    else:
        scale = np.abs(blocks).max(axis=2) / max(-lo, hi)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(blocks / scale[:, :, None]), lo, hi).astype(np.int8).reshape(n, -1)[:, :k]
    return QuantizedWeight(q=np.ascontiguousarray(q), scales=scale, group=g, scheme=scheme)


def quantize_activations(x: np.ndarray, group: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-token symmetric int8: ``x ≈ q · s[:, None]``; returns (q int8 (T, K), s float32 (T,)).
    With ``group``: a scale per token and block of ``group`` inputs, s (T, ⌈K/group⌉)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"activations must be 2-D (tokens, features), got shape {x.shape}")
    if group is not None:
        t, k = x.shape
        g = -(-k // group)
        pad = np.zeros((t, g * group), np.float32)
        pad[:, :k] = x
        s = np.abs(pad.reshape(t, g, group)).max(axis=2) / 127.0
        s = np.where(s > 0, s, 1.0).astype(np.float32)
        q = np.clip(np.rint(pad.reshape(t, g, group) / s[:, :, None]), -127, 127).astype(np.int8)
        return q.reshape(t, -1)[:, :k], s
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


def combine(partials: list[np.ndarray], xs: np.ndarray, qw: QuantizedWeight, xq: np.ndarray | None = None) -> np.ndarray:
    """``y = s_x · Σ_g (s_w[:, g] · partial_g + m[:, g] · Σ_{k∈g} x_q)`` in float32, groups in
    order (bit-reproducible); the minimums' term only for a weight that has them (then ``xq``,
    the int8 activations, is needed)."""
    y = np.zeros(partials[0].shape, np.float32)
    if qw.mins is not None and xq is None:
        raise ValueError("a weight with minimums (q4_1) needs the int8 activations to combine its partials")
    if xs.ndim == 2:   # a scale per token and block (act_group): applied to each block's sum
        for gi, p in enumerate(partials):
            yg = p.astype(np.float32) * qw.scales[:, gi][None, :]
            if qw.mins is not None:
                xsum = xq[:, gi * qw.group:(gi + 1) * qw.group].astype(np.int64).sum(axis=1)
                yg += xsum.astype(np.float32)[:, None] * qw.mins[:, gi][None, :]
            y += yg * xs[:, gi][:, None]
        return y
    for gi, p in enumerate(partials):
        y += p.astype(np.float32) * qw.scales[:, gi][None, :]
        if qw.mins is not None:
            xsum = xq[:, gi * qw.group:(gi + 1) * qw.group].astype(np.int64).sum(axis=1)
            y += xsum.astype(np.float32)[:, None] * qw.mins[:, gi][None, :]
    return y * xs[:, None]


def linear_reference(x: np.ndarray, qw: QuantizedWeight, *, acc_bits: int = 32) -> np.ndarray:
    """The quantized linear layer in NumPy, the same arithmetic the accelerator path does."""
    from ..golden import gemm
    xq, xs = quantize_activations(x, qw.act_group)
    parts = group_partials(lambda a, w: gemm(a.astype(np.int64), w.astype(np.int64), acc_bits=acc_bits), xq, qw)
    return combine(parts, xs, qw, xq)
