"""The driver: bit-exact GEMMs on every transport, tiling/chunking, the output stage,
identity checks, and faults on the link (never wrong numbers, never a hang)."""
import contextlib
import time

import numpy as np
import pytest

from hwgen import golden
from hwgen.config import ArrayConfig, ConfigError, HwgenConfig, PEConfig, SocConfig, dumps
from hwgen.driver import Accelerator, DeviceError, DeviceTimeout, Requant
from hwgen.driver.faults import FaultyTransport, random_plan
from hwgen.driver.transports import GoldenTransport, TransportError, open_transport
from hwgen.golden.requant import requantize
from hwgen.numerics import parse_format
from hwgen.soc.protocol import Reg

# small memories so that shapes need several chunks (and K-accumulation across RUNs)
SOC = SocConfig(a_words=48, w_words=40, acc_words=32, scale_words=4)
CFG = HwgenConfig(name="drv_os_3x2", array=ArrayConfig(rows=3, cols=2), soc=SOC)
SHAPES = [(1, 1, 1), (3, 2, 2), (7, 13, 5), (10, 41, 9), (4, 100, 3)]  # 100 > 40 words: K is split


def random_ab(rng, cfg, m, k, n):
    return cfg.array.pe.a.random(rng, (m, k), extremes=0.2), cfg.array.pe.w.random(rng, (k, n), extremes=0.2)


def want(cfg, a, w):
    return golden.gemm(a, w, acc_bits=cfg.array.pe.acc, overflow=cfg.array.pe.overflow, group=cfg.array.group)


@pytest.fixture(scope="module", params=["golden", "verilator"])
def acc(request):
    with Accelerator.open(CFG, request.param) as dev:
        yield dev


def test_gemm_bit_exact_random_shapes(acc, seed):
    rng = np.random.default_rng(seed)
    for m, k, n in SHAPES + [tuple(int(x) for x in rng.integers(1, 30, 3))]:
        a, w = random_ab(rng, CFG, m, k, n)
        got = acc.gemm(a, w)
        assert np.array_equal(got, want(CFG, a, w)), (acc.transport.name, m, k, n, seed)


def test_gemm_requantized_output(acc, seed):
    rng = np.random.default_rng(seed)
    a, w = random_ab(rng, CFG, 8, 30, 7)
    rq = Requant(scale=rng.integers(0, 1 << 16, 7), shift=16, relu=True)
    got = acc.gemm(a, w, requant=rq)
    assert np.array_equal(got, requantize(want(CFG, a, w), rq.scale, 16, relu=True))
    assert got.min() >= 0 and got.max() <= 127


def test_gemm_with_bias_is_the_sum_onto_each_columns_bias(acc, seed):
    """A bias preloads each block's accumulators (K chunks accumulate onto it), and the output
    stage scales bias + a·w."""
    rng = np.random.default_rng(seed)
    lim = 1 << (CFG.array.pe.acc - 1)
    for m, k, n in [(1, 1, 1), (7, 13, 5), (4, 100, 3)]:
        a, w = random_ab(rng, CFG, m, k, n)
        b = rng.integers(-lim, lim, n)
        b[0] = lim - 1                                   # wraps with the products, as the accumulator does
        got = acc.gemm(a, w, bias=b)
        assert np.array_equal(got, golden.gemm(a, w, acc_bits=CFG.array.pe.acc, c=np.broadcast_to(b, (m, n)))), seed
    a, w = random_ab(rng, CFG, 8, 30, 7)
    b = rng.integers(-5000, 5000, 7)
    rq = Requant(scale=rng.integers(0, 1 << 16, 7), shift=16, relu=True)
    assert np.array_equal(acc.gemm(a, w, requant=rq, bias=b), requantize(want(CFG, a, w) + b, rq.scale, 16, relu=True))
    with pytest.raises(ValueError, match=r"bias must be N = 7 integers, got shape \(6,\)"):
        acc.gemm(a, w, bias=b[:6])
    with pytest.raises(ValueError, match="bias values must fit the 32-bit accumulator"):
        acc.gemm(a, w, bias=np.full(7, 1 << 40))


