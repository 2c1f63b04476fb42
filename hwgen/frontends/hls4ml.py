"""ONNX / QONNX networks through hls4ml's ``ModelGraph``, lowered to accelerator work.

hls4ml (the ``hls4ml`` extra) reads the model: qonnx's clean-up passes, then
``convert_from_onnx_model`` with a configuration that makes its C-simulation an exact
integer pipeline (:func:`hls_config`). :func:`lower` then walks ``ModelGraph.get_layers()`` and
turns it into a :class:`~hwgen.frontends.lowered.LoweredModel`, using only what the graph
states: each layer's class and attributes, its weights, and the precision of every
weight, bias, scale, accumulator and result (``ap_fixed<W, I, rounding, saturation>``).

A value of precision ``fixed<W, I>`` is an integer at ``W − I`` fractional bits. The walk
keeps every tensor as integers at a binary point. After a Dense or Conv it holds the
pending affine expression ``(acc + bias) · m`` (``m`` the product of the following
ApplyAlpha scales). A cast that rounds half to even and saturates (``RND_CONV``, ``SAT``: a
QONNX ``Quant`` with ``rounding_mode=ROUND``, or an activation's result type) becomes the
output stage: ``scale = m``, ``shift`` = the binary points' difference, ReLU if one came
before. Anything else that would change a value (truncation, wrap-around, a bias that is
not a whole multiple of its scale, a scale wider than 16 bits, lookup-table activations) is
refused by name with the precision found and what would be accepted. Casts that cannot
change a value (a wider type, an ``auto`` one) are followed silently.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..numerics import Format
from .lowered import Conv, Dense, FrontendError, Host, LoweredModel, Stage

__all__ = ["Imported", "import_model", "hls_config", "lower", "load_onnx", "SUPPORTED"]

#: hls4ml layer classes the walk lowers (the rest are refused by name)
SUPPORTED = ("Input", "Dense", "Conv1D", "Conv2D", "ApplyAlpha", "Activation", "ReLU", "Reshape", "Transpose",
             "ZeroPadding1D", "ZeroPadding2D")
SCALE_MAX = (1 << 16) - 1
SHIFT_MAX = 63


def _need():
    try:
        import hls4ml  # noqa: F401
        import qonnx  # noqa: F401
    except ImportError:
        raise FrontendError("model import needs hls4ml, onnx and qonnx: pip install 'hwgen[hls4ml]' "
                            "(make install does)") from None


@contextlib.contextmanager
def _quiet():
    """hls4ml and qonnx print a line per layer: kept out of hwgen's output."""
    import warnings
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield buf


def load_onnx(path: Path):
    """The ONNX file through qonnx's clean-up (shapes, constants folded, readable names) and
    channels-last conversion, Gemm as MatMul + Add: what hls4ml's ONNX frontend expects."""
    _need()
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise FrontendError(f"{path}: no such file") from None
    except Exception as e:   # protobuf's DecodeError and friends
        raise FrontendError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    try:
        with _quiet():
            mw = cleanup_model(ModelWrapper(model))
            mw = mw.transform(ConvertToChannelsLastAndClean())
            mw = mw.transform(GemmToMatMul())
            mw = cleanup_model(mw)
    except Exception as e:
        raise FrontendError(f"{path}: qonnx could not clean the graph up ({type(e).__name__}: {e})") from None
    return mw


def _input_type(mw, path) -> str:
    """The input's precision from the Quant node that takes the graph input: ``fixed<b, b+log2 s>``
    for a power-of-two scale ``s`` and zero point 0."""
    name = mw.graph.input[0].name
    tensors = {name}
    for node in mw.graph.node:   # through the layout changes channels-last conversion puts first
        if node.op_type in ("Transpose", "Reshape") and node.input[0] in tensors:
            tensors.add(node.output[0])
    for node in mw.graph.node:
        if node.op_type == "Quant" and node.input[0] in tensors:
            scale, zero, bits = (mw.get_initializer(i) for i in node.input[1:4])
            if scale is None or zero is None or bits is None or np.any(zero != 0) or np.size(scale) != 1:
                break
            e = np.log2(float(np.asarray(scale).reshape(())))
            b = int(np.asarray(bits).reshape(()))
            if e != int(e) or b != float(np.asarray(bits).reshape(())):
                break
            signed = next((a.i for a in node.attribute if a.name == "signed"), 1)
            return f"{'' if signed else 'u'}fixed<{b},{b + int(e)}>"
    raise FrontendError(f"{path}: the graph input {name!r} does not go through a QONNX Quant node with a power-of-two "
                        "scale and zero point 0, so its precision is unknown; quantize the input (Brevitas: "
                        "QuantIdentity) or give the input's precision in an hls4ml config (--hls-config)")


