"""Event counters in one block RAM, read as atomic snapshots.

Eight 32-bit counters as flip-flops cost a small FPGA ~260 logic cells, and the REGS
answer needs a snapshot of all of them (another 256 flip-flops and a load/shift mux each).
Here the counters live in a RAM instead: each event increments a 5-bit *pending* count in
fabric, and a scanner visits one counter per cycle (a read, then the next cycle a write
of ``value + pending``), so each pending count is folded in every ``n`` cycles.

A snapshot round visits every counter once more but writes ``value + pending`` to the
counter's *snapshot* word instead, leaving the live word and the pending counts alone: the
snapshot holds, for every counter, exactly the events before the cycle ``snap`` was
raised (the pending counts of that cycle are kept in ``pend_snap``). ``clear`` zeroes
everything from the cycle it is raised (that cycle's events are dropped, as a flip-flop
counter's synchronous clear would).

A snapshot must not be asked for within ``n + 1`` cycles of a clear (the clear round
still runs). Timing: a snapshot takes ``n`` cycles (``snap_busy``); a snapshot word is read with
``rd_en`` and is on ``rd_data`` the next cycle only (the scanner reads again after): the
scanner skips the cycles the read port is lent out, the pending counts absorb them.
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["CounterFile"]

_PEND_BITS = 5   # events since a counter's last write-back: at most ~2n + stalls (n = 8)


class CounterFile(wiring.Component):
    """``n`` counters of ``width`` bits (wrapping).

    Attributes
    ----------
    events : In(n)
        Bit ``i``: counter ``i`` counts this cycle.
    clear : In(1)
        Zero every counter (this cycle's events are not counted).
    snap : In(1)
        Take a snapshot of every counter's value before this cycle.
    snap_busy : Out(1)
        The snapshot is being written (``n`` cycles from ``snap``).
    rd_index, rd_en : In
        Read snapshot word ``rd_index``; ``rd_data`` has it the next cycle.
    rd_data : Out(width)
    """

    def __init__(self, n: int, width: int = 32):
        if n < 2:
            raise ValueError(f"CounterFile needs at least 2 counters, got {n}")
        self.n, self.width = n, width
        super().__init__({"events": In(n), "clear": In(1), "snap": In(1), "snap_busy": Out(1),
                          "rd_index": In(range(n)), "rd_en": In(1), "rd_data": Out(width)})

    def elaborate(self, platform):
        m = Module()
        n, width = self.n, self.width
        # words 0..n-1: live counters; n..2n-1: the snapshot
        m.submodules.store = store = Memory(shape=unsigned(width), depth=2 * n, init=[])
        rp, wp = store.read_port(transparent_for=()), store.write_port()
        m.d.comb += self.rd_data.eq(rp.data)

        pend = Array(Signal(_PEND_BITS, name=f"pend{i}") for i in range(n))
        pend_snap = Array(Signal(_PEND_BITS, name=f"pend_snap{i}") for i in range(n))
        idx = Signal(range(n))                  # the counter the scanner visits next
        v1, i1, d1 = Signal(), Signal(range(n)), Signal(_PEND_BITS)   # last cycle's visit
        zero1, snap1 = Signal(), Signal()       # ... writes 0 + pending / goes to the snapshot
        # after any reset the RAM is zeroed by a clear round (a RAM has no reset)
        snap_left, clear_left = Signal(range(n + 1)), Signal(range(n + 1), init=n)

        visit = ~self.rd_en                     # the read port is the link's this cycle
        snapping = self.snap | (snap_left != 0)
        m.d.comb += [rp.en.eq(1), rp.addr.eq(Mux(self.rd_en, n + self.rd_index, idx)),
                     self.snap_busy.eq(snapping | (v1 & snap1))]   # until the last snapshot write

        # pending counts: + this cycle's event; a normal visit hands the count over
        for i in range(n):
            handed = visit & ~snapping & (idx == i)
            with m.If(self.clear):
                m.d.sync += pend[i].eq(0)
            with m.Elif(handed):
                m.d.sync += pend[i].eq(self.events[i])
            with m.Else():
                m.d.sync += pend[i].eq(pend[i] + self.events[i])
            with m.If(self.snap):
                m.d.sync += pend_snap[i].eq(pend[i])

        m.d.sync += v1.eq(visit)
        with m.If(visit):
            m.d.sync += [i1.eq(idx), idx.eq(Mux(idx == n - 1, 0, idx + 1)), snap1.eq(snapping),
                         d1.eq(Mux(self.snap, pend[idx], Mux(snapping, pend_snap[idx], pend[idx]))),
                         zero1.eq(self.clear | (clear_left != 0))]
            with m.If(~self.clear & (clear_left != 0)):
                m.d.sync += clear_left.eq(clear_left - 1)
        with m.If(self.snap):
            m.d.sync += snap_left.eq(Mux(visit, n - 1, n))
        with m.Elif(visit & (snap_left != 0)):
            m.d.sync += snap_left.eq(snap_left - 1)
        with m.If(self.clear):
            m.d.sync += [clear_left.eq(n), d1.eq(0)]

        # the write-back of last cycle's visit
        m.d.comb += [wp.en.eq(v1), wp.addr.eq(Mux(snap1, n + i1, i1)),
                     wp.data.eq(Mux(zero1, 0, rp.data) + d1)]
        return m
