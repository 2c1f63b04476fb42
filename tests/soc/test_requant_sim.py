# amaranth: UnusedElaboratable=no
"""The output stage in Amaranth's simulator, under random stalls, against the golden model.

(The linter line above silences the warnings about the half-built ``Requant`` objects of the
constructor error tests.)
"""
import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen.golden.requant import requantize
from hwgen.numerics import Format
from functools import partial

from hwgen.soc.requant import Requant, SerialRequant, ShiftAddRequant


def random_beats(rng, cols: int, acc_bits: int, out_fmt: Format, n: int):
    """``n`` beats of (acc row, scale row, shift, relu), with ties and extremes mixed in."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    beats = []
    for b in range(n):
        acc = np.array([int(rng.integers(lo, hi, endpoint=True)) >> int(rng.integers(0, acc_bits))
                        for _ in range(cols)], dtype=np.int64)
        scale = rng.integers(0, 1 << 16, size=cols)
        scale[rng.random(cols) < 0.1] = 0
        scale[rng.random(cols) < 0.1] = 65535
        pick = rng.random(cols) < 0.1
        acc[pick] = rng.choice([lo, hi, 0, -1], size=int(pick.sum()))
        # A shift that lands most results inside the output range, or anything in 0..63.
        width = max(int(abs(int(a) * int(s))).bit_length() for a, s in zip(acc, scale))
        shift = int(np.clip(width - out_fmt.bits + rng.integers(-2, 3), 0, 63))
        if b % 5 == 0:
            shift = int(rng.choice([0, 63, int(rng.integers(0, 64))]))
        for c in range(cols):
            if shift and rng.random() < 0.3:
                # A tie: scale 2**j times an odd multiple of 2**(shift-1-j) shifts out exactly one half.
                j = int(rng.integers(0, min(shift, 16)))
                e = shift - 1 - j
                if e < acc_bits - 1:
                    top = acc_bits - 1 - e
                    scale[c] = 1 << j
                    acc[c] = (2 * int(rng.integers(-(1 << (top - 1)), 1 << (top - 1))) + 1) << e
        beats.append((acc, scale, shift, bool(rng.random() < 0.3)))
    return beats


def run(dut: Requant, beats, rng, p_gap: float, p_stall: float, max_cycles: int | None = None):
    """Drive ``beats`` into ``dut`` with random input gaps and output stalls.

    Returns the output beats in arrival order and the number of cycles taken. Checks the
    stream rule on the way: while ``o.valid`` is high and not taken, it stays high and its
    payload does not change.
    """
    got, held = [], None
    result = {}

    async def bench(ctx):
        nonlocal held
        sent, offering, cycles = 0, False, 0
        while len(got) < len(beats):
            if not offering and sent < len(beats) and rng.random() >= p_gap:
                acc, scale, shift, relu = beats[sent]
                ctx.set(dut.i.payload, {"acc": [int(v) for v in acc], "scale": [int(v) for v in scale]})
                ctx.set(dut.shift, shift)
                ctx.set(dut.relu, relu)
                offering = True
            ctx.set(dut.i.valid, offering)
            ctx.set(dut.o.ready, rng.random() >= p_stall)
            taken = offering and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                payload = [ctx.get(dut.o.payload)[c] for c in range(dut.cols)]
                assert held is None or held == payload, f"cycle {cycles}: stalled payload changed"
                if ctx.get(dut.o.ready):
                    got.append(payload)
                    held = None
                else:
                    held = payload
            else:
                assert held is None, f"cycle {cycles}: o.valid dropped before the beat was taken"
            await ctx.tick()
            if taken:
                sent, offering = sent + 1, False
            cycles += 1
            assert cycles < (max_cycles or 20 * len(beats) + 100), f"no progress: {len(got)} of {len(beats)} beats out"
        # Nothing more may come out: no duplicated beat.
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        for _ in range(5):
            await ctx.tick()
            assert not ctx.get(dut.o.valid), "an extra beat came out"
        result["cycles"] = cycles

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, result["cycles"]


def expected(beats, out_fmt):
    return [requantize(acc[None, :], scale, shift, relu=relu, out_fmt=out_fmt)[0].tolist()
            for acc, scale, shift, relu in beats]


CONFIGS = [(4, 32, Format(8)), (3, 20, Format(8, signed=False)), (2, 32, Format(4))]


SHIFT_ADD = partial(SerialRequant, core="shift_add")


@pytest.mark.parametrize("cls", [Requant, SerialRequant, SHIFT_ADD], ids=["parallel", "serial", "shift_add"])
@pytest.mark.parametrize("cols,acc_bits,out_fmt", CONFIGS, ids=lambda v: str(v))
@pytest.mark.parametrize("p_gap,p_stall", [(0.3, 0.4), (0.7, 0.1), (0.05, 0.8)])
def test_matches_golden_under_stalls(seed, cls, cols, acc_bits, out_fmt, p_gap, p_stall):
    rng = np.random.default_rng(seed)
    n = {Requant: 300, SerialRequant: 100}.get(cls, 40)
    beats = random_beats(rng, cols, acc_bits, out_fmt, n)
    got, _ = run(cls(cols, acc_bits, out_fmt), beats, rng, p_gap, p_stall, max_cycles=400 * cols * n)
    want = expected(beats, out_fmt)
    assert len(got) == len(want)
    bad = [(k, beats[k], got[k], want[k]) for k in range(len(want)) if got[k] != want[k]]
    assert not bad, f"{len(bad)} beats differ, first: {bad[0]}"


@pytest.mark.parametrize("serial", [False, True], ids=["parallel", "serial"])
@pytest.mark.parametrize("cols,acc_bits,out_fmt", CONFIGS, ids=lambda v: str(v))
def test_throughput_and_latency(seed, serial, cols, acc_bits, out_fmt):
    """Without gaps or stalls: ``Requant`` takes a beat every cycle and answers LATENCY edges
    later; ``SerialRequant`` takes one every ``cols + LATENCY + 2`` cycles (one column per
    cycle through the column register, the core's latency, the row offered while the next
    beat waits)."""
    rng = np.random.default_rng(seed)
    beats = random_beats(rng, cols, acc_bits, out_fmt, 30)
    dut = (SerialRequant if serial else Requant)(cols, acc_bits, out_fmt)
    got, cycles = run(dut, beats, rng, 0.0, 0.0)
    assert got == expected(beats, out_fmt)
    want = len(beats) * (cols + Requant.LATENCY + 2) if serial else len(beats) + Requant.LATENCY
    assert cycles == want, cycles


def test_fills_while_stalled(seed):
    """With ``o`` stalled, every stage still fills, even when the second beat comes late
    (no bubble is kept), and the beats come out in order once ``o`` is released."""
    rng = np.random.default_rng(seed)
    out_fmt = Format(8)
    dut = Requant(2, 32, out_fmt)
    beats = random_beats(rng, 2, 32, out_fmt, Requant.LATENCY + 1)
    got, accepted = [], []

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        for cycle in range(16):
            k = len(accepted)
            offer = k < len(beats) and not (1 <= cycle < 5)   # beat 0, a gap, then the rest
            if offer:
                acc, scale, shift, relu = beats[k]
                ctx.set(dut.i.payload, {"acc": [int(v) for v in acc], "scale": [int(v) for v in scale]})
                ctx.set(dut.shift, shift)
                ctx.set(dut.relu, relu)
            ctx.set(dut.i.valid, offer)
            taken = offer and ctx.get(dut.i.ready)
            await ctx.tick()
            if taken:
                accepted.append(k)
        assert accepted == list(range(Requant.LATENCY)), "every stage should hold a beat while o is stalled"
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        for _ in range(2 * Requant.LATENCY):
            if ctx.get(dut.o.valid):
                got.append([ctx.get(dut.o.payload)[c] for c in range(2)])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected(beats[:Requant.LATENCY], out_fmt)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Requant: cols must be an integer >= 1, not 0"):
        Requant(0, 32, Format(8))
    with pytest.raises(ValueError, match=r"Requant: acc_bits must be 2..64, not 65"):
        Requant(4, 65, Format(8))
    with pytest.raises(ValueError, match=r"Requant: shift_bits must be 1..8, not 0"):
        Requant(4, 32, Format(8), shift_bits=0)
    with pytest.raises(TypeError, match=r"Requant: out_fmt must be a hwgen.numerics.Format, not 'int8'"):
        Requant(4, 32, "int8")


@pytest.mark.parametrize("cols,acc_bits,out_fmt", CONFIGS, ids=lambda v: str(v))
def test_shift_add_cycles(seed, cols, acc_bits, out_fmt):
    """The multiplier-free output stage: each element takes ``ShiftAddRequant.cycles(shift)``
    (accumulator bits, then shift bits, one per cycle) plus one to hand its result over, one
    column after the other (the next column waits in the operand register meanwhile); a row
    two more (its first column's operand register, and offered while the next beat waits)."""
    rng = np.random.default_rng(seed)
    beats = random_beats(rng, cols, acc_bits, out_fmt, 12)
    dut = SerialRequant(cols, acc_bits, out_fmt, core="shift_add")
    got, cycles = run(dut, beats, rng, 0.0, 0.0, max_cycles=10_000)
    assert got == expected(beats, out_fmt)
    per = ShiftAddRequant(acc_bits, out_fmt).cycles
    assert cycles == sum(cols * (per(shift) + 1) + 2 for _, _, shift, _ in beats), cycles


def test_serial_core_choice():
    with pytest.raises(ValueError, match=r"core must be one of pipelined, shift_add, not 'dsp'"):
        SerialRequant(4, 32, Format(8), core="dsp")