def hls_config(mw, path, *, strategy: str = "Latency", reuse_factor: int = 1, user: dict | None = None) -> dict:
    """hls4ml's configuration for an exact integer C-simulation: the input's precision from its
    Quant node, every constant (bias, scale) wide enough to be exact (``fixed<64,32>``), the
    inferred (``auto``) types left to hls4ml, which sizes them not to round or overflow; the
    Quant nodes' own types do the rounding. ``user`` (an hls4ml config dict) is merged over it."""
    import hls4ml
    with _quiet():
        cfg = hls4ml.utils.config.config_from_onnx_model(mw.model, granularity="name", backend="Vitis",
                                                         default_precision="fixed<64,32>")
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = reuse_factor
    for entry in cfg["LayerName"].values():
        if "ReuseFactor" in entry:          # name granularity pins 1 on every layer
            entry["ReuseFactor"] = reuse_factor
    cfg["LayerName"].setdefault("global_in", {}).setdefault("Precision", {})["result"] = _input_type(mw, path)
    for name, entry in (user or {}).get("LayerName", {}).items():
        cfg["LayerName"].setdefault(name, {}).update(entry)
    cfg["Model"].update((user or {}).get("Model", {}))
    return cfg


# -- precisions

@dataclass(frozen=True)
class Prec:
    """A fixed-point precision: ``width`` bits, ``frac`` of them fractional."""
    width: int
    frac: int
    signed: bool
    rnd: str = "TRN"
    sat: str = "WRAP"

    @classmethod
    def of(cls, p) -> "Prec":
        width, integer = int(p.width), int(p.integer)
        return cls(width, width - integer, bool(p.signed), str(getattr(p, "rounding_mode", "TRN")),
                   str(getattr(p, "saturation_mode", "WRAP")))

    # (not hwgen.numerics.Format: accumulator and result precisions go far past its 16 bits)
    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.width - self.frac},{self.rnd},{self.sat}>"


def _ints(values, prec: Prec, what: str) -> np.ndarray:
    """Constants as the integers they are at ``prec`` (refused when ``prec`` cannot hold them exactly)."""
    v = np.asarray(values, dtype=np.float64) * 2.0 ** prec.frac
    q = np.rint(v)
    bad = (q != v) | (q < prec.lo) | (q > prec.hi)
    if bad.any():
        i = tuple(int(x) for x in np.argwhere(bad)[0])
        raise FrontendError(f"{what}: value {float(np.asarray(values)[i])!r} at {i} is not exact in its precision {prec}; "
                            "give it a precision that holds it (an hls4ml config) or quantize it")
    return q.astype(np.int64)


# -- the walk

@dataclass
class _Pending:
    """A GEMM's result not yet through the output stage: ``(acc + bias) · mult`` at ``frac``."""
    layer: Dense
    frac: int                     # binary point of acc·mult
    mult: np.ndarray              # (N,) positive integers
    relu: bool = False


