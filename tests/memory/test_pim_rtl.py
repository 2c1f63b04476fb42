"""The PIM banks in Amaranth's simulator against the golden model (``hwgen.golden.pim``):
the bounds check's verdict, every GEMV's results in every bank, the exact cycle count, the
stalls of one row buffer, and the host's and the engine's reads beside a running GEMV."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen.config import PimConfig
from hwgen.golden.pim import BACC, DOT, gemv, gemv_bounds_ok
from hwgen.memory.pim import GEMV_LATENCY, GemvArgs, GemvBoundsCheck, PimBanks, fmt_code
from hwgen.numerics import Format, parse_format

ALL = tuple(parse_format(f) for f in ("int8", "uint8", "int4", "uint4", "int2", "uint2"))
ARG_NAMES = ("mode", "fmt", "outer", "inner", "base", "ostride", "nstride", "vec_base", "out_base")


def test_gemv_args_is_the_24_byte_payload():
    assert GemvArgs.size == 24 * 8
    assert [(n, f.offset, f.width) for n, f in GemvArgs] == [
        ("mode", 0, 8), ("fmt", 8, 8), ("flags", 16, 8), ("reserved", 24, 8), ("outer", 32, 16), ("inner", 48, 16),
        ("base", 64, 32), ("ostride", 96, 32), ("nstride", 128, 32), ("vec_base", 160, 16), ("out_base", 176, 16)]
    assert fmt_code(Format(8)) == 0x88 and fmt_code(Format(4, False)) == 0x04


# -- the bounds check ------------------------------------------------------------------------------

def _golden_ok(p: PimConfig, a: dict) -> bool:
    fmt = next((f for f in p.formats if fmt_code(f) == a["fmt"]), None)
    return gemv_bounds_ok(fmt=fmt, rows=p.rows, lanes=p.lanes, vec_words=p.vec_words, out_words=p.out_words,
                          **{k: a[k] for k in ARG_NAMES if k != "fmt"})


def _check_cases(p: PimConfig, rng: random.Random, n: int) -> list[dict]:
    """Argument sets: random, each bound exactly at its limit, one past it, zero counts,
    huge strides and bases, unknown modes and formats."""
    codes = [fmt_code(f) for f in p.formats]
    cases = [dict(mode=0, fmt=codes[0], outer=0, inner=1, base=0, ostride=0, nstride=0, vec_base=0, out_base=0),
             dict(mode=1, fmt=codes[0], outer=1, inner=0, base=0, ostride=0, nstride=0, vec_base=0, out_base=0),
             dict(mode=0, fmt=codes[0], outer=65535, inner=65535, base=0, ostride=2**32 - 1, nstride=2**32 - 1,
                  vec_base=0, out_base=0),
             dict(mode=1, fmt=codes[0], outer=1, inner=1, base=2**32 - 1, ostride=2**32 - 1, nstride=2**32 - 1,
                  vec_base=0, out_base=0)]
    L, V, O = p.lanes, p.vec_words, p.out_words

    def pick(good: list, bad: list):    # a value inside the bounds, or (1 time in 8) past them
        return rng.choice(bad if bad and rng.random() < 0.125 else good)
    for i in range(n):
        fmt, mode = rng.choice(p.formats), rng.choice([DOT, BACC])
        slices = p.rows * 8 // fmt.bits
        vmax, omax = (V, L * O) if mode == DOT else (L * V, O)
        inner = pick([1, rng.randint(1, vmax), vmax], [vmax + 1, rng.randrange(1, 65536)])
        outer = pick([1, rng.randint(1, omax), omax], [omax + 1, rng.randrange(1, 65536)])
        ofit = (slices - 1) // max(1, outer - 1)
        ostride = pick([0, min(1, ofit), rng.randrange(ofit + 1), ofit], [rng.randrange(2**32), ofit + 1])
        room = slices - 1 - (outer - 1) * ostride
        fit = max(0, room) // max(1, inner - 1)
        nstride = pick([0, min(1, fit), rng.randrange(fit + 1), fit], [fit + 1, rng.randrange(2**32)])
        room -= (inner - 1) * nstride
        base = pick([max(0, room), rng.randrange(max(0, room) + 1)], [max(0, room) + 1, rng.randrange(2**32)])
        vec_need = inner if mode == DOT else -(-inner // L)
        out_need = -(-outer // L) if mode == DOT else outer
        vec_base = pick([V - vec_need, rng.randrange(max(0, V - vec_need) + 1)],
                        [V - vec_need + 1, rng.randrange(65536)])
        out_base = pick([O - out_need, rng.randrange(max(0, O - out_need) + 1)],
                        [O - out_need + 1, rng.randrange(65536)])
        code = fmt_code(fmt)
        if rng.random() < 0.04:
            mode = rng.randrange(2, 256)
        if rng.random() < 0.04:
            code = rng.choice([0, 0x88, 0x08, 0x84, 0x04, 0x82, 0x02, 0xFF, rng.randrange(256)])
        if rng.random() < 0.02:
            outer = 0
        if rng.random() < 0.02:
            inner = 0
        cases.append(dict(mode=mode, fmt=code, outer=outer % 65536, inner=inner % 65536, base=base % 2**32,
                          ostride=ostride % 2**32, nstride=nstride % 2**32, vec_base=max(0, vec_base) % 65536,
                          out_base=max(0, out_base) % 65536))
    return cases


@pytest.mark.parametrize("pim", [
    PimConfig(banks=2, rows=64, lanes=8, formats=ALL, vec_words=16, out_words=8),
    PimConfig(banks=1, rows=16, lanes=3, formats=(Format(8), Format(2, False)), vec_words=4, out_words=2),
    PimConfig(banks=4, rows=1 << 16, lanes=1, formats=(Format(4),), vec_words=1 << 12, out_words=1 << 12),
], ids=["8lanes_all", "3lanes", "1lane_huge"])
def test_bounds_check_matches_gemv_bounds_ok(pim, seed):
    rng = random.Random(seed)
    dut = GemvBoundsCheck(pim)
    cases = _check_cases(pim, rng, 1500)
    got = []

    async def bench(ctx):
        for c in cases:
            for k, v in c.items():
                ctx.set(getattr(dut.args, k), v)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles += 1
                assert cycles <= 38, "the check did not finish"
            got.append(bool(ctx.get(dut.ok)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [_golden_ok(pim, c) for c in cases]
    bad = [(c, g, w) for c, g, w in zip(cases, got, want) if g != w]
    assert not bad, f"(args, hardware, golden): {bad[:3]} (seed {seed})"
    assert sum(want) > len(want) // 4 and len(want) - sum(want) > len(want) // 4, sum(want)


# -- the banks -------------------------------------------------------------------------------------

class Model:
    """The banks' contents as the golden model sees them."""

    def __init__(self, p: PimConfig, rng: np.random.Generator):
        self.p = p
        self.data = rng.integers(0, 256, size=(p.banks, p.rows, p.lanes), dtype=np.int64)
        self.vec = rng.integers(-128, 128, size=(p.banks, p.vec_words, p.lanes), dtype=np.int64)
        self.vec[:, 0, :] = -128                                        # extremes in every bank
        self.out = np.zeros((p.banks, p.out_words, p.lanes), dtype=np.int64)

    def run(self, a: dict):
        fmt = next(f for f in self.p.formats if fmt_code(f) == a["fmt"])
        for b in range(self.p.banks):
            gemv(self.data[b].astype(np.uint8), self.vec[b], self.out[b], fmt=fmt, acc=self.p.acc,
                 **{k: a[k] for k in ARG_NAMES if k != "fmt"})