def test_bias_needs_wrapping_accumulators():
    cfg = HwgenConfig(name="drv_sat_bias", array=ArrayConfig(rows=2, cols=2, pe=PEConfig(acc=16, overflow="saturate")))
    with Accelerator.open(cfg, "golden") as dev, pytest.raises(ValueError, match="a bias needs accumulators that wrap"):
        dev.gemm(np.ones((2, 2), dtype=int), np.ones((2, 2), dtype=int), bias=np.zeros(2, dtype=int))


def test_stats_count_the_work(acc, seed):
    acc.reset()
    rng = np.random.default_rng(seed)
    a, w = random_ab(rng, CFG, 6, 20, 4)
    acc.gemm(a, w)
    s = acc.stats_dict()
    assert s["gemm_macs"] == 6 * 20 * 4
    # half of each memory per chunk (double buffering): one tile per RUN here, 2 × 2 tiles of K beats
    assert s["regs"]["runs"] == 4 and s["regs"]["array"] == 2 * 2 * 20
    # the device counted every request byte since RESET; its bytes out include RESET's answer
    # (7 bytes, before the driver's counts start) but not the REGS answer being built (49 bytes)
    assert s["link_bytes_out"] == s["regs"]["bytes_in"]
    assert s["link_bytes_in"] == s["regs"]["bytes_out"] - 7 + (1 + 4 + 2 + 4 * len(acc.geo.regs) + 2)
    assert s["gemm_cycles"] >= 2 * 2 * 20


def test_rejects_out_of_format_operands(acc):
    with pytest.raises(ValueError, match="outside int8"):
        acc.gemm(np.full((2, 2), 200), np.ones((2, 2), dtype=int))


def test_device_of_another_design_is_refused():
    other = HwgenConfig(name="other", array=ArrayConfig(rows=3, cols=2), soc=SocConfig(a_words=64))
    with pytest.raises(DeviceError, match="not drv_os_3x2"):
        Accelerator(CFG, GoldenTransport(other))


def assert_cycle_model(cfg, dev, a, w_):
    """The golden device's modeled RUN cycles (``run_cycles_model``) against the RTL's RUN
    counter on the same GEMM: within a cycle per RUN."""
    got = {}
    for name, d in (("rtl", dev), ("golden", None)):
        with (Accelerator.open(cfg, "golden") if d is None else contextlib.nullcontext(d)) as d:
            d.reset()
            d.gemm(a, w_)
            st = d.stats_dict()
            got[name] = (st["gemm_cycles"], st["runs"])
    (rtl, runs), (model, _) = got["rtl"], got["golden"]
    assert abs(rtl - model) <= runs, (cfg.name, a.shape, w_.shape, model, rtl, runs)


@pytest.mark.parametrize("kind, depth, arith, w", [("cube", 2, "compressor_tree", "int8"),
                                                  ("bit_serial", 1, "sparse_serial", "int4")])
def test_other_engines_behind_the_same_driver(kind, depth, arith, w, seed):
    rows = cols = 2
    cfg = HwgenConfig(name=f"drv_{kind}", array=ArrayConfig(
        rows=rows, cols=cols, kind=kind, depth=depth, pe=PEConfig(w=parse_format(w), arith=arith, acc=24)), soc=SOC)
    rng = np.random.default_rng(seed)
    with Accelerator.open(cfg, "verilator") as dev:
        for m, k, n in [(3, 7, 3), (5, 33, 4)]:
            a, w_ = random_ab(rng, cfg, m, k, n)
            assert np.array_equal(dev.gemm(a, w_), want(cfg, a, w_)), (kind, m, k, n, seed)
            b = rng.integers(-(1 << 23), 1 << 23, n)     # a bias: each block's initial accumulators
            assert np.array_equal(dev.gemm(a, w_, bias=b), golden.gemm(a, w_, acc_bits=24, c=np.broadcast_to(b, (m, n))))
        assert_cycle_model(cfg, dev, *random_ab(rng, cfg, 9, 20, 5))


