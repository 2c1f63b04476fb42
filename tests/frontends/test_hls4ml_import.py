"""Networks through hls4ml (hwgen.frontends.hls4ml): the bundled QONNX examples lowered and run
bit-exactly against hls4ml's own C-simulation on golden and Verilator, hls4ml's implementation
settings changing nothing, and every model the output stage cannot reproduce refused by layer."""
import numpy as np
import pytest

pytest.importorskip("hls4ml")
pytest.importorskip("qonnx")

from hwgen.cli import main  # noqa: E402
from hwgen.config import load  # noqa: E402
from hwgen.driver import Accelerator  # noqa: E402
from hwgen.frontends import FrontendError, check_fits  # noqa: E402
from hwgen.frontends.hls4ml import import_model  # noqa: E402
from hwgen.frontends.qonnx_build import EXAMPLES, Graph  # noqa: E402

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
HW = load(ROOT / "examples" / "systolic_8x8.yaml")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The committed examples are what the builder writes (and are imported once per module)."""
    import onnx
    out, got = tmp_path_factory.mktemp("models"), {}
    for name, build in EXAMPLES.items():
        path = ROOT / "examples" / "models" / f"{name}.onnx"
        assert onnx.load(str(path)) == build(), f"{path} is stale: python -m hwgen.frontends.qonnx_build examples/models"
        got[name] = import_model(path, work_dir=out)
    return got


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_examples_are_bit_exact_with_hls4ml_on_the_golden_device(models, name, seed):
    imp = models[name]
    m = imp.lowered
    check_fits(m, HW)
    x = np.random.default_rng(seed).integers(-128, 128, (48,) + tuple(m.input_shape))
    want = imp.predict(x)
    assert np.array_equal(m.reference(x).reshape(48, -1), want), seed
    with Accelerator.open(HW, "golden") as acc:
        assert np.array_equal(m.run(acc, x).reshape(48, -1), want), seed
    # the examples exercise what they claim: per-column scales, raw logits, convolutions
    kinds = [lay.kind for lay in m.layers]
    if name == "ids_mlp":
        assert len(set(m.layers[0].stage.scale.tolist())) > 1 and m.layers[-1].stage is None
    if name == "small_cnn":
        assert kinds == ["conv", "conv", "host", "dense"]


def test_the_cnn_on_the_verilated_accelerator(models, seed):
    m = models["small_cnn"].lowered
    x = np.random.default_rng(seed).integers(-128, 128, (24,) + tuple(m.input_shape))
    with Accelerator.open(HW, "verilator") as acc:
        assert np.array_equal(m.run(acc, x).reshape(24, -1), models["small_cnn"].predict(x)), seed


@pytest.mark.parametrize("name", ["jet_mlp", "small_cnn"])
def test_hls4ml_settings_change_nothing(models, name, tmp_path, seed):
    """Strategy Resource (weights stored transposed), ReuseFactor 4, io_stream (a convolution's
    padding a layer of its own): the same predictions, and the lowering of each still equals them."""
    path = ROOT / "examples" / "models" / f"{name}.onnx"
    other = import_model(path, strategy="Resource", reuse_factor=4, io_type="io_stream", work_dir=tmp_path)
    base = models[name]
    if name == "jet_mlp":
        for la, lb in zip(base.lowered.layers, other.lowered.layers):
            assert np.array_equal(la.w, lb.w) and la.stage.shift == lb.stage.shift
    else:
        assert "pad" in [getattr(lay, "op", None) for lay in other.lowered.layers]
    x = np.random.default_rng(seed).integers(-128, 128, (32,) + tuple(base.lowered.input_shape))
    want = base.predict(x)
    assert np.array_equal(other.predict(x), want)
    # io_stream keeps the input channels-first ([1, 8, 8] and a Transpose): the same bytes for one channel
    assert np.array_equal(other.lowered.reference(x.reshape((32,) + other.lowered.input_shape)).reshape(32, -1), want)


def test_a_conv1d_is_a_1xw_conv2d(tmp_path, seed):
    """Conv1D (3 channels x 16 samples, kernel 5, stride 2, pad 2) then Dense: bit-exact with
    hls4ml under both implementations (io_stream pads in a ZeroPadding1D layer), and on the device."""
    import onnx
    rng = np.random.default_rng(0)
    g = Graph()
    h = g.quant("x")
    h = g.node("Conv", [h, g.quant(g.const("W", rng.integers(-127, 128, (6, 3, 5)))),
                        g.const("b", rng.integers(-2000, 2000, 6))],
               kernel_shape=[5], strides=[2], pads=[2, 2], dilations=[1], group=1)
    h = g.quant(g.node("Relu", [g.node("Mul", [h, g.const("s", 2.0 ** -9)])]))
    h = g.node("Flatten", [h], axis=1)
    h = g.node("MatMul", [h, g.quant(g.const("W2", rng.integers(-127, 128, (48, 4))))])
    h = g.node("Add", [h, g.const("b2", rng.integers(-999, 999, 4))])
    path = tmp_path / "c1d.onnx"
    onnx.save(g.model("x", [1, 3, 16], h, [1, 4]), str(path))
    x = np.random.default_rng(seed).integers(-128, 128, (40, 3, 16))
    for strategy, io in [("Latency", "io_parallel"), ("Resource", "io_stream")]:
        imp = import_model(path, strategy=strategy, io_type=io, work_dir=tmp_path)
        m = imp.lowered
        assert "conv" in [lay.kind for lay in m.layers]
        want = imp.predict(x)
        assert np.array_equal(m.reference(x).reshape(40, -1), want), (strategy, seed)
    with Accelerator.open(HW, "golden") as acc:
        assert np.array_equal(m.run(acc, x).reshape(40, -1), want), seed


def _mlp(tail: str, *, in_quant: bool = True, rounding: str = "ROUND", narrow: int = 0):
    """x → Quant → MatMul → Add → Mul(2^-8) → <tail>, the tail ending the graph."""
    g = Graph()
    h = g.quant("x") if in_quant else "x"
    rng = np.random.default_rng(0)
    h = g.node("MatMul", [h, g.quant(g.const("W", rng.integers(-127, 128, (8, 4))))])
    h = g.node("Add", [h, g.const("b", rng.integers(-500, 500, 4))])
    h = g.node("Mul", [h, g.const("s", 2.0 ** -8)])
    if tail == "quant":
        h = g.quant(h, rounding=rounding, narrow=narrow)
    else:
        h = g.node(tail, [g.quant(h)] if tail != "Relu" else [h])
    return g.model("x", [1, 8], h, [1, 4])


@pytest.mark.parametrize("build, message", [
    (lambda: _mlp("Softmax"), r"layer Softmax_0 \(Softmax\): is a softmax activation: hls4ml computes it by table "
                              r"lookup, which hwgen's output stage does not have; accepted: ReLU, linear"),
    (lambda: _mlp("Sigmoid"), r"\(Activation\): is a sigmoid activation"),
    (lambda: _mlp("quant", rounding="FLOOR"), r"rounds with TRN \(its result fixed<8,8,TRN,SAT>\); hwgen's output "
                                              r"stage rounds half to even: accepted RND_CONV"),
    (lambda: _mlp("quant", narrow=1), r"saturates symmetrically \(SAT_SYM, its result fixed<8,8,RND_CONV,SAT_SYM>"),
    (lambda: _mlp("quant", in_quant=False), r"the graph input 'global_in' does not go through a QONNX Quant node"),
], ids=["softmax", "sigmoid", "floor", "narrow", "no_input_quant"])
def test_what_the_output_stage_cannot_reproduce_is_refused_by_layer(build, message, tmp_path):
    import onnx
    path = tmp_path / "m.onnx"
    onnx.save(build(), str(path))
    with pytest.raises(FrontendError, match=message):
        import_model(path, work_dir=tmp_path)


def test_a_config_that_cannot_run_it_is_refused_before_running(models):
    from hwgen.config import loads
    small = loads("name: fe_i4\narray: {rows: 2, cols: 2, pe: {a: int4, w: int4, acc: 16}}\n")
    with pytest.raises(FrontendError, match=r"Dense_MatMul_0 \(Dense Dense_MatMul_0\): its input \(the model's input\) "
                                            r"is int8; fe_i4's pe.a is int4"):
        check_fits(models["jet_mlp"].lowered, small)


def test_cli_import_and_run(tmp_path, capsys):
    model = str(ROOT / "examples" / "models" / "ids_mlp.onnx")
    out = tmp_path / "ids"
    assert main(["import", model, "-o", str(out), "--config", str(ROOT / "examples" / "systolic_8x8.yaml")]) == 0
    text = capsys.readouterr().out
    assert "fits systolic_8x8" in text and (out / "model.json").is_file() and (out / "weights.npz").is_file()
    assert "raw accumulators" in text
    assert main(["import", model, "-o", str(out)]) == 1
    assert "model.json exists; hwgen import does not overwrite it" in capsys.readouterr().err
    assert main(["run", "model", str(ROOT / "examples" / "systolic_8x8.yaml"), "--model", model, "--inputs", "20",
                 "--seed", "5", "--transport", "golden"]) == 0
    text = capsys.readouterr().out
    assert "20 inputs, accelerator vs hls4ml's C-simulation: bit-exact" in text and "inferences/s" in text
    assert main(["import", str(tmp_path / "nope.onnx")]) == 1
    assert "nope.onnx: no such file" in capsys.readouterr().err


def test_readme_run_model_command_prints_what_the_readme_quotes(capsys):
    import re
    import shlex
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```console\n\$ hwgen run model ([^\n]*)\n(.*?)```", readme, re.S)
    assert main(["run", "model", *shlex.split(block.group(1))]) == 0
    out = capsys.readouterr().out
    for line in block.group(2).splitlines():
        if not line.startswith("wall time"):
            assert line in out, line


def test_readme_import_command_prints_what_the_readme_quotes(tmp_path, capsys):
    import re
    import shlex
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```console\n  \$ hwgen import ([^\n]*)\n(.*?)  ```", readme, re.S)
    args = shlex.split(block.group(1))
    args[args.index("-o") + 1] = str(tmp_path / "jet")     # the README's build/ stays untouched
    assert main(["import", *args]) == 0
    out = capsys.readouterr().out
    for line in block.group(2).splitlines():
        line = line.strip()
        if not line.startswith("wrote"):
            assert line in out, line
