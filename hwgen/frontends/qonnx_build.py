"""QONNX networks built with ``onnx.helper`` alone: the graphs Brevitas exports (``Quant`` nodes
on inputs, weights and activations), for hwgen's examples and tests.

Every layer is ``Quant(W) → MatMul/Conv → Add(b) → Mul(scale) → [Relu] → Quant(8 bits, ROUND)``
with integer weights and biases and a scale ``2^-s`` (or ``m·2^-s`` per output column, an
unsigned 8-bit ``m``: hls4ml folds the bias into ``b·scale`` in float32, exact below 2^24), so the network is an exact integer pipeline; the shifts are set from
the accumulators' spread on random inputs so the int8 activations neither vanish nor all
saturate. ``python -m hwgen.frontends.qonnx_build DIR`` writes the examples.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["Graph", "jet_mlp", "ids_mlp", "small_cnn", "EXAMPLES", "write_examples"]

QDOM = "qonnx.custom_op.general"


class Graph:
    """A small builder over ``onnx.helper``."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name: str, arr) -> str:
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", **attrs) -> str:
        from onnx import helper
        self.n += 1
        out = f"{op.lower()}{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.n}", domain=domain, **attrs))
        return out

    def quant(self, x: str, bits: int = 8, scale: float = 1.0, signed: int = 1, narrow: int = 0,
              rounding: str = "ROUND") -> str:
        """QONNX Quant: ``scale · clip(round(x / scale), qmin, qmax)``."""
        k = self.n + 1
        return self.node("Quant", [x, self.const(f"q{k}_scale", scale), self.const(f"q{k}_zero", 0.0),
                                   self.const(f"q{k}_bits", float(bits))],
                         domain=QDOM, signed=signed, narrow=narrow, rounding_mode=rounding)

    def model(self, x: str, in_shape: list[int], y: str, out_shape: list[int]):
        from onnx import TensorProto, checker, helper
        g = helper.make_graph(self.nodes, "hwgen", [helper.make_tensor_value_info(x, TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, out_shape)], initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QDOM, 1)],
                              producer_name="hwgen")
        m.ir_version = 8
        checker.check_model(m)
        return m


def _shift(acc: np.ndarray, target: float = 48.0) -> int:
    """The right shift that brings the accumulators' spread to about ``target``."""
    sd = float(np.std(acc)) or 1.0
    return max(0, int(np.round(np.log2(sd / target))))


def _requant(acc, mult, shift, relu):
    v = acc.astype(np.float64) * mult * 2.0 ** -shift
    y = np.clip(np.round(v), -128, 127)
    return np.maximum(y, 0) if relu else y


def _mlp(name: str, dims: list[int], seed: int, per_column: bool, last_quant: bool, relu_last: bool = False):
    rng = np.random.default_rng(seed)
    g = Graph()
    h = g.quant("x")
    a = rng.integers(-128, 128, (256, dims[0])).astype(np.int64)       # calibration inputs
    layers = len(dims) - 1
    for i, (k, n) in enumerate(zip(dims[:-1], dims[1:])):
        w = rng.integers(-127, 128, (k, n))
        acc = a @ w
        b = rng.integers(-int(np.std(acc)), int(np.std(acc)) + 1, n)
        acc = acc + b
        relu = i < layers - 1 or relu_last
        last = i == layers - 1
        h = g.node("MatMul", [h, g.quant(g.const(f"W{i}", w))])
        h = g.node("Add", [h, g.const(f"b{i}", b)])
        if last and not last_quant:      # raw logits: the accumulators themselves
            break
        s = _shift(acc)
        if per_column:   # an 8-bit multiplier per column, then a shift of 8 more (b·scale stays exact in float32)
            mult = rng.integers(1 << 7, 1 << 8, n)
            scale, s = mult * 2.0 ** -(s + 8), s + 8
        else:
            mult, scale = np.ones(n, np.int64), 2.0 ** -s
        h = g.node("Mul", [h, g.const(f"s{i}", scale)])
        if relu:
            h = g.node("Relu", [h])
        h = g.quant(h)
        a = _requant(acc, mult, s, relu).astype(np.int64)
    return g.model("x", [1, dims[0]], h, [1, dims[-1]])


def jet_mlp(seed: int = 1):
    """The hls4ml jet-tagging network's shape: 16 → 64 → 32 → 32 → 5, ReLU, int8 throughout,
    a power-of-two scale per layer, int8 logits (no softmax: a lookup table)."""
    return _mlp("jet_mlp", [16, 64, 32, 32, 5], seed, per_column=False, last_quant=True)


def ids_mlp(seed: int = 2):
    """An intrusion-detection MLP (41 connection features, as NSL-KDD has) → 64 → 32 → 2, with
    a per-column 8-bit multiplier in every hidden layer and raw integer logits."""
    return _mlp("ids_mlp", [41, 64, 32, 2], seed, per_column=True, last_quant=False)


def small_cnn(seed: int = 3):
    """8×8×1 → Conv 3×3×4 (pad 1) → ReLU → Conv 3×3×8 (stride 2, pad 1) → ReLU → Flatten →
    Dense 10, int8 activations, a power-of-two scale per layer."""
    rng = np.random.default_rng(seed)
    g = Graph()
    x = rng.integers(-128, 128, (256, 8, 8, 1)).astype(np.int64)       # calibration, channels last
    h = g.quant("x")
    for i, (cin, cout, stride) in enumerate([(1, 4, 1), (4, 8, 2)]):
        w = rng.integers(-127, 128, (cout, cin, 3, 3))
        from .lowered import im2col
        cols = im2col(x, (3, 3), (stride, stride), (1, 1, 1, 1))
        acc = cols @ w.transpose(2, 3, 1, 0).reshape(-1, cout)
        b = rng.integers(-int(np.std(acc)), int(np.std(acc)) + 1, cout)
        acc = acc + b
        s = _shift(acc)
        h = g.node("Conv", [h, g.quant(g.const(f"W{i}", w)), g.const(f"b{i}", b)], kernel_shape=[3, 3],
                   strides=[stride, stride], pads=[1, 1, 1, 1], dilations=[1, 1], group=1)
        h = g.node("Mul", [h, g.const(f"s{i}", 2.0 ** -s)])
        h = g.node("Relu", [h])
        h = g.quant(h)
        x = _requant(acc, 1, s, True).astype(np.int64)
    h = g.node("Flatten", [h], axis=1)
    flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)                # ONNX flattens (C, H, W)
    w = rng.integers(-127, 128, (flat.shape[1], 10))
    acc = flat @ w
    b = rng.integers(-int(np.std(acc)), int(np.std(acc)) + 1, 10)
    h = g.node("MatMul", [h, g.quant(g.const("W2", w))])
    h = g.node("Add", [h, g.const("b2", b)])
    h = g.node("Mul", [h, g.const("s2", 2.0 ** -_shift(acc + b))])
    h = g.quant(h)
    return g.model("x", [1, 1, 8, 8], h, [1, 10])


EXAMPLES = {"jet_mlp": jet_mlp, "ids_mlp": ids_mlp, "small_cnn": small_cnn}


def write_examples(out: Path) -> list[Path]:
    import onnx
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in EXAMPLES.items():
        p = out / f"{name}.onnx"
        onnx.save(build(), str(p))
        paths.append(p)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m hwgen.frontends.qonnx_build DIR   (the repository's examples: examples/models)")
    for p in write_examples(Path(sys.argv[1])):
        print(p)
