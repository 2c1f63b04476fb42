"""The RUN bounds check in hardware gives exactly the golden device's verdict
(:func:`run_fits`): at the memories' edges, one past them, with zero counts and with
products far beyond any depth (the narrow multiplier's overflow flag)."""
import random

import pytest
from amaranth.sim import Simulator

from hwgen.config import ArrayConfig, HwgenConfig, SocConfig
from hwgen.soc.golden_device import run_fits, run_needs
from hwgen.soc.layout import Geometry
from hwgen.soc.protocol import Mem
from hwgen.soc.runcheck import RunBoundsCheck

SOC = SocConfig(a_words=64, w_words=128, acc_words=32, scale_words=4)
GEOS = {
    "os": Geometry(HwgenConfig(name="rc_os", array=ArrayConfig(rows=3, cols=2), soc=SOC)),
    "ws": Geometry(HwgenConfig(name="rc_ws", array=ArrayConfig(rows=2, cols=3, dataflow="weight_stationary"),
                               soc=SOC)),
}


def _cases(geo: Geometry, rng: random.Random, n: int):
    """Argument tuples (m, n, k, a_base, w_base, out_base): zero counts, each memory's edge
    and one past it, huge products and bases, random ones."""
    depth = (geo.depth(Mem.A), geo.depth(Mem.W), geo.depth(Mem.ACC))
    cases = [(0, 1, 1, 0, 0, 0), (1, 0, 1, 0, 0, 0), (1, 1, 0, 0, 0, 0), (65535, 65535, 65535, 0, 0, 0),
             (2, 2, 2**15, 0, 0, 0), (1, 1, 1, 2**32 - 1, 0, 0), (1, 1, 1, 0, 2**31, 0), (1, 1, 1, 0, 0, 2**16)]
    for i in range(3 * n):
        m, nn, k = (rng.choices([rng.randrange(1, 5), rng.randrange(65536), 0], [18, 1, 1])[0] for _ in range(3))
        needs = run_needs(geo, m, nn, k)   # (steers the bases to the edges; the verdict is run_fits')
        bases = [rng.randrange(max(1, d - x + 1)) for d, x in zip(depth, needs)]   # fitting where they can
        j = i % 3    # put one memory at its edge, one past it, or one before it
        bases[j] = max(0, depth[j] - needs[j] + rng.choice([-1, 0, 0, 1]))
        if rng.random() < 0.1:
            bases[rng.randrange(3)] = rng.randrange(2**32)
        cases.append((m, nn, k, *bases))
    return cases


@pytest.mark.parametrize("contract", ["os", "ws"])
def test_run_check_matches_the_golden_verdict(contract, seed):
    rng = random.Random(seed)
    geo = GEOS[contract]
    dut = RunBoundsCheck(geo)
    cases = _cases(geo, rng, 40)
    got = []

    async def bench(ctx):
        for m_tiles, n_tiles, k_beats, a_base, w_base, out_base in cases:
            for name, value in (("m_tiles", m_tiles), ("n_tiles", n_tiles), ("k_beats", k_beats),
                                ("a_base", a_base), ("w_base", w_base), ("out_base", out_base)):
                ctx.set(getattr(dut.args, name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles += 1
                assert cycles <= 3 * (17 + 4) + 1, "the check did not finish"
            got.append(bool(ctx.get(dut.ok)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [run_fits(geo, *c) for c in cases]
    bad = [(c, g, w) for c, g, w in zip(cases, got, want) if g != w]
    assert not bad, f"(args, hardware, golden): {bad[:5]} (seed {seed})"
    assert sum(want) > len(want) // 4 and len(want) - sum(want) > len(want) // 4, sum(want)
