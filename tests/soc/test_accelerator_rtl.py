"""The Verilated accelerator top answers every frame — good or broken — with exactly the
bytes the golden device (the protocol executed in NumPy) answers with."""
import struct

import numpy as np
import pytest

from hwgen.config import ArrayConfig, HwgenConfig, SocConfig
from hwgen.sim.native import NativeSim, build_native
from hwgen.soc.golden_device import GoldenDevice
from hwgen.soc.layout import Geometry
from hwgen.soc.protocol import BASE_REGS, READ_FORMAT, RUN_FORMAT, Cmd, Mem, Reg, crc16, parse_response, request

CFG = HwgenConfig(name="soc_rtl_2x3", array=ArrayConfig(rows=2, cols=3),
                  soc=SocConfig(a_words=32, w_words=32, acc_words=32, scale_words=4))


@pytest.fixture(scope="module")
def devices():
    return NativeSim(build_native(CFG)), GoldenDevice(CFG)


def corrupt(frame: bytes, index: int) -> bytes:
    f = bytearray(frame)
    f[index] ^= 0x10
    return bytes(f)


def script(rng):
    """(label, request bytes) pairs covering every command and every error path."""
    g = Geometry(CFG)
    a = rng.integers(-128, 128, (4, 5))
    w = rng.integers(-128, 128, (5, 6))
    wr_a = request(Cmd.WRITE, 1, mem=Mem.A, addr=0, payload=g.pack_a(a))
    run = request(Cmd.RUN, 4, payload=RUN_FORMAT.pack(2, 2, 5, 0, 0, 0, 0, 7))
    return [
        ("info", request(Cmd.INFO, 0)),
        ("write A", wr_a),
        ("write W", request(Cmd.WRITE, 2, mem=Mem.W, addr=0, payload=g.pack_w(w))),
        ("write scale", request(Cmd.WRITE, 3, mem=Mem.SCALE, addr=1, payload=g.pack_scale(np.array([1, 300, 65535])))),
        ("run", run),
        ("run retried (same tag: not run again)", run),
        ("read acc raw", request(Cmd.READ, 5, mem=Mem.ACC, addr=0, payload=READ_FORMAT.pack(8, 0, 0))),
        ("set shift", request(Cmd.SET, 6, addr=Reg.SHIFT, payload=struct.pack("<I", 9))),
        ("set relu", request(Cmd.SET, 7, addr=Reg.RELU, payload=struct.pack("<I", 1))),
        ("read requantized", request(Cmd.READ, 8, mem=Mem.ACC, addr=2, payload=READ_FORMAT.pack(2, 1, 1))),
        ("run accumulate", request(Cmd.RUN, 9, payload=RUN_FORMAT.pack(2, 2, 5, 0, 0, 0, 1, 7))),
        ("read acc after accumulate", request(Cmd.READ, 10, mem=Mem.ACC, addr=0, payload=READ_FORMAT.pack(8, 0, 0))),
        ("read W back", request(Cmd.READ, 11, mem=Mem.W, addr=0, payload=READ_FORMAT.pack(10, 0, 0))),
        ("garbage then info", b"\x00\x13\xff\x5a" + request(Cmd.INFO, 12)),
        ("bad header crc", corrupt(request(Cmd.INFO, 13), 5)),
        ("bad payload crc (write)", corrupt(request(Cmd.WRITE, 14, mem=Mem.A, addr=3, payload=b"\x01\x02"), 14)),
        ("bad payload crc (run: not run)", corrupt(request(Cmd.RUN, 15, payload=RUN_FORMAT.pack(1, 1, 1, 0, 0, 0, 0, 7)), 20)),
        ("unknown command", request(0x42, 16, payload=b"abc")),
        ("write past the end", request(Cmd.WRITE, 17, mem=Mem.A, addr=31, payload=b"\x01\x02\x03\x04")),
        ("write partial word", request(Cmd.WRITE, 18, mem=Mem.A, addr=0, payload=b"\x01\x02\x03")),
        ("read past the end", request(Cmd.READ, 19, mem=Mem.ACC, addr=30, payload=READ_FORMAT.pack(3, 0, 0))),
        ("read requantized from A", request(Cmd.READ, 20, mem=Mem.A, addr=0, payload=READ_FORMAT.pack(1, 1, 0))),
        ("bad memory id", request(Cmd.WRITE, 21, mem=7, addr=0, payload=b"\x01\x02")),
        ("run out of bounds", request(Cmd.RUN, 22, payload=RUN_FORMAT.pack(3, 3, 5, 0, 0, 0, 0, 7))),
        ("run zero tiles", request(Cmd.RUN, 23, payload=RUN_FORMAT.pack(0, 1, 1, 0, 0, 0, 0, 7))),
        ("set unknown register", request(Cmd.SET, 24, addr=Reg.CYCLES, payload=struct.pack("<I", 1))),
        ("info with a payload", request(Cmd.INFO, 25, payload=b"\x00")),
        ("unknown command, no payload", request(0x42, 28)),
        ("empty write", request(Cmd.WRITE, 29, mem=Mem.W, addr=0)),
        ("empty write, bad memory id", request(Cmd.WRITE, 30, mem=7, addr=0)),
        ("read, short arguments", request(Cmd.READ, 31, mem=Mem.A, addr=0, payload=b"\x01\x00")),
        ("run, no arguments", request(Cmd.RUN, 32)),
        ("regs with a payload", request(Cmd.REGS, 33, payload=b"\x00\x01")),
        # found by the differential fuzzer (tests/soc/test_link_fuzz.py): the RTL answered OK
        ("read of a memory id past SCALE", request(Cmd.READ, 34, mem=4, addr=0, payload=READ_FORMAT.pack(1, 0, 0))),
        ("empty write past the end", request(Cmd.WRITE, 35, mem=Mem.W, addr=33)),
        ("empty write at the end", request(Cmd.WRITE, 36, mem=Mem.W, addr=32)),
        ("reset", request(Cmd.RESET, 26)),
        ("info after reset", request(Cmd.INFO, 27)),
    ]


