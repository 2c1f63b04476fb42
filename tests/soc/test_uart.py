# amaranth: UnusedElaboratable=no
"""UART PHY (hwgen.soc.uart) in Amaranth's simulator: loopback with random stalls, the
receiver against Python-made line waveforms (baud mismatch, framing errors, glitches,
overruns), and the transmitter's waveform cycle by cycle."""
import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hwgen.soc.uart import COUNTER_MAX, UARTPhy, UARTRx, UARTTx, uart_bits


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _frame(value: int, d: int, stop: int = 1) -> list[int]:
    """One 8N1 frame written out by hand, independent of ``uart_bits``."""
    bits = [0] + [(value >> j) & 1 for j in range(8)] + [stop]
    return [b for b in bits for _ in range(d)]


def _stalls(rng: random.Random, max_stall: int):
    """Per-cycle ``ready`` values: bursts of 0..max_stall low cycles, each followed by a high one."""
    while True:
        if rng.random() < 0.5:
            yield from [0] * rng.randint(1, max_stall)
        yield 1


def _drive_rx(dut: UARTRx, levels, ready):
    """Put ``levels`` on ``dut.rx`` one per cycle; ``ready(cycle)`` drives ``data.ready``.
    Returns the bytes taken as (cycle, value), the counters and the held output at the end."""
    out = {}

    async def bench(ctx):
        taken = []
        for cyc, level in enumerate(levels):
            ctx.set(dut.rx, level)
            r = ready(cyc)
            ctx.set(dut.data.ready, r)
            if r and ctx.get(dut.data.valid):
                taken.append((cyc, ctx.get(dut.data.payload)))
            await ctx.tick()
        out.update(taken=taken, framing=ctx.get(dut.framing_errors), overruns=ctx.get(dut.overruns),
                   valid=ctx.get(dut.data.valid), payload=ctx.get(dut.data.payload))

    _run(dut, bench)
    return out


def test_divisor_is_checked():
    for cls in (UARTRx, UARTTx, UARTPhy):
        with pytest.raises(ValueError, match=r"^UART divisor must be an integer of at least 4 clock "
                                             r"cycles per bit, not 3$"):
            cls(3)
        with pytest.raises(ValueError, match=r"not 16\.0$"):
            cls(16.0)
        assert cls(4).divisor == 4


def test_uart_bits_levels():
    assert uart_bits([0x01], 1) == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert uart_bits([0xA5, 0x3C], 3, lead=1, gap=2) == (
        [1] * 3 + _frame(0xA5, 3) + [1] * 6 + _frame(0x3C, 3))
    # A non-integer period: bit k starts on cycle floor(k * p + 1/2).
    levels = uart_bits([0x00], 2.5)
    assert levels == [0] * 23 + [1] * 2           # 9 low bits end at cycle floor(22.5 + .5) = 23
    assert len(uart_bits([0x55] * 3, 16.48)) == 494  # floor(30 * 16.48 + .5)
    with pytest.raises(ValueError, match=r"^byte 1 must be 0\.\.255, not 256$"):
        uart_bits([1, 256], 4)


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_loopback_random_stalls(divisor, seed):
    """Tx -> Rx through UARTPhy, random producer gaps and consumer stalls shorter than a
    frame (so nothing may be lost); the bytes must come back in order."""
    rng = random.Random(seed)
    n = 40 if divisor < 16 else 16
    sent = [rng.randrange(256) for _ in range(n - 2)] + [0x00, 0xFF]
    rng.shuffle(sent)
    m = Module()
    m.submodules.phy = phy = UARTPhy(divisor)
    m.d.comb += phy.rx.eq(phy.tx)
    ready = _stalls(rng, 8 * divisor)
    got, limit = [], (n * 10 * divisor) * 3
    out = {}

    async def bench(ctx):
        pending, offering, cyc = list(sent), False, 0
        while len(got) < n and cyc < limit:
            if pending and not offering and rng.random() < 0.3:
                offering = True           # once offered, a byte stays offered until taken
                ctx.set(phy.tx_data.payload, pending[0])
            ctx.set(phy.tx_data.valid, offering)
            r = next(ready)
            ctx.set(phy.rx_data.ready, r)
            if offering and ctx.get(phy.tx_data.ready):
                pending.pop(0)
                offering = False
            if r and ctx.get(phy.rx_data.valid):
                got.append(ctx.get(phy.rx_data.payload))
            await ctx.tick()
            cyc += 1
        out.update(framing=ctx.get(phy.framing_errors), overruns=ctx.get(phy.overruns))

    _run(m, bench)
    assert got == sent
    assert out == dict(framing=0, overruns=0)