@pytest.mark.parametrize("arith, w", [("mac", "int4"), ("sparse_serial", "int4")])
def test_the_golden_cycle_model_of_bit_serial_engines_follows_the_rtl(arith, w, seed):
    """A bit-serial RUN takes a beat per weight bit (mac) or per non-zero NAF digit of the
    step's busiest column (sparse_serial, counted from the weights): the golden device's model
    is within a cycle per RUN of the RTL's RUN counter (it once ignored the weight bits: 8x
    low)."""
    cfg = HwgenConfig(name="drv_bit_serial" if arith == "sparse_serial" else "drv_bit_serial_mac", array=ArrayConfig(
        rows=2, cols=2, kind="bit_serial", pe=PEConfig(w=parse_format(w), arith=arith, acc=24)), soc=SOC)
    rng = np.random.default_rng(seed)
    a, w_ = random_ab(rng, cfg, 5, 33, 4)
    got = {}
    for t in ("verilator", "golden"):
        with Accelerator.open(cfg, t) as dev:
            dev.reset()
            assert np.array_equal(dev.gemm(a, w_), want(cfg, a, w_))
            st = dev.stats_dict()
            got[t] = (st["gemm_cycles"], st["regs"]["runs"])
    (rtl, runs), (model, _) = got["verilator"], got["golden"]
    assert abs(rtl - model) <= runs, (model, rtl, runs, seed)


WS_ENGINES = [  # weight-stationary engines behind the same driver (the WS sequencer)
    dict(rows=3, cols=2, dataflow="weight_stationary", pe=PEConfig(acc=16, overflow="saturate")),
    dict(rows=3, cols=2, dataflow="input_stationary", pe=PEConfig(w=parse_format("int4"))),
    dict(rows=4, cols=2, kind="adder_tree", dataflow="weight_stationary", pe=PEConfig(arith="compressor_tree")),
]


@pytest.mark.parametrize("spec", WS_ENGINES, ids=["systolic_ws_sat16", "systolic_is_int4", "adder_tree_ct"])
def test_weight_stationary_engines_behind_the_same_driver(spec, seed):
    cfg = HwgenConfig(name=f"drv_{spec.get('kind', 'systolic')}_{spec['dataflow'][:2]}", array=ArrayConfig(**spec),
                      soc=SOC)
    rng = np.random.default_rng(seed)
    with Accelerator.open(cfg, "verilator") as dev:
        for m, k, n in [(1, 1, 1), (5, 7, 3), (9, 40, 11), (20, 13, 7)]:  # K = 40 > the W half: K chunks
            a, w_ = random_ab(rng, cfg, m, k, n)
            assert np.array_equal(dev.gemm(a, w_), want(cfg, a, w_)), (spec, m, k, n, seed)
            if cfg.array.pe.overflow == "wrap":   # a bias (IS: a row of Cᵀ per column of C)
                b = rng.integers(-(1 << 31), 1 << 31, n)
                assert np.array_equal(dev.gemm(a, w_, bias=b), golden.gemm(a, w_, c=np.broadcast_to(b, (m, n)))), spec
            else:
                with pytest.raises(ValueError, match="a bias needs accumulators that wrap"):
                    dev.gemm(a, w_, bias=np.zeros(n, dtype=int))
        assert_cycle_model(cfg, dev, *random_ab(rng, cfg, 9, 20, 5))
        if spec["dataflow"] == "weight_stationary":
            a, w_ = random_ab(rng, cfg, 8, 30, 7)
            rq = Requant(scale=rng.integers(0, 1 << 16, 7), shift=14, relu=False)
            assert np.array_equal(dev.gemm(a, w_, requant=rq), requantize(want(cfg, a, w_), rq.scale, 14))
        else:
            with pytest.raises(ValueError, match="requantize on the host"):
                dev.gemm(np.ones((2, 2), dtype=int), np.ones((2, 2), dtype=int), requant=Requant(np.ones(2), 0))


