"""Pieces every engine shares: vector streams, the stall enable, delay lines, the
double-buffered weight banks of weight-stationary engines, and the hold-and-drain output
of output-stationary ones."""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import data, stream

from ..config import PEConfig
from ..pe.mac import acc_layout, resolve

__all__ = ["vec_stream", "delay", "stallable", "stallable_registered", "OUT_BUFFER", "Banks", "weight_banks", "drain_rows", "TileSpacing"]


def vec_stream(shape, n: int, *, last: bool = False, extra: dict | None = None):
    """A stream of ``n``-element vectors; with ``last`` (and ``extra`` fields) as a struct."""
    layout = data.ArrayLayout(shape, n)
    if last:
        layout = data.StructLayout({"data": layout, "last": 1, **(extra or {})})
    return stream.Signature(layout)


def delay(m: Module, sig, n: int, name: str):
    """``sig`` delayed by ``n`` registers (in ``m``'s sync domain)."""
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


def stallable(out):
    """A module whose ``fabric`` submodule advances only while ``out`` can move.

    The output register is the fabric's last stage, so the enable is simply "the output
    holds nothing, or it is being taken" — the one place a stall enters the engine.
    Returns (module, fabric, enable).
    """
    from amaranth.hdl import EnableInserter
    m, fab, en = Module(), Module(), Signal()
    m.d.comb += en.eq(~out.valid | out.ready)
    m.submodules.fabric = EnableInserter(en)(fab)
    return m, fab, en


#: beats of output buffer behind a registered enable: one leaving, one arriving on the
#: cycle a stop decision is made, one arriving on the cycle it takes effect
OUT_BUFFER = 3


def stallable_registered(out, depth: int = OUT_BUFFER):
    """Like :func:`stallable`, but the enable is a flip-flop, so no logic sits between
    ``out.ready`` and the thousands of flip-flops it gates (the critical path of a
    pipelined array: ~5 ns of fan-out on ECP5). The fabric writes its output register
    ``inner`` (an interface like ``out``; its ``ready`` is unused); every beat it makes
    enters a ``depth``-beat buffer that ``out`` reads, and the enable drops early enough
    that the buffer never overflows. Costs one cycle of latency and ``depth`` payloads
    of flip-flops; full throughput while ``out`` is ready.
    Returns (module, fabric, enable, inner)."""
    from amaranth.hdl import EnableInserter
    m, fab = Module(), Module()
    en = Signal(init=1, name="en_r")
    m.submodules.fabric = EnableInserter(en)(fab)
    inner = out.signature.create(path=("inner",))
    width = len(inner.payload.as_value())
    mem = Array(Signal(width, name=f"obuf{i}") for i in range(depth))
    wr, rd = Signal(range(depth), name="obuf_wr"), Signal(range(depth), name="obuf_rd")
    count, count_next = Signal(range(depth + 1), name="obuf_count"), Signal(range(depth + 1), name="obuf_next")
    fresh = Signal(name="inner_fresh")  # inner was loaded at the last clock edge
    push, pop = Signal(name="obuf_push"), Signal(name="obuf_pop")
    m.d.sync += fresh.eq(en)
    m.d.comb += [
        push.eq(inner.valid & fresh), pop.eq(out.valid & out.ready),
        out.valid.eq(count != 0), out.payload.eq(mem[rd]),
        count_next.eq(count + push - pop),
    ]
    # Every cycle the fabric's output is written into the free slot at `wr` (through
    # registered one-hot write enables, so no logic sits before the slots' clock enables);
    # `wr` advances only on a push. A full buffer takes no write (and no push comes then).
    wr_next = Signal.like(wr, name="obuf_wr_next")
    m.d.comb += wr_next.eq(Mux(push, Mux(wr == depth - 1, 0, wr + 1), wr))
    we = Signal(depth, init=1, name="obuf_we")
    m.d.sync += [wr.eq(wr_next), we.eq(Mux(count_next == depth, 0, 1 << wr_next))]
    for i in range(depth):
        with m.If(we[i]):
            m.d.sync += mem[i].eq(inner.payload.as_value())
    with m.If(pop):
        m.d.sync += rd.eq(Mux(rd == depth - 1, 0, rd + 1))
    # the next cycle may bring one beat (if enabled now) and, if enabled then, one more
    m.d.sync += [count.eq(count_next), en.eq(count_next + en <= depth - 1)]
    return m, fab, en, inner


@dataclass
class Banks:
    w_fire: Signal     # a stationary-operand beat is taken into bank ``load_bank``
    a_fire: Signal     # a streamed beat (with its ``c`` beat) is taken, computing on ``use_bank``
    load_bank: Signal
    use_bank: Signal
    load: Signal       # 2 strobes: bit b set when a weight beat enters bank b


