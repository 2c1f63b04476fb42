"""A LUT engine behind the accelerator: every low-bit weight format bit-exact over the golden
device and the Verilated top, weights stored and sent as bit-planes (b bits per weight), and
bad weights refused before a byte is sent."""
import numpy as np
import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, SocConfig
from hwgen.driver import Accelerator
from hwgen.golden.lut import lut_gemm
from hwgen.golden.gemm import gemm
from hwgen.numerics import parse_format, parse_lowbit
from hwgen.soc.layout import Geometry
from hwgen.soc.protocol import Mem

# the link fuzzer's LUT top (tests/soc/test_link_fuzz.py): one Verilator build for both
LUT = HwgenConfig(name="drv_lut_2x4", array=ArrayConfig(rows=2, cols=4, kind="lut", pe=PEConfig(
    w=parse_format("int3"), acc=24)), soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=4))
FORMATS = ["int3", "int2", "uint3", "uint1", "binary", "ternary", "bipolar2", "bipolar3"]


@pytest.fixture(scope="module", params=["golden", "verilator"])
def dev(request):
    with Accelerator.open(LUT, request.param) as d:
        yield d


def test_every_format_bit_exact(dev, seed):
    rng = np.random.default_rng(seed)
    for name in FORMATS:
        f = parse_lowbit(name)
        m, k, n = (int(x) for x in rng.integers(1, 12, 3))
        k = k * 7   # past half the A/W memory for the wider formats: K is split over RUNs
        a = rng.integers(-128, 128, (m, k))
        w = f.random(rng, (k, n), extremes=0.2, zeros=0.1)
        assert np.array_equal(dev.gemm(a, w, w_fmt=name), lut_gemm(a, w, f, acc_bits=24)), (name, m, k, n, seed)
        b = rng.integers(-(1 << 23), 1 << 23, n)     # a bias: the accumulators start from it
        assert np.array_equal(dev.gemm(a, w, w_fmt=name, bias=b),
                              gemm(a, w, acc_bits=24, c=np.broadcast_to(b, (m, n)))), (name, m, k, n, seed)


def test_weights_travel_as_bit_planes():
    """A W2 layer is stored (and sent) in a quarter of its int8 bytes, W3 in 3/8."""
    g = Geometry(LUT)
    q = np.random.default_rng(0).integers(0, 4, (64, 8))
    assert len(g.pack_w_planes(q, 2)) == 64 * 8 * 2 // 8
    assert len(g.pack_w_planes(q, 3)) == 64 * 8 * 3 // 8
    assert g.word_bits(Mem.W) == LUT.array.depth * LUT.array.cols


def test_bad_weights_are_refused_before_anything_is_sent():
    with Accelerator.open(LUT, "golden") as d:
        before = d.stats.commands
        a = np.ones((2, 8), dtype=np.int64)
        w = np.zeros((8, 3), dtype=np.int64)
        w[5, 1] = 2
        with pytest.raises(ValueError, match=r"w\[5, 1\] = 2 is not a ternary value"):
            d.gemm(a, w, w_fmt="ternary")
        with pytest.raises(ValueError, match=r"stores weights of up to 3 bits \(pe.w: int3\); int4 has 4"):
            d.gemm(a, w, w_fmt="int4")
        with pytest.raises(ValueError, match="expected a LUT weight format"):
            d.gemm(a, w, w_fmt="int9")
        with pytest.raises(ValueError, match=r"w\[0, 0\] = 0 is not a binary value \(odd integers -1..1\)"):
            d.gemm(a, w, w_fmt="binary")
        assert d.stats.commands == before


def test_w_fmt_is_for_lut_engines_only():
    cfg = HwgenConfig(name="drv_os_3x2", array=ArrayConfig(rows=3, cols=2))
    with Accelerator.open(cfg, "golden") as d:
        with pytest.raises(ValueError, match="w_fmt is for LUT engines; drv_os_3x2 is systolic"):
            d.gemm(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64), w_fmt="int2")


