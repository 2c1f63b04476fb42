"""Quantized linear layers for :class:`hwgen.llm.model.DecoderBlock`: on the accelerator
through the driver, or in NumPy with the same arithmetic (the bit-exact reference)."""
from __future__ import annotations

import numpy as np

from ..numerics import parse_lowbit
from .model import LayerWeights, LLMError
from .quant import QuantizedWeight, combine, group_partials, linear_reference, quantize_activations, quantize_weight

__all__ = ["quantize_layer", "ReferenceLinear", "AcceleratorLinear", "FixedScales", "fixed_scales",
           "LutReferenceLinear", "LutLinear", "LUT_FORMATS"]

#: the LUT engine's weight format of each scheme (int8 needs an engine with 8-bit planes;
#: Q4_1's codes 0..15 travel as uint4 planes, its minimums as the groups' zero points)
LUT_FORMATS = {"int4": "int4", "int2": "int2", "ternary": "ternary", "int8": "int8", "q4_1": "uint4", "q8_0": "int8"}


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
    counting MACs per projection. On a LUT engine the codes travel as bit-planes of their own
    format (Q4_1's as ``uint4``), one GEMM per weight group, scales on the host."""

    def __init__(self, acc, qweights: dict[str, QuantizedWeight]):
        pe = acc.cfg.array.pe
        self.lut = acc.geo.lut
        for name, qw in qweights.items():
            from ..numerics import parse_format
            codes = parse_format(qw.fmt)
            holds = (codes.bits <= pe.w.bits) if self.lut else (pe.w.min <= codes.min <= codes.max <= pe.w.max)
            if not holds or pe.a.bits < 8 or not pe.a.signed:
                if self.lut:
                    raise LLMError(f"{name}: {qw.scheme} weights ({codes} codes) × int8 activations need {codes.bits}-bit "
                                   f"weight planes and pe.a: int8; {acc.cfg.name} (a LUT engine) stores weights of up "
                                   f"to {pe.w.bits} bits ({pe.a} × {pe.w})")
                raise LLMError(f"{name}: {qw.scheme} weights ({codes} codes) × int8 activations need pe.a: int8 and "
                               f"a pe.w holding {codes}; {acc.cfg.name} has {pe.a} × {pe.w}")
        self.acc, self.q = acc, qweights
        self.macs: dict[str, int] = {}

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        qw = self.q[name]
        xq, xs = quantize_activations(x, qw.act_group)
        gemm = (lambda a, w: self.acc.gemm(a, w, w_fmt=qw.fmt)) if self.lut else self.acc.gemm
        parts = group_partials(gemm, xq, qw)
        self.macs[name] = self.macs.get(name, 0) + xq.shape[0] * qw.shape[0] * qw.shape[1]
        return combine(parts, xs, qw, xq)


# -- LUT engines with group dequantization: the per-group scales in hardware, one RUN per layer

class FixedScales:
    """A quantized weight's group scales (and Q4_1's minimums, as zero points) as the hardware
    takes them: ``D = round(s · 2**frac)``, ``Z = round(m · 2**frac)``, signed 16-bit, one
    ``frac`` per layer (:func:`hwgen.golden.lut.fixed_point_scales`)."""

    def __init__(self, qw: QuantizedWeight):
        from ..golden.lut import fixed_point_scales
        self.q = qw
        mins = None if qw.mins is None else qw.mins.T
        self.d, z, self.frac = fixed_point_scales(qw.scales.T, mins)      # (G, N) each
        self.z = None if qw.mins is None else z
        #: the largest relative error of a rounded scale (the layer's largest scale loses least)
        s = np.abs(qw.scales.T)
        err = np.abs(self.d / 2.0 ** self.frac - qw.scales.T) / np.where(s > 0, s, 1)
        self.max_rel_error = float(err.max(initial=0.0))


def fixed_scales(qweights: dict[str, QuantizedWeight]) -> dict[str, FixedScales]:
    return {name: FixedScales(qw) for name, qw in qweights.items()}


def _finish(y_int: np.ndarray, frac: int, xs: np.ndarray) -> np.ndarray:
    """``y = y_int · 2**-frac · s_x`` in float32 (the same operations on both paths)."""
    return (y_int.astype(np.float64) * 2.0 ** -frac).astype(np.float32) * xs[:, None]


class LutReferenceLinear:
    """The LUT engine's layer in NumPy: int8 tokens × low-bit weights, each group's exact sum
    times its 16-bit fixed-point scale, summed exactly (``hwgen.golden.lut.grouped_gemm``)."""

    def __init__(self, fixed: dict[str, FixedScales], acc_bits: int):
        self.f, self.acc_bits = fixed, acc_bits

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        from ..golden.lut import grouped_gemm
        f = self.f[name]
        qw = f.q
        xq, xs = quantize_activations(x)
        n, k = qw.shape
        pad = f.d.shape[0] * qw.group - k
        y = grouped_gemm(np.pad(xq.astype(np.int64), ((0, 0), (0, pad))), np.pad(qw.q.T.astype(np.int64), ((0, pad), (0, 0))),
                         None, group=qw.group, scale=f.d, zero=f.z, acc_bits=self.acc_bits)
        return _finish(y, f.frac, xs)


class LutLinear:
    """``linear(name, x)`` on a LUT engine with ``dequant: group``: the weights travel as
    bit-planes of their scheme's format, the group scales as 16-bit fixed point, and the
    engine rescales each group itself, one ``Accelerator.gemm`` (a RUN per chunk that fits
    the memories) per layer; the host applies 2**-frac and the token scales."""

    def __init__(self, acc, fixed: dict[str, FixedScales]):
        geo = acc.geo
        if not geo.grouped:
            raise LLMError(f"{acc.cfg.name} is not a LUT engine with dequant: group")
        d = acc.cfg.array.depth
        for name, f in fixed.items():
            qw = f.q
            fmt = LUT_FORMATS[qw.scheme]
            beats = qw.group // d
            if qw.group % d or beats & (beats - 1) or beats > 128:
                raise LLMError(f"{name}: group {qw.group} must be {d}·2^l input channels (l = 0..7) on {acc.cfg.name}")
            if parse_lowbit(fmt).bits > acc.cfg.array.pe.w.bits:
                raise LLMError(f"{name}: {qw.scheme} weights need {fmt} planes; {acc.cfg.name} stores up to "
                               f"{acc.cfg.array.pe.w.bits} bits (pe.w: {acc.cfg.array.pe.w})")
        self.acc, self.f = acc, fixed
        self.macs: dict[str, int] = {}
        self.runs: dict[str, int] = {}

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        from ..driver import GroupScales
        f = self.f[name]
        qw = f.q
        xq, xs = quantize_activations(x)
        runs = self.acc.stats.runs
        y = self.acc.gemm(xq.astype(np.int64), qw.q.T.astype(np.int64), w_fmt=LUT_FORMATS[qw.scheme],
                          groups=GroupScales(qw.group, f.d, f.z))
        self.runs[name] = self.runs.get(name, 0) + self.acc.stats.runs - runs
        self.macs[name] = self.macs.get(name, 0) + xq.shape[0] * qw.shape[0] * qw.shape[1]
        return _finish(y, f.frac, xs)
