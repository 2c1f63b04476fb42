"""Quantized linear layers for :class:`hwgen.llm.model.DecoderBlock`: on the accelerator
through the driver, or in NumPy with the same arithmetic (the bit-exact reference)."""
from __future__ import annotations

import numpy as np

from .model import LayerWeights, LLMError
from .quant import QuantizedWeight, combine, group_partials, linear_reference, quantize_activations, quantize_weight

__all__ = ["quantize_layer", "ReferenceLinear", "AcceleratorLinear"]


def quantize_layer(w: LayerWeights, scheme: str = "int8", group: int = 128) -> dict[str, QuantizedWeight]:
    return {name: quantize_weight(m, scheme, group) for name, m in w.proj.items()}


class ReferenceLinear:
    """``linear(name, x)`` in NumPy: per-token int8 activations, exact integer partial sums
    per weight group (``hwgen.golden.gemm``), scales on the host."""

    def __init__(self, qweights: dict[str, QuantizedWeight], acc_bits: int = 32):
        self.q, self.acc_bits = qweights, acc_bits

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        return linear_reference(x, self.q[name], acc_bits=self.acc_bits)


class AcceleratorLinear:
    """``linear(name, x)`` with the integer GEMMs on the accelerator (``Accelerator.gemm``),
    counting MACs per projection."""

    def __init__(self, acc, qweights: dict[str, QuantizedWeight]):
        pe = acc.cfg.array.pe
        for name, qw in qweights.items():
            if qw.bits > pe.w.bits or not pe.w.signed or pe.a.bits < 8 or not pe.a.signed:
                raise LLMError(f"{name}: {qw.scheme} weights × int8 activations need pe.a: int8 and a signed "
                                 f"pe.w of >= {qw.bits} bits; {acc.cfg.name} has {pe.a} × {pe.w}")
        self.acc, self.q = acc, qweights
        self.macs: dict[str, int] = {}

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        qw = self.q[name]
        xq, xs = quantize_activations(x)
        parts = group_partials(self.acc.gemm, xq, qw)
        self.macs[name] = self.macs.get(name, 0) + xq.shape[0] * qw.shape[0] * qw.shape[1]
        return combine(parts, xs, qw)