def test_a_run_with_a_kind_or_bits_the_engine_lacks_is_refused(dev):
    from hwgen.driver.accelerator import DeviceError
    with pytest.raises(DeviceError, match="BAD_ARGS"):
        dev.run(1, 1, 1, prec=3, wfmt=0)        # 4 bits on a 3-bit engine
    with pytest.raises(DeviceError, match="BAD_ARGS"):
        dev.run(1, 1, 1, prec=1, wfmt=3)        # no weight kind 3
    dev.run(1, 1, 1, prec=2, wfmt=2)            # the widest bipolar: fine


# group dequantization in hardware; the link fuzzer's grouped top (tests/soc/test_link_fuzz.py)
GROUPED = HwgenConfig(name="drv_lut_grp", array=ArrayConfig(rows=2, cols=3, kind="lut", dequant="group", pe=PEConfig(
    w=parse_format("int4"), acc=40)), soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=16))


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_a_group_quantized_layer_is_one_run_per_chunk_and_exact(transport, seed):
    """Every weight kind with group scales and zero points, groups of 1..16 beats (4..64
    channels), K over several chunks: the engine's rescaling equals grouped_gemm exactly."""
    from hwgen.driver import GroupScales
    from hwgen.golden.lut import grouped_gemm
    rng = np.random.default_rng(seed)
    with Accelerator.open(GROUPED, transport) as d:
        for name, size in [("uint4", 32), ("int4", 16), ("int2", 4), ("ternary", 64), ("binary", 8), ("uint1", 4)]:
            f = parse_lowbit(name)
            m, n = (int(x) for x in rng.integers(1, 8, 2))
            k = size * int(rng.integers(1, 200 // size + 2))
            a = rng.integers(-128, 128, (m, k))
            w = f.random(rng, (k, n), extremes=0.2)
            scale = rng.integers(-32768, 32768, (k // size, n))
            zero = rng.integers(-32768, 32768, (k // size, n))
            runs = d.regs()["runs"]
            got = d.gemm(a, w, w_fmt=name, groups=GroupScales(size, scale, zero))
            want = grouped_gemm(a, w, f, group=size, scale=scale, zero=zero, acc_bits=40)
            assert np.array_equal(got, want), (transport, name, size, m, k, n, seed)
            assert d.regs()["runs"] > runs
            b = rng.integers(-(1 << 39), 1 << 39, n)   # a bias at the layer's fixed point
            got = d.gemm(a, w, w_fmt=name, groups=GroupScales(size, scale, zero), bias=b)
            assert np.array_equal(got, gemm(np.eye(m, dtype=np.int64), want + b, acc_bits=40)), (name, seed)


def test_group_scales_are_checked_before_anything_is_sent():
    from hwgen.driver import GroupScales
    a, w = np.ones((2, 64), dtype=np.int64), np.ones((64, 3), dtype=np.int64)
    s = np.ones((2, 3), dtype=np.int64)
    with Accelerator.open(GROUPED, "golden") as d:
        before = d.stats.commands
        with pytest.raises(ValueError, match=r"group size 24 must be 4·2\^l channels \(l = 0..7\)"):
            d.gemm(a, w, w_fmt="uint4", groups=GroupScales(24, s))
        with pytest.raises(ValueError, match=r"groups.scale must be \(⌈K/size⌉, N\) = \(2, 3\), got \(1, 3\)"):
            d.gemm(a, w, w_fmt="uint4", groups=GroupScales(32, s[:1]))
        with pytest.raises(ValueError, match="groups.zero must be signed 16-bit integers"):
            d.gemm(a, w, w_fmt="uint4", groups=GroupScales(32, s, s * 40000))
        with pytest.raises(ValueError, match="requant and group scales share the scale memory"):
            from hwgen.driver import Requant
            d.gemm(a, w, w_fmt="uint4", groups=GroupScales(32, s), requant=Requant(np.ones(3, dtype=np.int64), 0))
        assert d.stats.commands == before
    with Accelerator.open(LUT, "golden") as d:
        with pytest.raises(ValueError, match="need a LUT engine with dequant: group; drv_lut_2x4 is lut with dequant: none"):
            d.gemm(a, w, groups=GroupScales(32, s))