class _Walk:
    def __init__(self, name: str):
        self.name = name
        self.layers: list = []
        self.act: tuple[Format, int] | None = None    # (format, frac) of the activations, when not pending
        self.pending: _Pending | None = None
        self.shape: tuple[int, ...] = ()
        self.input: tuple[Format, int, tuple] | None = None

    def fail(self, layer, msg: str):
        raise FrontendError(f"{self.name}: layer {layer.name} ({layer.class_name}): {msg}")

    # activations → a GEMM
    def gemm(self, layer, w: np.ndarray, w_prec: Prec, conv: dict | None):
        if self.pending is not None:
            self.finish(layer, "its input")
        fmt, f_in = self.act
        a = layer.attributes
        acc_prec = Prec.of(layer.get_attr("accum_t").precision)
        f_w = w_prec.frac
        w_int = _ints(w, w_prec, f"{self.name}: layer {layer.name} weights")
        f_acc = f_in + f_w
        if acc_prec.frac < f_acc:
            self.fail(layer, f"its accumulator {acc_prec} keeps {acc_prec.frac} fractional bits, the products have "
                             f"{f_acc}: hls4ml would truncate each product; accepted: an accum_t with at least "
                             f"{f_acc} (or auto)")
        bias = None
        if "bias" in layer.weights and np.any(layer.weights["bias"].data):
            bp = Prec.of(layer.weights["bias"].type.precision)
            b_int = _ints(layer.weights["bias"].data, bp, f"{self.name}: layer {layer.name} bias")
            bias = self._align(layer, b_int, bp.frac, f_acc, "bias")
        # a wider accumulator binary point than the products' is a left shift of every product:
        # the same integers, the ones below the products' point all zero
        acc_bits = acc_prec.width - (acc_prec.frac - f_acc)
        src = f"{layer.class_name} {layer.name}"
        if conv is None:
            lay = Dense(layer.name, src, w_int, bias, None, acc_bits, f_acc)
        else:
            lay = Conv(layer.name, src, w_int, bias, None, acc_bits, f_acc, **conv)
        self.layers.append(lay)
        self.pending = _Pending(lay, f_acc, np.ones(w_int.shape[1], dtype=np.int64))
        self.act = None
        self.cast(layer, Prec.of(layer.get_output_variable().type.precision))

    def _align(self, layer, b_int, f_b, f_to, what):
        if f_b <= f_to:
            return b_int << (f_to - f_b)
        d = f_b - f_to
        if np.any(b_int & ((1 << d) - 1)):
            self.fail(layer, f"its {what} has {f_b} fractional bits, the accumulator {f_to}: hwgen adds the {what} "
                             f"to the accumulator exactly; accepted: a {what} on the accumulator's binary point")
        return b_int >> d

    def alpha(self, layer):
        """ApplyAlpha: y = x·scale + bias (a BatchNormalization or an ONNX Mul/Add with constants)."""
        p = self.pending
        if p is None:
            self.fail(layer, "scales activations that already left an output stage; hwgen scales a GEMM's "
                             "accumulators (put the Mul/BatchNorm right after the MatMul/Conv)")
        n = p.layer.w.shape[1]
        sp = Prec.of(layer.weights["scale"].type.precision)
        s = self._per_column(layer, layer.weights["scale"].data, n, "scale")
        s_int = _ints(s, sp, f"{self.name}: layer {layer.name} scale")
        if np.any(s_int <= 0):
            self.fail(layer, "has a scale <= 0; the output stage's multiplier is unsigned and non-zero")
        b2 = None
        if "bias" in layer.weights and np.any(layer.weights["bias"].data):
            bp = Prec.of(layer.weights["bias"].type.precision)
            b2 = _ints(self._per_column(layer, layer.weights["bias"].data, n, "bias"), bp,
                       f"{self.name}: layer {layer.name} bias")
        mult, frac = p.mult * s_int, p.frac + sp.frac
        if b2 is not None and p.relu:
            self.fail(layer, "adds a bias after a ReLU; hwgen's output stage applies ReLU last")
        if b2 is not None:   # (acc + b)·m·s + b2 = (acc + b + b2/(m·s))·m·s: b2/(m·s) must be a whole number
            b2 = self._align(layer, b2, bp.frac, frac, "bias")
            q, r = np.divmod(b2, mult)
            if np.any(r):
                self.fail(layer, "its bias is not a whole multiple of its scale at the accumulator's binary point: "
                                 "hwgen adds a bias before the output stage's multiplier; accepted: bias = b·scale with "
                                 "an integer b (an Add before the Mul)")
            lay = p.layer
            lay.bias = q if lay.bias is None else lay.bias + q
        p.mult, p.frac = mult, frac
        self.cast(layer, Prec.of(layer.get_output_variable().type.precision))

    def _per_column(self, layer, v, n, what):
        v = np.asarray(v, dtype=np.float64)
        if v.size == 1:
            return np.full(n, float(v.reshape(())))
        flat = v.reshape(-1, n)          # a conv's per-pixel copies: (pixels, F)
        if np.any(flat != flat[0]):
            self.fail(layer, f"its {what} differs between positions of the same channel; hwgen scales per output channel")
        return flat[0]

    def relu(self, layer):
        if self.pending is not None:
            self.pending.relu = True
        elif self.layers and isinstance(self.layers[-1], Dense) and self.layers[-1].stage is not None:
            st = self.layers[-1].stage
            self.layers[-1].stage = Stage(st.scale, st.shift, True, st.fmt)
        else:
            self.fail(layer, "is a ReLU on the model's input; hwgen applies ReLU in a GEMM's output stage")
        self.cast(layer, Prec.of(layer.get_output_variable().type.precision))

    def cast(self, layer, to: Prec):
        """A value converted to precision ``to``: nothing if it cannot change a value, the output
        stage if it rounds half to even and saturates, refused otherwise."""
        p = self.pending
        if p is None:
            fmt, f = self.act
            lo, hi = fmt.min, fmt.max
            if to.frac >= f and to.lo <= lo << (to.frac - f) and hi << (to.frac - f) <= to.hi:
                if to.frac != f:
                    self.fail(layer, f"re-scales activations from 2^-{f} to 2^-{to.frac} ({to}); hwgen passes "
                                     "activations between layers unchanged")
                return
            self.fail(layer, f"narrows activations ({fmt} at 2^-{f}) to {to} after an output stage; accepted: one "
                             "rounding cast per layer, right after its GEMM (scale, bias, ReLU between)")
        shift = p.frac - to.frac
        # can the cast change a value? |acc·mult| ≤ 2^(acc_bits−1)·max(mult)
        need = ((1 << (p.layer.acc_bits - 1)) * int(p.mult.max()) - 1).bit_length() + 1 + max(0, -shift)
        lossless = shift <= 0 and (need <= to.width if to.signed else p.relu and need - 1 <= to.width)
        if lossless:
            return   # a wide result type: still pending (the next layer or the model's end decides)
        if to.rnd not in ("RND_CONV",) and shift > 0:
            self.fail(layer, f"rounds with {to.rnd} (its result {to}); hwgen's output stage rounds half to even: "
                             "accepted RND_CONV (QONNX Quant rounding_mode=ROUND)")
        if to.sat not in ("SAT", "SAT_SYM") and not lossless:
            self.fail(layer, f"overflows with {to.sat} (its result {to}); hwgen's output stage saturates: accepted "
                             "SAT (QONNX Quant), or SAT_SYM after a ReLU")
        if to.sat == "SAT_SYM" and not p.relu and to.signed:
            self.fail(layer, f"saturates symmetrically (SAT_SYM, its result {to}: QONNX narrow=1) without a ReLU "
                             "before it; hwgen's output stage clips to the format's full range: accepted narrow=0")
        mult = p.mult
        if shift < 0:
            mult, shift = mult << -shift, 0
        while shift > 0 and np.all(mult % 2 == 0):
            mult, shift = mult >> 1, shift - 1
        if mult.max() > SCALE_MAX or shift > SHIFT_MAX:
            self.fail(layer, f"needs an output multiplier up to {int(mult.max()):,} with shift {shift}; the output "
                             f"stage takes 0..{SCALE_MAX} and shifts 0..{SHIFT_MAX}")
        fmt = Format(to.width, to.signed)
        p.layer.stage = Stage(mult.astype(np.int64), int(shift), p.relu, fmt)
        p.layer.frac = to.frac
        self.pending, self.act = None, (fmt, to.frac)

    def finish(self, layer, why: str):
        """A pending GEMM result that reaches ``layer`` (or the model's end, ``layer`` None)
        without an output stage: the raw accumulators, times an exact integer multiplier on
        the host when an ApplyAlpha scaled them."""
        p = self.pending
        if layer is not None:
            self.fail(layer, f"takes {why} from {p.layer.name}'s raw accumulators (no rounding cast between); "
                             "accepted: an activation Quant (ROUND, 8 bits) after each hidden layer")
        p.layer.frac = p.frac
        if p.relu:
            self.layers.append(Host(f"{p.layer.name}_relu", "ReLU", "relu", ()))
        if np.any(p.mult != 1):
            self.layers.append(Host(f"{p.layer.name}_scale", "ApplyAlpha", "mul", tuple(int(x) for x in p.mult)))
        self.pending = None