def weight_banks(m: Module, fab: Module, en, st, sm, c, rows: int, drain_steps: int) -> Banks:
    """Bookkeeping of two stationary-operand banks of ``rows`` beats each.

    A bank is loaded (``rows`` beats of ``st``), used by one tile (``sm`` beats up to
    ``last``, each paired with a ``c`` beat), then keeps its values ``drain_steps`` more
    steps while that tile's last beat is still inside the engine, before it may reload.
    The other bank loads meanwhile, so tiles follow each other without a gap.
    """
    loaded = [Signal(name=f"bank{b}_loaded") for b in range(2)]
    drain = [Signal(range(drain_steps + 1), name=f"bank{b}_drain") for b in range(2)]
    load_bank, use_bank = Signal(), Signal()
    load_cnt = Signal(range(rows))
    free, w_fire, a_fire = Signal(), Signal(), Signal()
    m.d.comb += free.eq(Mux(load_bank, ~loaded[1] & (drain[1] == 0), ~loaded[0] & (drain[0] == 0)))
    use_ready = Mux(use_bank, loaded[1], loaded[0])
    m.d.comb += [
        st.ready.eq(en & free),
        w_fire.eq(st.ready & st.valid),
        a_fire.eq(en & use_ready & sm.valid & c.valid),
        sm.ready.eq(en & use_ready & c.valid),
        c.ready.eq(en & use_ready & sm.valid),
    ]
    for b in range(2):
        with fab.If(w_fire & (load_bank == b) & (load_cnt == rows - 1)):
            fab.d.sync += loaded[b].eq(1)
        with fab.Elif(a_fire & sm.payload.last & (use_bank == b)):
            fab.d.sync += [loaded[b].eq(0), drain[b].eq(drain_steps)]
        with fab.Elif(drain[b] != 0):
            fab.d.sync += drain[b].eq(drain[b] - 1)
    with fab.If(w_fire):
        with fab.If(load_cnt == rows - 1):
            fab.d.sync += [load_cnt.eq(0), load_bank.eq(~load_bank)]
        with fab.Else():
            fab.d.sync += load_cnt.eq(load_cnt + 1)
    with fab.If(a_fire & sm.payload.last):
        fab.d.sync += use_bank.eq(~use_bank)
    load = Signal(2)
    m.d.comb += load.eq((w_fire & ~load_bank) | ((w_fire & load_bank) << 1))
    return Banks(w_fire, a_fire, load_bank, use_bank, load)


class TileSpacing:
    """Keeps two tiles' ends apart so a tile's results are read out before the next tile's
    overwrite them. ``mark`` is asserted on the cycle of the event being spaced (taking a
    ``last`` beat, or loading results); ``ok`` gates taking a ``last`` beat and is high
    when ``steps`` cycles have passed since the last mark and ``blocked`` is low."""

    def __init__(self, m: Module, fab: Module, steps: int, is_last, name: str = "since", blocked=0):
        self.since = Signal(range(steps + 1), init=steps, name=name)
        self.ok = Signal(name=f"{name}_ok")
        self.mark = Signal(name=f"{name}_mark")
        m.d.comb += self.ok.eq(~is_last | ((self.since >= steps) & ~blocked))
        with fab.If(self.mark):
            fab.d.sync += self.since.eq(1)
        with fab.Elif(self.since < steps):
            fab.d.sync += self.since.eq(self.since + 1)


def drain_rows(fab: Module, out, pe: PEConfig, holds, load) -> None:
    """Output stage of an output-stationary engine: ``holds[r][j]`` (accumulator words) are
    written by the caller when ``load`` is high; from the next cycle the ``R`` rows leave on
    ``out`` one per cycle, resolved (the carry-save engines' only carry-propagate adders).
    A new ``load`` may come on the cycle the last row leaves, or later."""
    R, C = len(holds), len(holds[0])
    draining = Signal(name="draining")
    row = Signal(range(R), name="drain_row")
    with fab.If(load):
        fab.d.sync += [draining.eq(1), row.eq(0)]
    with fab.Elif(draining):
        fab.d.sync += row.eq(row + 1)
        with fab.If(row == R - 1):
            fab.d.sync += [draining.eq(0), row.eq(0)]
    fab.d.sync += out.valid.eq(draining)
    for j in range(C):
        col = Array(holds[r][j].as_value() for r in range(R))
        fab.d.sync += out.payload[j].eq(resolve(pe, data.View(acc_layout(pe), col[row])))