def test_rtl_answers_like_the_golden_device(devices, seed):
    hw, gd = devices
    rng = np.random.default_rng(seed)
    for label, frame in script(rng):
        got = hw.xfer(frame, frames=1, max_cycles=100_000)
        want = gd.feed(frame)
        if frame[1] == Cmd.RUN and want[1] == 0:
            # a RUN's answer carries its cycle count: measured by the RTL, modeled by the golden device
            g, r = parse_response(got), parse_response(want)
            assert (g.status, g.tag, len(g.payload)) == (r.status, r.tag, 4), label
            assert struct.unpack("<I", g.payload)[0] >= 2 * 2 * 5, label
            continue
        assert got == want, f"{label}: RTL {got.hex()} != golden {want.hex()} (seed {seed})"


def test_truncated_frame_times_out_and_device_recovers(devices):
    hw, gd = devices
    frame = request(Cmd.WRITE, 30, mem=Mem.W, addr=0, payload=bytes(range(9)) * 2)
    got = hw.xfer(frame[:7], frames=1, max_cycles=100_000)  # the rest never comes
    gd.feed(frame[:7])
    assert got == gd.idle() and got[1] == 5  # TRUNCATED
    ok = request(Cmd.INFO, 31)
    assert hw.xfer(ok, frames=1, max_cycles=10_000) == gd.feed(ok)


def test_registers_count_link_and_engine_activity(devices):
    hw, _ = devices
    raw = hw.xfer(request(Cmd.REGS, 40), frames=1, max_cycles=10_000)
    regs = struct.unpack_from(f"<{len(BASE_REGS)}I", raw, 7)
    r = dict(zip((x.name for x in BASE_REGS), regs))
    assert r["CYCLES"] > r["BUSY"] >= 0 and r["BYTES_IN"] > 0 and r["BYTES_OUT"] > 0
    assert crc16(raw[1:5]) == struct.unpack_from("<H", raw, 5)[0]


