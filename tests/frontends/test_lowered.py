"""Lowered networks (hwgen.frontends.lowered): im2col convolution equals a direct one, the
accelerator run equals the NumPy reference bit for bit (bias, output stage, host reshapes),
model files round-trip, and configs that cannot run a model exactly are refused by layer."""
import numpy as np
import pytest

from hwgen.config import loads
from hwgen.driver import Accelerator
from hwgen.frontends import Conv, Dense, FrontendError, Host, LoweredModel, Stage, check_fits, im2col
from hwgen.numerics import parse_format

I8 = parse_format("int8")
CFG = loads("name: fe_4x4\narray: {rows: 4, cols: 4, pe: {a: int8, w: int8, acc: 32}}\n"
            "soc: {a_words: 128, w_words: 128, acc_words: 64, scale_words: 8}\n")


def stage(rng, n, shift, relu=True):
    return Stage(rng.integers(1, 1 << 16, n), shift, relu, I8)


def cnn(rng) -> LoweredModel:
    """6x6x2 input → 3x3 conv (4 filters, stride 1, pad 1) → 2x2 conv stride 2 → flatten → dense 5."""
    w1 = rng.integers(-128, 128, (3 * 3 * 2, 4))
    w2 = rng.integers(-128, 128, (2 * 2 * 4, 3))
    w3 = rng.integers(-128, 128, (3 * 3 * 3, 5))
    return LoweredModel("cnn", (6, 6, 2), I8, 0, [
        Conv("c1", "Conv2D c1", w1, rng.integers(-3000, 3000, 4), stage(rng, 4, 20), 32, 0, (3, 3), (1, 1), (1, 1, 1, 1)),
        Conv("c2", "Conv2D c2", w2, None, stage(rng, 3, 21), 32, 0, (2, 2), (2, 2), (0, 0, 0, 0)),
        Host("flat", "Flatten", "reshape", (27,)),
        Dense("d", "Dense d", w3, rng.integers(-1 << 20, 1 << 20, 5), None, 32, 0)])


def test_im2col_convolution_equals_a_direct_one(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (2, 5, 7, 3))
    k = rng.integers(-128, 128, (3, 2, 3, 4))          # kh, kw, cin, cout
    for stride, pad in [((1, 1), (0, 0, 0, 0)), ((2, 1), (1, 2, 0, 1))]:
        cols = im2col(x, (3, 2), stride, pad)
        got = cols @ k.reshape(-1, 4)
        xp = np.pad(x, ((0, 0), (pad[0], pad[1]), (pad[2], pad[3]), (0, 0)))
        oh, ow = got.shape[1:3]
        want = np.zeros_like(got)
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, i * stride[0]:i * stride[0] + 3, j * stride[1]:j * stride[1] + 2, :]
                want[:, i, j] = np.einsum("bhwc,hwcf->bf", patch, k)
        assert np.array_equal(got, want)
    with pytest.raises(FrontendError, match="does not fit"):
        im2col(x, (9, 9), (1, 1), (0, 0, 0, 0))


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_the_accelerator_runs_a_lowered_cnn_bit_exactly(transport, seed):
    rng = np.random.default_rng(seed)
    m = cnn(rng)
    x = rng.integers(-128, 128, (3, 6, 6, 2))
    want = m.reference(x)
    assert want.shape == (3, 5)
    with Accelerator.open(CFG, transport) as acc:
        assert np.array_equal(m.run(acc, x), want), seed
    assert m.macs(3) == 3 * (36 * 18 * 4 + 9 * 16 * 3 + 27 * 5)


def test_model_files_round_trip(tmp_path, seed):
    rng = np.random.default_rng(seed)
    m = cnn(rng)
    m.save(tmp_path / "m")
    back = LoweredModel.load(tmp_path / "m")
    x = rng.integers(-128, 128, (2, 6, 6, 2))
    assert np.array_equal(back.reference(x), m.reference(x))
    assert [lay.kind for lay in back.layers] == ["conv", "conv", "host", "dense"]
    with pytest.raises(FrontendError, match="not a lowered model"):
        LoweredModel.load(tmp_path / "nothing")


def test_inputs_must_be_exact_at_the_input_precision():
    m = LoweredModel("mlp", (2,), I8, 3, [Dense("d", "Dense d", np.ones((2, 1), int), None, None, 32, 3)])
    assert m.quantize_input([[0.125, -16.0]]).tolist() == [[1, -128]]
    with pytest.raises(FrontendError, match=r"input \(0, 1\) = 0.1 is not a int8 value at 2\^-3"):
        m.quantize_input([[0.125, 0.1]])
    with pytest.raises(FrontendError, match=r"inputs must be \(batch, 2\)"):
        m.quantize_input([[1.0, 2.0, 3.0]])


def test_configs_that_cannot_run_a_model_exactly_are_refused_by_layer(seed):
    rng = np.random.default_rng(seed)
    m = cnn(rng)
    check_fits(m, CFG)
    narrow = loads("name: fe_n\narray: {rows: 2, cols: 2, pe: {a: int4, w: int4, acc: 16, overflow: saturate}}\n"
                   "soc: {out: int4}\n")
    with pytest.raises(FrontendError) as e:
        check_fits(m, narrow)
    msg = str(e.value)
    for want in ["c1 (Conv2D c1): its input (the model's input) is int8; fe_n's pe.a is int4",
                 "c1 (Conv2D c1): weights span", "pe.w is int4 (-8..7)",
                 "c1 (Conv2D c1): has a bias; fe_n's accumulators saturate",
                 "c1 (Conv2D c1): its output is int8; fe_n's output stage gives soc.out: int4",
                 "d (Dense d): its 32-bit accumulator (wrapping) can reach"]:
        assert want in msg, msg
    raw = LoweredModel("two", (2,), I8, 0, [Dense("a", "Dense a", np.ones((2, 2), int), None, None, 32, 0),
                                            Dense("b", "Dense b", np.ones((2, 1), int), None, None, 32, 0)])
    with pytest.raises(FrontendError, match="b \\(Dense b\\): its input is a's raw accumulators"):
        check_fits(raw, CFG)