def _word(values, bits: int) -> int:
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(values))


def random_gemv(p: PimConfig, rng: random.Random, max_count: int = 20) -> dict:
    """Arguments that pass the bounds check: any mode and format, strides 0, small, large
    and overlapping, often walking right up to the last slice."""
    while True:
        fmt = rng.choice(p.formats)
        mode = rng.choice([DOT, BACC])
        slices = p.rows * 8 // fmt.bits
        outer, inner = rng.randint(1, max_count), rng.randint(1, max_count)
        ostride = rng.choice([0, 1, inner, rng.randrange(slices // max(1, outer - 1) + 1)])
        room = slices - 1 - (outer - 1) * ostride
        if room < 0:
            continue
        nstride = rng.choice([0, 1, outer, rng.randrange(room // max(1, inner - 1) + 1)])
        room -= (inner - 1) * nstride
        if room < 0:
            continue
        base = rng.choice([0, room, rng.randrange(room + 1)])
        vec_need = inner if mode == DOT else -(-inner // p.lanes)
        out_need = -(-outer // p.lanes) if mode == DOT else outer
        if vec_need > p.vec_words or out_need > p.out_words:
            continue
        a = dict(mode=mode, fmt=fmt_code(fmt), outer=outer, inner=inner, base=base, ostride=ostride,
                 nstride=nstride, vec_base=rng.randrange(p.vec_words - vec_need + 1),
                 out_base=rng.randrange(p.out_words - out_need + 1))
        assert _golden_ok(p, a)
        return a


def footprint(p: PimConfig, a: dict) -> set[int]:
    """The local data words a GEMV reads."""
    per = 8 // next(f for f in p.formats if fmt_code(f) == a["fmt"]).bits
    return {(a["base"] + o * a["ostride"] + n * a["nstride"]) // per
            for o in range(a["outer"]) for n in range(a["inner"])}


class Bench:
    """Drives a :class:`PimBanks` through its ports; every method is a testbench coroutine."""

    def __init__(self, dut: PimBanks, model: Model):
        self.dut, self.model, self.p = dut, model, dut.pim

    async def fill(self, ctx, rng: random.Random):
        """Every data and vector word through the host ports: whole words, the link's
        byte-lane writes (the byte on every lane, one enable bit) and vector broadcasts."""
        p, d, mdl = self.p, self.dut, self.model
        L = p.lanes
        for b in range(p.banks):
            for r in range(p.rows):
                words = mdl.data[b, r]
                if rng.random() < 0.15:     # byte by byte
                    for l in rng.sample(range(L), L):
                        ctx.set(d.host.wr_addr, b * p.rows + r)
                        ctx.set(d.host.wr_data, _word([words[l]] * L, 8))
                        ctx.set(d.host.wr_en, 1 << l)
                        await ctx.tick()
                else:
                    ctx.set(d.host.wr_addr, b * p.rows + r)
                    ctx.set(d.host.wr_data, _word(words, 8))
                    ctx.set(d.host.wr_en, (1 << L) - 1)
                    await ctx.tick()
        ctx.set(d.host.wr_en, 0)
        bcast = rng.randrange(p.vec_words)    # one word broadcast to every bank
        mdl.vec[:, bcast] = mdl.vec[0, bcast]
        for b in range(p.banks):
            for w in range(p.vec_words):
                if w == bcast and b:
                    continue
                ctx.set(d.vec.wr_addr, (p.banks if w == bcast else b) * p.vec_words + w)
                ctx.set(d.vec.wr_data, _word(mdl.vec[b, w], 8))
                ctx.set(d.vec.wr_en, (1 << L) - 1)
                await ctx.tick()
        ctx.set(d.vec.wr_en, 0)

    async def read(self, ctx, port, addr: int) -> int:
        ctx.set(port.rd_addr, addr)
        ctx.set(port.rd_en, 1)
        await ctx.tick()
        ctx.set(port.rd_en, 0)
        return ctx.get(port.rd_data)

    async def check_memories(self, ctx, rng: random.Random, what: str):
        """Reads every result word (and some data and vector words) back through the host."""
        p, d, mdl = self.p, self.dut, self.model
        for b in range(p.banks):
            for w in range(p.out_words):
                got = await self.read(ctx, d.out, b * p.out_words + w)
                assert got == _word(mdl.out[b, w], p.acc), \
                    f"{what}: bank {b} result word {w}: {got:#x} != {_word(mdl.out[b, w], p.acc):#x}"
        for _ in range(4):
            b, r, w = rng.randrange(p.banks), rng.randrange(p.rows), rng.randrange(p.vec_words)
            assert await self.read(ctx, d.host, b * p.rows + r) == _word(mdl.data[b, r], 8)
            assert await self.read(ctx, d.vec, b * p.vec_words + w) == _word(mdl.vec[b, w], 8)
        assert await self.read(ctx, d.vec, p.banks * p.vec_words + 1) == _word(mdl.vec[0, 1], 8)

    async def gemv(self, ctx, a: dict, rng: random.Random, *, p_take: float = 0.0) -> tuple[int, int]:
        """Runs one GEMV, pulsing ``start`` now and then while it runs (ignored). With
        ``p_take`` > 0 the host and the engine use port A in random cycles (reads, and writes
        of words the GEMV does not read), and in others the host uses the vector port (reads,
        and writes of words it does not read); every read is checked. Returns (cycles from
        start to done, stalled cycles)."""
        p, d, mdl = self.p, self.dut, self.model
        for k, v in a.items():
            ctx.set(getattr(d.args, k), v)
        ctx.set(d.start, 1)
        await ctx.tick()
        ctx.set(d.start, 0)
        N, issued, stalls, cycle, pending = a["outer"] * a["inner"], 0, 0, 1, None
        free = [r for r in range(p.rows) if r not in footprint(p, a)]
        vec_need = a["inner"] if a["mode"] == DOT else -(-a["inner"] // p.lanes)
        vfree = [w for w in range(p.vec_words) if not a["vec_base"] <= w < a["vec_base"] + vec_need]
        while True:
            assert ctx.get(d.busy) or ctx.get(d.done)
            if pending is not None:                # last cycle's read, one cycle later
                port, want = pending
                assert ctx.get(port) == want, f"cycle {cycle}: a read during the GEMV"
                pending = None
            if ctx.get(d.done):
                break
            for s in (d.host.rd_en, d.npu_rd_en, d.host.wr_en, d.vec.rd_en, d.vec.wr_en):
                ctx.set(s, 0)
            ctx.set(d.start, rng.random() < 0.05)  # ignored while busy
            u = rng.random()
            take = u < p_take
            if take:
                b, r = rng.randrange(p.banks), rng.randrange(p.rows)
                kind = rng.choice(["host_rd", "npu_rd", "host_wr"] if free else ["host_rd", "npu_rd"])
                if kind == "host_rd":
                    ctx.set(d.host.rd_addr, b * p.rows + r), ctx.set(d.host.rd_en, 1)
                    pending = (d.host.rd_data, _word(mdl.data[b, r], 8))
                elif kind == "npu_rd":
                    ctx.set(d.npu_rd_addr, b * p.rows + r), ctx.set(d.npu_rd_en, 1)
                    pending = (d.npu_rd_data, _word(mdl.data[b, r], 8))
                else:
                    r, l, v = rng.choice(free), rng.randrange(p.lanes), rng.randrange(256)
                    ctx.set(d.host.wr_addr, b * p.rows + r), ctx.set(d.host.wr_data, _word([v] * p.lanes, 8))
                    ctx.set(d.host.wr_en, 1 << l)
                    mdl.data[b, r, l] = v
            elif u < 1.5 * p_take:                 # the vector port: reads, writes of unused words
                b = rng.randrange(p.banks + 1)
                if vfree and rng.random() < 0.5:
                    w, l, v = rng.choice(vfree), rng.randrange(p.lanes), rng.randrange(-128, 128)
                    ctx.set(d.vec.wr_addr, b * p.vec_words + w), ctx.set(d.vec.wr_data, _word([v] * p.lanes, 8))
                    ctx.set(d.vec.wr_en, 1 << l)
                    mdl.vec[b if b < p.banks else slice(None), w, l] = v
                else:
                    w = rng.randrange(p.vec_words)
                    ctx.set(d.vec.rd_addr, b * p.vec_words + w), ctx.set(d.vec.rd_en, 1)
                    pending = (d.vec.rd_data, _word(mdl.vec[b % p.banks, w], 8))
            blocked = take and p.row_buffers == 1
            want_issue = issued < N and not blocked
            assert ctx.get(d.issue) == want_issue, f"cycle {cycle}: issue"
            assert ctx.get(d.stall) == (issued < N and blocked), f"cycle {cycle}: stall"
            issued += want_issue
            stalls += issued < N and blocked
            await ctx.tick()
            cycle += 1
            assert cycle <= N + stalls + GEMV_LATENCY, "no done"
        for s in (d.host.rd_en, d.npu_rd_en, d.host.wr_en, d.vec.rd_en, d.vec.wr_en, d.start):
            ctx.set(s, 0)
        assert not ctx.get(d.busy)
        mdl.run(a)
        return cycle, stalls


def _run(p: PimConfig, seed: int, n_gemv: int, p_take: float = 0.0, max_count: int = 20):
    rng = random.Random(seed)
    model = Model(p, np.random.default_rng(seed))
    dut = PimBanks(p)
    bench = Bench(dut, model)
    log = []

    async def testbench(ctx):
        await bench.fill(ctx, rng)
        for i in range(n_gemv):
            a = random_gemv(p, rng, max_count)
            cycles, stalls = await bench.gemv(ctx, a, rng, p_take=p_take)
            log.append((a, cycles, stalls))
            assert cycles == a["outer"] * a["inner"] + stalls + GEMV_LATENCY, (a, cycles, stalls)
            if i % 3 == 2 or i == n_gemv - 1:
                await bench.check_memories(ctx, rng, f"after GEMV {i} {a} (seed {seed})")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return log


CONFIGS = {
    "b1_l1_int8": PimConfig(banks=1, rows=16, lanes=1, vec_words=32, out_words=32, acc=16),
    "b2_l2_all_acc16": PimConfig(banks=2, rows=16, lanes=2, formats=ALL, vec_words=16, out_words=16, acc=16),
    "b3_l4_low": PimConfig(banks=3, rows=16, lanes=4, formats=(Format(4), Format(2, False), Format(8, False)),
                           vec_words=32, out_words=16, acc=20),
    "b2_l8_all": PimConfig(banks=2, rows=32, lanes=8, formats=ALL, vec_words=32, out_words=16, acc=32),
    "b3_l3_rb1": PimConfig(banks=3, rows=16, lanes=3, formats=ALL, vec_words=16, out_words=16, acc=17,
                           row_buffers=1),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gemv_matches_golden_with_exact_cycles(name, seed):
    """Random GEMVs, nothing else on the ports: results = golden in every bank, and
    ``done`` exactly ``outer·inner + GEMV_LATENCY`` cycles after ``start``."""
    log = _run(CONFIGS[name], seed, 20)
    assert all(s == 0 for _, _, s in log) and len(log) == 20


@pytest.mark.parametrize("rb", [1, 2])
def test_port_a_traffic_during_a_gemv(rb, seed):
    """Host and engine reads (checked) and host writes outside the GEMV's words in random
    cycles: with two row buffers no stall and the exact cycle count; with one, a stall in
    exactly the cycles port A was taken while slices remained, and the same results."""
    p = PimConfig(banks=2, rows=32, lanes=4, formats=ALL, vec_words=16, out_words=16, acc=24, row_buffers=rb)
    log = _run(p, seed, 20, p_take=0.4)
    total = sum(s for _, _, s in log)
    assert (total == 0) if rb == 2 else (total > 0)


@pytest.mark.parametrize("rb", [1, 2])
def test_ecp5_one_block_ram_per_bank(rb, tmp_path):
    """synth_ecp5 maps each 1024 × 16-bit bank to one DP16KD: the host's write and port A's
    read share one read-write port, and the GEMV's port B (two row buffers) is the block's
    second port, not a copy of the memory."""
    from amaranth.back import verilog

    from hwgen.fpga.ooc import synth_ecp5
    p = PimConfig(banks=2, rows=1024, lanes=2, acc=16, vec_words=2, out_words=2, row_buffers=rb)
    v = tmp_path / "pim.v"
    v.write_text(verilog.convert(PimBanks(p), name="pim_banks"))
    cells = synth_ecp5(v, "pim_banks", tmp_path)
    assert cells.get("DP16KD") == p.banks, cells
    assert cells.get("MULT18X18D") == p.banks * p.lanes, cells
