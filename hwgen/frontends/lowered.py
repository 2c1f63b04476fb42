"""A network lowered to accelerator work: integer layers, each one GEMM and the output stage.

What a frontend (:mod:`hwgen.frontends.hls4ml`) produces and what the accelerator runs:

* :class:`Dense` — ``y = stage(bias + x @ W)``: an int GEMM whose accumulators start from the
  bias (:meth:`hwgen.driver.Accelerator.gemm`'s ``bias``), then the output stage: a per-column
  unsigned 16-bit multiplier, a right shift rounding half to even, a clip to the activation
  format and ReLU (:func:`hwgen.golden.requant.requantize`). Without a stage the layer's result
  is the accumulators themselves (a network's last, linear layer).
* :class:`Conv` — the same on the im2col matrix of a channels-last input (done on the host):
  one row per output pixel, ``kh·kw·cin`` columns in (kh, kw, cin) order, zero padding.
* :class:`Host` — on the host: reshapes (Flatten, Reshape, Transpose) and, after a last layer
  without an output stage, ReLU and an exact integer multiplier per column.

Every value is an integer; ``frac`` says where the binary point is (value = int · 2**-frac).
The NumPy reference (:meth:`LoweredModel.reference`) and the accelerator run
(:meth:`LoweredModel.run`) do the same integer operations, so they agree bit for bit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..numerics import Format, parse_format

__all__ = ["FrontendError", "Stage", "Dense", "Conv", "Host", "LoweredModel", "im2col", "check_fits"]


class FrontendError(ValueError):
    """A model the accelerator cannot run exactly, or a lowered model that does not fit a config."""


@dataclass(frozen=True)
class Stage:
    """The output stage: ``clip(round_half_even(acc · scale / 2**shift))``, then ReLU, in ``fmt``."""
    scale: np.ndarray          # (N,) 0..65535
    shift: int
    relu: bool
    fmt: Format


@dataclass
class Dense:
    name: str
    source: str                # where it came from (the frontend's layer class and name)
    w: np.ndarray              # (K, N) integers
    bias: np.ndarray | None    # (N,) integers at the accumulator's binary point
    stage: Stage | None        # None: the accumulators are the layer's result
    acc_bits: int              # the source's accumulator width (it wraps there)
    frac: int                  # binary point of the result
    kind = "dense"

    @property
    def n_out(self) -> int:
        return self.w.shape[1]

    def macs(self, rows: int) -> int:
        return rows * self.w.shape[0] * self.w.shape[1]


@dataclass
class Conv(Dense):
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)      # top, bottom, left, right
    kind = "conv"


@dataclass
class Host:
    name: str
    source: str
    op: str                    # "reshape" | "transpose" | "pad" | "pad1d" | "relu" | "mul"
    arg: tuple                 # the per-sample shape, the permutation of the sample axes, or mul's integers
    kind = "host"


def _host(x: np.ndarray, lay: Host) -> np.ndarray:
    if lay.op == "reshape":
        return x.reshape((x.shape[0],) + tuple(lay.arg))
    if lay.op == "transpose":
        return x.transpose((0,) + tuple(i + 1 for i in lay.arg))
    if lay.op == "pad":        # zero padding of (B, H, W, C): top, bottom, left, right
        t, btm, left, right = lay.arg
        return np.pad(x, ((0, 0), (t, btm), (left, right), (0, 0)))
    if lay.op == "pad1d":      # zero padding of (B, W, C): left, right
        return np.pad(x, ((0, 0), tuple(lay.arg), (0, 0)))
    if lay.op == "relu":
        return np.maximum(x, 0)
    if lay.op == "mul":
        return x * np.asarray(lay.arg, dtype=np.int64)
    raise FrontendError(f"{lay.name}: unknown host operation {lay.op!r}")


def im2col(x: np.ndarray, kernel, stride, pad) -> np.ndarray:
    """(B, H, W, C) → (B, OH, OW, kh·kw·C): each output pixel's receptive field in (kh, kw, C)
    order, zero padding."""
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = pad
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    b, h, w, c = xp.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise FrontendError(f"a {kh}x{kw} kernel does not fit a padded {h}x{w} input")
    cols = np.empty((b, oh, ow, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
    return cols.reshape(b, oh, ow, kh * kw * c)


@dataclass
class LoweredModel:
    name: str
    input_shape: tuple[int, ...]       # one sample's shape (channels last)
    input_fmt: Format
    input_frac: int
    layers: list = field(default_factory=list)

    @property
    def output_frac(self) -> int:
        dense = [lay for lay in self.layers if lay.kind != "host"]
        return dense[-1].frac if dense else self.input_frac

    # -- the integer arithmetic, on the host or on the accelerator

    def quantize_input(self, x) -> np.ndarray:
        """Float inputs (B, *input_shape) as the integers they are at ``input_frac``; values
        that are not exactly representable are an error, not rounded silently."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != tuple(self.input_shape):
            raise FrontendError(f"{self.name}: inputs must be (batch, {', '.join(map(str, self.input_shape))}), "
                                f"got {x.shape}")
        q = x * 2.0 ** self.input_frac
        bad = (q != np.rint(q)) | (q < self.input_fmt.min) | (q > self.input_fmt.max)
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            raise FrontendError(f"{self.name}: input {i} = {float(x[i])!r} is not a {self.input_fmt} value at 2^-{self.input_frac} "
                                f"(the model's input precision)")
        return np.rint(q).astype(np.int64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The integer outputs in NumPy (``hwgen.golden``)."""
        from .. import golden
        from ..golden.requant import requantize

        def gemm(a, lay):
            c = None if lay.bias is None else np.broadcast_to(lay.bias, (a.shape[0], lay.n_out))
            acc = golden.gemm(a, lay.w, acc_bits=lay.acc_bits, c=c)
            s = lay.stage
            return acc if s is None else requantize(acc, s.scale, s.shift, relu=s.relu, out_fmt=s.fmt)
        return self._walk(x, gemm)

    def run(self, acc, x: np.ndarray) -> np.ndarray:
        """The integer outputs with every Dense/Conv GEMM and output stage on ``acc``
        (:class:`hwgen.driver.Accelerator`)."""
        from ..driver import Requant

        def gemm(a, lay):
            s = lay.stage
            return acc.gemm(a, lay.w, bias=lay.bias,
                            requant=None if s is None else Requant(s.scale, s.shift, s.relu))
        return self._walk(x, gemm)

    def _walk(self, x: np.ndarray, gemm) -> np.ndarray:
        x = np.asarray(x, dtype=np.int64)
        b = x.shape[0]
        for lay in self.layers:
            if lay.kind == "host":
                x = _host(x, lay)
            elif lay.kind == "conv":
                cols = im2col(x, lay.kernel, lay.stride, lay.pad)
                oh, ow = cols.shape[1:3]
                x = gemm(cols.reshape(b * oh * ow, -1), lay).reshape(b, oh, ow, lay.n_out)
            else:
                x = gemm(x.reshape(b, -1), lay)
        return x

    def macs(self, batch: int = 1) -> int:
        """Multiply-accumulates of ``batch`` inferences (what the engine computes)."""
        shape, total = tuple(self.input_shape), 0
        for lay in self.layers:
            if lay.kind == "host":
                if lay.op == "reshape":
                    shape = tuple(lay.arg)
                elif lay.op == "transpose":
                    shape = tuple(shape[i] for i in lay.arg)
                elif lay.op == "pad1d":
                    shape = (shape[0] + lay.arg[0] + lay.arg[1],) + shape[1:]
                elif lay.op == "pad":
                    shape = (shape[0] + lay.arg[0] + lay.arg[1], shape[1] + lay.arg[2] + lay.arg[3]) + shape[2:]
            elif lay.kind == "conv":
                h, w = shape[0] + lay.pad[0] + lay.pad[1], shape[1] + lay.pad[2] + lay.pad[3]
                oh, ow = (h - lay.kernel[0]) // lay.stride[0] + 1, (w - lay.kernel[1]) // lay.stride[1] + 1
                total += lay.macs(batch * oh * ow)
                shape = (oh, ow, lay.n_out)
            else:
                total += lay.macs(batch)
                shape = (lay.n_out,)
        return total

    # -- files: model.json (structure, formats, scales) and weights.npz (the integer tensors)

    def save(self, out: Path) -> list[Path]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tensors, layers = {}, []
        for i, lay in enumerate(self.layers):
            d = {"name": lay.name, "kind": lay.kind, "source": lay.source}
            if lay.kind == "host":
                d.update(op=lay.op, arg=list(lay.arg))
            else:
                tensors[f"{i}.w"] = lay.w
                if lay.bias is not None:
                    tensors[f"{i}.bias"] = lay.bias
                d.update(shape=list(lay.w.shape), acc_bits=lay.acc_bits, frac=lay.frac, bias=lay.bias is not None)
                if lay.stage is not None:
                    tensors[f"{i}.scale"] = lay.stage.scale
                    d["stage"] = {"shift": lay.stage.shift, "relu": lay.stage.relu, "fmt": lay.stage.fmt.name}
                if lay.kind == "conv":
                    d.update(kernel=list(lay.kernel), stride=list(lay.stride), pad=list(lay.pad))
            layers.append(d)
        doc = {"name": self.name, "input_shape": list(self.input_shape), "input_fmt": self.input_fmt.name,
               "input_frac": self.input_frac, "output_frac": self.output_frac, "macs_per_inference": self.macs(),
               "layers": layers}
        paths = [out / "model.json", out / "weights.npz"]
        paths[0].write_text(json.dumps(doc, indent=1) + "\n")
        np.savez(paths[1], **{k: np.asarray(v, dtype=np.int64) for k, v in tensors.items()})
        return paths

    @classmethod
    def load(cls, path: Path) -> "LoweredModel":
        path = Path(path)
        try:
            doc = json.loads((path / "model.json").read_text())
            t = dict(np.load(path / "weights.npz"))
        except (OSError, ValueError) as e:
            raise FrontendError(f"{path}: not a lowered model (model.json + weights.npz from `hwgen import`): {e}") from None
        layers = []
        for i, d in enumerate(doc["layers"]):
            if d["kind"] == "host":
                layers.append(Host(d["name"], d["source"], d["op"], tuple(d["arg"])))
                continue
            st = d.get("stage")
            stage = None if st is None else Stage(t[f"{i}.scale"], st["shift"], st["relu"], parse_format(st["fmt"]))
            common = dict(name=d["name"], source=d["source"], w=t[f"{i}.w"], bias=t.get(f"{i}.bias"), stage=stage,
                          acc_bits=d["acc_bits"], frac=d["frac"])
            layers.append(Conv(**common, kernel=tuple(d["kernel"]), stride=tuple(d["stride"]), pad=tuple(d["pad"]))
                          if d["kind"] == "conv" else Dense(**common))
        return cls(doc["name"], tuple(doc["input_shape"]), parse_format(doc["input_fmt"]), doc["input_frac"], layers)


def check_fits(model: LoweredModel, cfg) -> None:
    """Raise :class:`FrontendError` listing every reason ``cfg`` (an :class:`hwgen.config.HwgenConfig`)
    cannot run ``model`` bit for bit: operand formats, accumulator width, output format."""
    pe, problems = cfg.array.pe, []
    fmt_in, name_in = model.input_fmt, "the model's input"
    for lay in model.layers:
        if lay.kind == "host":
            continue
        where = f"{lay.name} ({lay.source})"
        if fmt_in is None:
            problems.append(f"{where}: its input is {name_in}'s raw accumulators; hwgen feeds a layer only "
                            "activations from the output stage (give the previous layer an activation or quantizer)")
        elif not pe.a.min <= fmt_in.min <= fmt_in.max <= pe.a.max:
            problems.append(f"{where}: its input ({name_in}) is {fmt_in}; {cfg.name}'s pe.a is {pe.a}")
        wmin, wmax = int(lay.w.min(initial=0)), int(lay.w.max(initial=0))
        if not pe.w.min <= wmin <= wmax <= pe.w.max:
            problems.append(f"{where}: weights span {wmin}..{wmax}; {cfg.name}'s pe.w is {pe.w} ({pe.w.min}..{pe.w.max})")
        lo, hi = -(1 << (pe.acc - 1)), (1 << (pe.acc - 1)) - 1
        if lay.bias is not None:
            bmin, bmax = int(lay.bias.min(initial=0)), int(lay.bias.max(initial=0))
            if bmin < lo or bmax > hi:
                problems.append(f"{where}: bias spans {bmin}..{bmax}, wider than {cfg.name}'s {pe.acc}-bit accumulators")
            if pe.overflow != "wrap":
                problems.append(f"{where}: has a bias; {cfg.name}'s accumulators saturate (pe.overflow: "
                                f"{pe.overflow}), a bias needs them to wrap")
        if lay.acc_bits != pe.acc or pe.overflow != "wrap":
            a_top = 0 if fmt_in is None else max(abs(fmt_in.min), abs(fmt_in.max))
            bound = int(np.abs(lay.w).sum(axis=0).max(initial=0)) * a_top + (
                0 if lay.bias is None else int(np.abs(lay.bias).max(initial=0)))
            if bound >= 1 << (min(lay.acc_bits, pe.acc) - 1):
                problems.append(f"{where}: its {lay.acc_bits}-bit accumulator (wrapping) can reach {bound:,}; "
                                f"{cfg.name}'s is {pe.acc}-bit ({pe.overflow}), so an overflow would differ "
                                f"(accepted: pe.acc >= {bound.bit_length() + 1})")
        if lay.stage is not None:
            if lay.stage.fmt != cfg.soc.out:
                problems.append(f"{where}: its output is {lay.stage.fmt}; {cfg.name}'s output stage gives "
                                f"soc.out: {cfg.soc.out}")
            if cfg.array.dataflow == "input_stationary":
                problems.append(f"{where}: needs the output stage; an input-stationary engine computes Cᵀ and "
                                "cannot scale per column")
        fmt_in, name_in = (None if lay.stage is None else lay.stage.fmt), lay.name
    if problems:
        raise FrontendError(f"{model.name} does not run exactly on {cfg.name}:\n  " + "\n  ".join(problems))