def lower(hm, name: str) -> LoweredModel:
    """Walk hls4ml's ModelGraph ``hm`` into a :class:`LoweredModel` (see the module docstring)."""
    wk = _Walk(name)
    layers = list(hm.get_layers())
    for layer in layers:
        cls, a = layer.class_name, layer.attributes
        if cls in ("Input", "InputLayer"):
            p = Prec.of(layer.get_output_variable().type.precision)
            shape = tuple(int(s) for s in layer.get_output_variable().shape)
            fmt = Format(p.width, p.signed)
            wk.input, wk.act, wk.shape = (fmt, p.frac, shape), (fmt, p.frac), shape
        elif cls == "Dense":
            w = np.asarray(layer.weights["weight"].data)
            n_in, n_out = int(a["n_in"]), int(a["n_out"])
            if _resource(layer):        # hls4ml's Resource strategy stores them (n_out, n_in)
                w = w.reshape(n_out, n_in).T
            if w.shape != (n_in, n_out):
                wk.fail(layer, f"weights of shape {w.shape}, expected (n_in, n_out) = {(n_in, n_out)}")
            wk.gemm(layer, w, Prec.of(layer.weights["weight"].type.precision), None)
        elif cls == "Conv2D":
            wk.gemm(layer, *_conv(layer, wk))
        elif cls == "Conv1D":            # a 1xW Conv2D between reshapes
            if wk.pending is not None:
                wk.finish(layer, "its input")
            w_in, c = (int(x) for x in layer.get_input_variable().shape)
            wk.layers.append(Host(f"{layer.name}_2d", f"Conv1D {layer.name}", "reshape", (1, w_in, c)))
            wk.gemm(layer, *_conv(layer, wk))
            conv = next(lay for lay in reversed(wk.layers) if lay.kind == "conv")
            ow = (w_in + conv.pad[2] + conv.pad[3] - conv.kernel[1]) // conv.stride[1] + 1
            wk.layers.insert(wk.layers.index(conv) + 1, Host(f"{layer.name}_1d", f"Conv1D {layer.name}", "reshape",
                                                             (ow, conv.n_out)))
        elif cls == "ApplyAlpha":
            wk.alpha(layer)
        elif cls in ("Activation", "ReLU"):
            act = str(a.get("activation", "linear")).lower()
            if act == "relu":
                wk.relu(layer)
            elif act == "linear":
                (wk.cast if wk.pending is not None or wk.act is not None else wk.fail)(
                    layer, Prec.of(layer.get_output_variable().type.precision))
            else:
                wk.fail(layer, f"is a {act} activation: hls4ml computes it by table lookup, which hwgen's output "
                               "stage does not have; accepted: ReLU, linear (a Quant)")
        elif cls == "Reshape":
            if wk.pending is not None:
                wk.fail(layer, "reshapes raw accumulators; accepted after an activation Quant")
            shape = tuple(int(s) for s in layer.get_output_variable().shape)
            wk.layers.append(Host(layer.name, f"Reshape {layer.name}", "reshape", shape))
        elif cls == "ZeroPadding2D":      # io_stream puts a convolution's padding in a layer of its own
            if wk.pending is not None:
                wk.fail(layer, "pads raw accumulators; accepted after an activation Quant")
            pad = tuple(int(a[k]) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right"))
            wk.layers.append(Host(layer.name, f"ZeroPadding2D {layer.name}", "pad", pad))
        elif cls == "ZeroPadding1D":
            if wk.pending is not None:
                wk.fail(layer, "pads raw accumulators; accepted after an activation Quant")
            wk.layers.append(Host(layer.name, f"ZeroPadding1D {layer.name}", "pad1d",
                                  (int(a["pad_left"]), int(a["pad_right"]))))
        elif cls == "Transpose":
            perm = tuple(int(i) for i in a["perm"])
            if len(perm) == len(wk.input[2]) + 1 and perm[0] == 0:   # a batch axis in the permutation
                perm = tuple(i - 1 for i in perm[1:])
            wk.layers.append(Host(layer.name, f"Transpose {layer.name}", "transpose", perm))
        elif "activation" in a or cls == "Softmax":
            act = str(a.get("activation", cls)).lower()
            wk.fail(layer, f"is a {act} activation: hls4ml computes it by table lookup, which hwgen's output "
                           "stage does not have; accepted: ReLU, linear (a Quant)")
        else:
            wk.fail(layer, f"is not something hwgen lowers (it lowers {', '.join(SUPPORTED)})")
    if wk.pending is not None:
        wk.finish(None, "")
    fmt, frac, shape = wk.input
    return LoweredModel(name, shape, fmt, frac, wk.layers)


def _resource(layer) -> bool:
    return str(layer.attributes.get("strategy", "latency")).lower() == "resource"


def _conv(layer, wk) -> tuple[np.ndarray, Prec, dict]:
    a = layer.attributes
    w = np.asarray(layer.weights["weight"].data)
    two_d = layer.class_name == "Conv2D"
    kh, kw = (int(a["filt_height"]), int(a["filt_width"])) if two_d else (1, int(a["filt_width"]))
    c, f = int(a["n_chan"]), int(a["n_filt"])
    if _resource(layer):                 # hls4ml's Resource strategy stores them (F, kh, kw, C)
        w = np.moveaxis(w.reshape(f, kh, kw, c), 0, -1)
    w = w.reshape(kh, kw, c, f)          # Conv1D: (kw, C, F)
    sh, sw = (int(a["stride_height"]), int(a["stride_width"])) if two_d else (1, int(a["stride_width"]))
    pad = ((int(a["pad_top"]), int(a["pad_bottom"])) if two_d else (0, 0)) + (int(a["pad_left"]), int(a["pad_right"]))
    return w.reshape(kh * kw * c, f), Prec.of(layer.weights["weight"].type.precision), dict(
        kernel=(kh, kw), stride=(sh, sw), pad=pad)


@dataclass
class Imported:
    """A model read through hls4ml: its ModelGraph (``hls``), the lowered model, and hls4ml's own
    C-simulation as :meth:`predict`."""
    path: Path
    hls: object
    lowered: LoweredModel
    config: dict
    _compiled: bool = False

    def predict(self, x_int: np.ndarray) -> np.ndarray:
        """hls4ml's C-simulation of integer inputs (as the lowered model's integers): compiled with
        g++ on first use; returns the outputs as integers at the model's output binary point."""
        if not self._compiled:
            with _quiet():
                self.hls.compile()
            self._compiled = True
        m = self.lowered
        x = np.asarray(x_int, dtype=np.float64) * 2.0 ** -m.input_frac
        with _quiet():
            y = np.asarray(self.hls.predict(np.ascontiguousarray(x.reshape(len(x), -1))), dtype=np.float64)
        y = y.reshape(len(x), -1) * 2.0 ** m.output_frac
        if np.any(y != np.rint(y)):
            raise FrontendError(f"{self.path}: hls4ml's output is not on the binary point 2^-{m.output_frac} the "
                                "lowering found")
        return np.rint(y).astype(np.int64)


def import_model(path: Path, *, hls_config_user: dict | None = None, strategy: str = "Latency",
                 reuse_factor: int = 1, io_type: str = "io_parallel", backend: str = "Vitis",
                 work_dir: Path | None = None) -> Imported:
    """Read ``path`` (ONNX/QONNX) through hls4ml and lower it; hls4ml's project (for
    :meth:`Imported.predict`) goes to ``work_dir`` (a temporary directory when None)."""
    _need()
    import hls4ml
    path = Path(path)
    mw = load_onnx(path)
    cfg = hls_config(mw, path, strategy=strategy, reuse_factor=reuse_factor, user=hls_config_user)
    out = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="hwgen-hls4ml-"))
    try:
        with _quiet():
            hm = hls4ml.converters.convert_from_onnx_model(mw.model, output_dir=str(out / path.stem),
                                                           project_name="myproject", backend=backend,
                                                           io_type=io_type, hls_config=cfg)
    except Exception as e:
        raise FrontendError(f"{path}: hls4ml could not convert it ({type(e).__name__}: {e})") from None
    return Imported(path, hm, lower(hm, path.stem), cfg)