def test_saturating_engine_refuses_to_split_k():
    cfg = HwgenConfig(name="drv_sat", array=ArrayConfig(rows=2, cols=2, pe=PEConfig(acc=16, overflow="saturate")),
                      soc=SOC)
    with Accelerator.open(cfg, "golden") as dev:
        # w_words = 40: half of it (the double buffer) holds K = 20 beats per tile
        a, w = np.full((2, 21), 127), np.full((21, 2), 127)
        with pytest.raises(ValueError, match="splitting K changes a saturating accumulation"):
            dev.gemm(a, w)
        assert np.array_equal(dev.gemm(a[:, :20], w[:20]), want(cfg, a[:, :20], w[:20]))


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_link_faults_are_retried_and_results_stay_exact(transport, seed):
    rng = np.random.default_rng(seed)
    # about a third of all exchanges damaged, never the identity check
    dev = Accelerator(CFG, FaultyTransport(open_transport(transport, CFG), random_plan(
        np.random.default_rng([seed, 7]), 0.35), seed=seed), retries=8, timeout=2.0)
    for m, k, n in [(7, 13, 5), (4, 100, 3)]:
        a, w = random_ab(rng, CFG, m, k, n)
        assert np.array_equal(dev.gemm(a, w), want(CFG, a, w)), (transport, m, k, n, seed)
    assert dev.stats.retries > 0 and sum(dev.transport.injected.values()) > 0
    dev.close()


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_garbage_with_sof_bytes_does_not_derail_the_retries(transport, seed):
    """Regression (driver soak): garbage with SOF bytes before a request leaves the device
    answering bogus frames after the exchange; without draining them, every retry read the
    previous attempt's BAD_HEADER and the command failed after all its attempts. The golden
    device kept the partial frame such garbage leaves behind (CI, seed 13676762): its
    transport did not drain, so every later request was misaligned behind it."""
    rng = np.random.default_rng(seed)
    dev = Accelerator(CFG, FaultyTransport(open_transport(transport, CFG),
                                           lambda n: "garbage" if n > 1 and n % 3 == 0 else None, seed=seed),
                      retries=4, timeout=1.0)
    a, w = random_ab(rng, CFG, 9, 30, 5)
    assert np.array_equal(dev.gemm(a, w), want(CFG, a, w))
    assert dev.transport.injected["garbage"] > 5
    dev.close()


def test_golden_transport_drains_a_partial_frame_left_behind():
    """Regression (CI, seed 13676762): garbage with a SOF in it, answered at once, can leave
    a partial frame in the golden device; draining times it out like the hardware does."""
    from hwgen.soc.protocol import Cmd, Status, parse_response, request
    t = GoldenTransport(CFG)
    assert t.exchange(request(Cmd.INFO, 3) + bytes([0xA5, 1, 2]), timeout=1.0)  # answered; a partial left
    assert t.drain() > 0 and t.drain() == 0
    rsp = parse_response(t.exchange(request(Cmd.INFO, 4), timeout=1.0))
    assert (rsp.status, rsp.tag) == (Status.OK, 4)


def test_open_takes_a_config_file_and_says_what_it_wants(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(dumps(CFG))
    with Accelerator.open(path) as dev, Accelerator.open(str(path)) as dev2:
        assert dev.cfg == dev2.cfg == CFG
    with pytest.raises(TypeError, match="needs a HwgenConfig or the path of a config YAML file, got dict"):
        Accelerator.open({"name": "x"})
    with pytest.raises(ConfigError, match="nope.yaml: cannot read config"):
        Accelerator.open(tmp_path / "nope.yaml")


def test_dead_link_raises_timeout_in_bounded_time():
    dev = Accelerator(CFG, GoldenTransport(CFG), retries=2, timeout=0.5)
    dev.transport = FaultyTransport(dev.transport, lambda n: "lose_response")
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="after 3 attempts"):
        dev.gemm(np.ones((2, 2), dtype=int), np.ones((2, 2), dtype=int))
    assert time.monotonic() - t0 < 10


def test_unknown_transport_and_missing_serial_port_are_clear_errors():
    with pytest.raises(TransportError, match="unknown transport"):
        open_transport("usb", CFG)
    with pytest.raises(TransportError, match="cannot open serial port /dev/does-not-exist"):
        open_transport("serial:/dev/does-not-exist@115200", CFG)


def test_serial_transport_against_the_simulated_uart(seed):
    """pyserial → pseudo-terminal → the UART build of the RTL, with a byte lost on the line."""
    from hwgen.sim.uart_bridge import PtyBoard
    cfg = HwgenConfig(name="drv_uart", array=CFG.array, soc=SocConfig(
        a_words=48, w_words=40, acc_words=32, scale_words=4, clock_hz=48_000_000, baud=6_000_000))
    rng = np.random.default_rng(seed)
    with PtyBoard(cfg, drop={200}) as board:
        with Accelerator.open(cfg, f"serial:{board.port}", timeout=2.0) as dev:
            a, w = random_ab(rng, cfg, 7, 13, 5)
            assert np.array_equal(dev.gemm(a, w), want(cfg, a, w))
            assert dev.stats.retries >= 1 and dev.regs()["frames_bad"] >= 1
