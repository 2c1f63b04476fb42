"""The skid buffer under random valid/ready patterns: every beat once, in order, and its
ready/valid are flip-flops."""
import numpy as np
from amaranth.sim import Simulator

from hwgen.soc.pipe import SkidBuffer


def test_every_beat_once_in_order(seed):
    rng = np.random.default_rng(seed)
    dut = SkidBuffer(8)
    beats = [int(x) for x in rng.integers(0, 256, 400)]
    got = []

    async def bench(ctx):
        sent, cycles = 0, 0
        while len(got) < len(beats):
            offer = sent < len(beats) and rng.random() < 0.7
            ctx.set(dut.i.valid, offer)
            if offer:
                ctx.set(dut.i.payload, beats[sent])
            ctx.set(dut.o.ready, rng.random() < 0.6)
            taken = offer and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()
            sent += taken
            cycles += 1
            assert cycles < 20 * len(beats)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == beats


def test_full_throughput():
    dut = SkidBuffer(8)
    out = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for k in range(20):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, k)
            assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out.append(ctx.get(dut.o.payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert out == list(range(19))   # one cycle later, one per cycle