@pytest.mark.parametrize("factor", [0.97, 1.0, 1.03])
def test_rx_baud_mismatch(factor, seed):
    """The sender's bit period is 16 × factor cycles, frames back to back; the receiver
    re-synchronizes on each start edge and must still get every byte."""
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(14)] + [0x00, 0xFF, 0x55, 0xAA]
    dut = UARTRx(16)
    levels = uart_bits(sent, 16 * factor, lead=3) + [1] * 120  # > the longest stall
    ready = _stalls(rng, 100)              # < a frame: nothing may be lost
    out = _drive_rx(dut, levels, lambda cyc: next(ready))
    assert [v for _, v in out["taken"]] == sent
    assert (out["framing"], out["overruns"]) == (0, 0)


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_rx_latency(divisor):
    """A byte is valid 3 + (divisor - 1) // 2 + 9 × divisor cycles after its start edge."""
    dut = UARTRx(divisor)
    lead = 2
    levels = uart_bits([0xC3], divisor, lead=lead) + [1] * 3 * divisor
    out = _drive_rx(dut, levels, lambda cyc: 1)
    edge = lead * divisor
    assert out["taken"] == [(edge + 3 + (divisor - 1) // 2 + 9 * divisor, 0xC3)]


def test_rx_framing_error(seed):
    """Frames with a low stop bit are dropped and counted, a held-low line (break) counts
    once, and the good bytes around them are received."""
    rng = random.Random(seed)
    a, b, c, e, f = (rng.randrange(256) for _ in range(5))
    d = 8
    levels = (uart_bits([a], d, lead=2)
              + _frame(b, d, stop=0) + [1] * 2 * d
              + _frame(c, d)
              + _frame(e, d, stop=0) + [0] * 30 * d + [1] * d   # a break after the bad frame
              + _frame(f, d) + [1] * 3 * d)
    out = _drive_rx(UARTRx(d), levels, lambda cyc: 1)
    assert [v for _, v in out["taken"]] == [a, c, f]
    assert (out["framing"], out["overruns"]) == (2, 0)


def test_rx_ignores_glitch(seed):
    """A low pulse shorter than half a bit is not a start bit: no byte, no error."""
    rng = random.Random(seed)
    value = rng.randrange(256)
    d = 16
    levels = [1] * 5 + [0] * 3 + [1] * 3 * d + _frame(value, d) + [1] * 2 * d
    out = _drive_rx(UARTRx(d), levels, lambda cyc: 1)
    assert [v for _, v in out["taken"]] == [value]
    assert (out["framing"], out["overruns"]) == (0, 0)


def test_rx_overrun(seed):
    """While a byte waits, the following good frames are dropped and counted; the waiting
    byte is the first one; once taken, reception goes on."""
    rng = random.Random(seed)
    a, b, c, x = (rng.randrange(256) for _ in range(4))
    d = 6
    first = uart_bits([a, b, c], d, lead=1) + [1] * 2 * d
    take = len(first)
    levels = first + [1] * 3 + _frame(x, d) + [1] * 2 * d
    out = _drive_rx(UARTRx(d), levels, lambda cyc: cyc == take or cyc > take + 3)
    assert out["taken"][0] == (take, a)
    assert [v for _, v in out["taken"]] == [a, x]
    assert (out["framing"], out["overruns"]) == (0, 2)


def test_rx_take_on_completion_cycle_is_not_overrun(seed):
    """If the held byte is taken on the very cycle the next frame completes, the next byte
    is kept, not counted as an overrun."""
    rng = random.Random(seed)
    a, b = rng.randrange(256), rng.randrange(256)
    d = 5
    levels = uart_bits([a, b], d, lead=1, gap=1) + [1] * 3 * d
    edge_b = (1 + 10 + 1) * d
    done_b = edge_b + 2 + (d - 1) // 2 + 9 * d   # the cycle the receiver samples b's stop bit
    out = _drive_rx(UARTRx(d), levels, lambda cyc: cyc == done_b or cyc > done_b + 4)
    assert out["taken"] == [(done_b, a), (done_b + 5, b)]
    assert out["overruns"] == 0


def test_overrun_counter_saturates_in_width():
    assert COUNTER_MAX == 2**len(UARTRx(4).overruns) - 1 == 2**len(UARTRx(4).framing_errors) - 1


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_waveform(divisor, seed):
    """Three bytes offered from cycle 3: the first taken at once into the holding register,
    its start bit from cycle 5, LSB first, one stop bit; the second taken on cycle 5 (the
    holding register empty again), its frame right after the first's stop bit; the third
    waits in the holding register until the second frame has started, then follows it."""
    rng = random.Random(seed)
    b1, b2, b3 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    d = divisor
    dut = UARTTx(d)
    total = 5 + 20 * d + 1
    line, fires = [], []

    async def bench(ctx):
        queue = [b1, b2, b3]
        for cyc in range(total):
            offer = cyc >= 3 and bool(queue)
            ctx.set(dut.data.valid, offer)
            if offer:
                ctx.set(dut.data.payload, queue[0])
            line.append(ctx.get(dut.tx))
            if offer and ctx.get(dut.data.ready):
                fires.append(cyc)
                queue.pop(0)
            await ctx.tick()

    _run(dut, bench)
    want = [1] * 5 + _frame(b1, d) + _frame(b2, d) + [0]
    assert line == want
    assert line[5:5 + 20 * d] == uart_bits([b1, b2], d)
    assert fires == [3, 5, 5 + 10 * d]    # ready is the holding register being empty