def test_asynchronous_run_busy_rules_and_wait():
    """While an asynchronous RUN executes: READ, RUN and WRITE to ACC answer BUSY; WRITE to
    A/W (the other half of a double buffer) is taken; WAIT answers when the RUN is done."""
    from hwgen.soc.protocol import RUN_ASYNC, Status
    cfg = HwgenConfig(name="soc_rtl_async", array=CFG.array, soc=SocConfig(a_words=512, w_words=512, acc_words=32))
    hw = NativeSim(build_native(cfg))
    status = lambda raw: parse_response(raw).status  # noqa: E731
    start = request(Cmd.RUN, 50, payload=RUN_FORMAT.pack(4, 4, 128, 0, 0, 0, RUN_ASYNC, 7))  # ~2,000 cycles
    assert parse_response(hw.xfer(start, frames=1, max_cycles=10_000)).payload == b""
    assert status(hw.xfer(request(Cmd.READ, 51, mem=Mem.ACC, addr=0, payload=READ_FORMAT.pack(1, 0, 0)),
                          frames=1, max_cycles=10_000)) == Status.BUSY
    assert status(hw.xfer(request(Cmd.WRITE, 52, mem=Mem.ACC, addr=0, payload=bytes(12)),
                          frames=1, max_cycles=10_000)) == Status.BUSY
    assert status(hw.xfer(request(Cmd.RUN, 53, payload=RUN_FORMAT.pack(1, 1, 1, 0, 0, 0, 0, 7)),
                          frames=1, max_cycles=10_000)) == Status.BUSY
    assert status(hw.xfer(request(Cmd.WRITE, 54, mem=Mem.A, addr=600 // 2, payload=bytes(2)),
                          frames=1, max_cycles=10_000)) == Status.OK
    done = parse_response(hw.xfer(request(Cmd.WAIT, 55), frames=1, max_cycles=100_000))
    assert done.status == Status.OK and struct.unpack("<I", done.payload)[0] >= 16 * 128
    again = parse_response(hw.xfer(request(Cmd.WAIT, 56), frames=1, max_cycles=1000))
    assert again.payload == done.payload  # idle: the last RUN's cycles at once
    assert status(hw.xfer(request(Cmd.READ, 57, mem=Mem.ACC, addr=0, payload=READ_FORMAT.pack(1, 0, 0)),
                          frames=1, max_cycles=10_000)) == Status.OK


def test_weight_stationary_top_answers_like_the_golden_device(seed):
    """The WS sequencer (K tiles chained through c, accumulate onto earlier results) on the
    RTL against the golden device, byte for byte (RUN's cycle count aside)."""
    cfg = HwgenConfig(name="soc_rtl_ws", array=ArrayConfig(rows=3, cols=2, dataflow="weight_stationary"),
                      soc=SocConfig(a_words=64, w_words=64, acc_words=32, scale_words=4))
    hw, gd, g = NativeSim(build_native(cfg)), GoldenDevice(cfg), Geometry(cfg)
    rng = np.random.default_rng(seed)
    a, w = rng.integers(-128, 128, (5, 7)), rng.integers(-128, 128, (7, 4))  # 3 K tiles, 2 N tiles
    frames = [request(Cmd.WRITE, 1, mem=Mem.A, payload=g.pack_a_ws(a)),
              request(Cmd.WRITE, 2, mem=Mem.W, payload=g.pack_w_ws(w)),
              request(Cmd.RUN, 3, payload=RUN_FORMAT.pack(5, 2, 3, 0, 0, 0, 0, 7)),
              request(Cmd.READ, 4, mem=Mem.ACC, payload=READ_FORMAT.pack(10, 0, 0)),
              request(Cmd.RUN, 5, payload=RUN_FORMAT.pack(5, 2, 3, 0, 0, 0, 1, 7)),  # accumulate: 2·(a @ w)
              request(Cmd.READ, 6, mem=Mem.ACC, payload=READ_FORMAT.pack(10, 0, 0)),
              request(Cmd.RUN, 7, payload=RUN_FORMAT.pack(5, 2, 11, 0, 0, 0, 0, 7))]  # W needs 66 > 64 words
    for frame in frames:
        got, want = hw.xfer(frame, frames=1, max_cycles=100_000), gd.feed(frame)
        if frame[1] == Cmd.RUN and want[1] == 0:
            assert parse_response(got).status == parse_response(want).status
            continue
        assert got == want, (frame[1], got.hex(), want.hex())
    acc = g.unpack_words(parse_response(gd.feed(request(Cmd.READ, 8, mem=Mem.ACC, payload=READ_FORMAT.pack(
        10, 0, 0)))).payload, Mem.ACC)
    full = 2 * (a @ w)  # results (nt, m) after the accumulating RUN
    assert np.array_equal(acc, np.concatenate([full[:, 0:2], full[:, 2:4]]))


def test_wait_never_misses_the_end_of_a_run(devices):
    """Regression: a RUN ending on the cycle WAIT is decoded once left WAIT waiting forever.
    Sweep the RUN length so its end falls on every cycle of WAIT's arrival."""
    from hwgen.soc.protocol import RUN_ASYNC, Status
    hw, _ = devices
    for k in range(1, 33):
        start = request(Cmd.RUN, 100 + k, payload=RUN_FORMAT.pack(1, 1, k, 0, 0, 0, RUN_ASYNC, 7))
        assert parse_response(hw.xfer(start, frames=1, max_cycles=10_000)).status == Status.OK
        done = hw.xfer(request(Cmd.WAIT, 200 + k), frames=1, max_cycles=10_000)
        assert done and parse_response(done).status == Status.OK, f"K = {k}: no answer to WAIT"


def test_host_write_to_acc_is_not_a_gemm(devices):
    """Regression (fuzzer): a WRITE to the accumulator memory passes through the sequencer's
    sum stage, which raised its busy: the counters saw a GEMM (runs + 1, busy + cycles)."""
    hw, gd = devices
    for dev in (lambda f: hw.xfer(f, frames=1, max_cycles=10_000), gd.feed):
        dev(request(Cmd.RESET, 60))
        dev(request(Cmd.WRITE, 61, mem=Mem.ACC, addr=3, payload=bytes(range(36))))
        regs = struct.unpack_from(f"<{len(BASE_REGS)}I", dev(request(Cmd.REGS, 62)), 7)
        assert regs[Reg.RUNS] == 0 and regs[Reg.BUSY] == 0 and regs[Reg.ARRAY] == 0


def test_write_cut_short_keeps_what_arrived_and_answers_with_its_tag(devices):
    """A WRITE whose payload stops arriving: its bytes so far are in memory (the RTL writes
    each byte as it comes), and TRUNCATED carries the frame's tag (its header was good)."""
    hw, gd = devices
    frame = request(Cmd.WRITE, 70, mem=Mem.A, addr=5, payload=bytes(range(1, 11)))
    got = hw.xfer(frame[:13 + 5], frames=1, max_cycles=100_000)
    gd.feed(frame[:13 + 5])
    want = gd.idle()
    assert got == want and parse_response(got).tag == 70
    read = request(Cmd.READ, 71, mem=Mem.A, addr=5, payload=READ_FORMAT.pack(3, 0, 0))
    got, want = hw.xfer(read, frames=1, max_cycles=10_000), gd.feed(read)
    assert got == want and parse_response(got).payload[:5] == bytes(range(1, 6))
