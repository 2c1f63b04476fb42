# amaranth: UnusedElaboratable=no
"""The block-RAM counter file against plain flip-flop counters: random events, clears,
snapshots and lent-out read cycles. (A snapshot is asked for at least 20 cycles after a
clear, as the host link does: a RESET and a REGS frame are further apart than that.)"""
import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen.soc.counters import CounterFile


@pytest.mark.parametrize("n", [8, 3])
def test_snapshots_equal_flipflop_counters(seed, n):
    rng = np.random.default_rng(seed)
    dut = CounterFile(n, width=32)
    checked = []

    async def bench(ctx):
        model = [0] * n            # what flip-flop counters would hold
        last_clear = -100
        cycle = 0
        # every counter starts at zero: give the reset clear round time, with events running
        while cycle < 3000:
            rate = rng.random(n)
            ev = [int(rng.random() < r) for r in rate]
            clear = rng.random() < 0.005
            snap = rng.random() < 0.01 and cycle - last_clear > 20
            ctx.set(dut.events, sum(b << i for i, b in enumerate(ev)))
            ctx.set(dut.clear, clear)
            ctx.set(dut.snap, snap and not clear)
            ctx.set(dut.rd_en, 0)
            if snap and not clear:
                want = list(model)            # the values before this cycle's events
                model = [m + e for m, e in zip(model, ev)]
                await ctx.tick()
                cycle += 1
                ctx.set(dut.snap, 0)
                while ctx.get(dut.snap_busy):   # events keep coming during the snapshot
                    ev = [int(rng.random() < r) for r in rate]
                    ctx.set(dut.events, sum(b << i for i, b in enumerate(ev)))
                    model = [m + e for m, e in zip(model, ev)]
                    await ctx.tick()
                    cycle += 1
                # read the snapshot back, lending the read port out now and then
                got = []
                for i in rng.permutation(n):
                    for _ in range(int(rng.integers(0, 3))):
                        ev = [int(rng.random() < r) for r in rate]
                        ctx.set(dut.events, sum(b << i for i, b in enumerate(ev)))
                        ctx.set(dut.rd_en, 0)
                        model = [m + e for m, e in zip(model, ev)]
                        await ctx.tick()
                        cycle += 1
                    ev = [int(rng.random() < r) for r in rate]
                    ctx.set(dut.events, sum(b << i for i, b in enumerate(ev)))
                    ctx.set(dut.rd_en, 1)
                    ctx.set(dut.rd_index, int(i))
                    model = [m + e for m, e in zip(model, ev)]
                    await ctx.tick()
                    cycle += 1
                    got.append((int(i), ctx.get(dut.rd_data)))
                ctx.set(dut.rd_en, 0)
                for i, value in got:
                    assert value == want[i] % (1 << 32), f"counter {i}: {value} != {want[i]} (cycle {cycle})"
                checked.append(cycle)
                continue
            if clear:
                model = [0] * n
                last_clear = cycle
            else:
                model = [m + e for m, e in zip(model, ev)]
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) >= 10


def test_needs_two_counters():
    with pytest.raises(ValueError, match="at least 2 counters"):
        CounterFile(1)
