"""The host link's GEMV command (accelerators with PIM banks, docs/pim.md).

A GEMV is checked (:class:`hwgen.memory.pim.GemvBoundsCheck`), refused when one executes
already (``BUSY``), started with its arguments latched on ``gemv_args``, and answered at once
(asynchronous) or when it is done, with its cycle count. The link asks this piece which
READs must wait (``rd_busy``: a scratchpad while a RUN executes, a PIM memory while a GEMV
does, the banks' words while a RUN streams its weights from them) and whether anything
executes (``any_busy``, for WAIT).
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from .protocol import Mem, Status

__all__ = ["GemvControl", "StoreControl"]


class GemvControl:
    """Built inside :meth:`hwgen.soc.link.HostLink.elaborate`: ``args`` is the link's argument
    register, ``is_mem`` its memory flags, ``busy`` its registered "a RUN executes"."""

    def __init__(self, m: Module, link, args, is_mem: dict, busy):
        from ..memory.pim import GemvArgs, GemvBoundsCheck
        self.m, self.link = m, link
        #: cycles of the current/last GEMV, and whether one is being counted
        self.cycles, counting = Signal(32, name="gemv_cycles"), Signal(name="gemv_counting")
        m.d.sync += link.gemv_start.eq(0)
        with m.If(link.gemv_start):
            m.d.sync += [self.cycles.eq(0), counting.eq(1)]
        with m.Elif(counting):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(link.gemv_done):
                m.d.sync += counting.eq(0)
        #: a GEMV executes or is starting (a level: it may end on the cycle WAIT is decoded)
        self.running = counting | link.gemv_start
        gbusy = Signal(name="gemv_busy_q")   # registered like the link's ``busy``
        m.d.sync += gbusy.eq(link.gemv_busy | counting | link.gemv_start)
        #: the RUN executing reads its weights from the banks (latched by the link at its start)
        self.run_pim = Signal(name="run_pim")
        self.rd_busy, self.any_busy = Signal(name="rd_busy"), Signal(name="any_busy")
        pim_mem = is_mem[Mem.PIM] | is_mem[Mem.PIM_VEC] | is_mem[Mem.PIM_OUT]
        m.d.comb += [self.rd_busy.eq(Mux(pim_mem, gbusy | (is_mem[Mem.PIM] & busy & self.run_pim), busy)),
                     self.any_busy.eq(busy | gbusy)]
        self.args = data.View(GemvArgs, args[:GemvArgs.size])
        m.submodules.gemv_check = self.check = GemvBoundsCheck(link.geo.pim)
        m.d.comb += self.check.args.eq(self.args)
        # GEMV_DECIDE's outcome as exclusive flip-flops, from the verdict as it is entered
        self.bad, self.again_busy, self.go = Signal(name="g_bad"), Signal(name="g_busy"), Signal(name="g_go")
        m.d.sync += [self.bad.eq(~self.check.ok), self.again_busy.eq(self.check.ok & gbusy),
                     self.go.eq(self.check.ok & ~gbusy)]

    def states(self, fsm, w_status, w_rsp_len, w_have, w_bsel, reg_value, load_reg) -> None:
        """GEMV_CHECK → GEMV_DECIDE → (GEMV_RUNNING) → the response (``TX_SOF``) or ``ERR``."""
        m, link, gv = self.m, self.link, self.args
        with fsm.state("GEMV_CHECK"):
            with m.If(~self.check.busy):
                fsm.goto("GEMV_DECIDE")
        with fsm.state("GEMV_DECIDE"):
            w_rsp_len.set(Mux(gv.flags[1], 0, 4))
            w_have.set(1)
            w_bsel.set(1)
            with m.If(self.bad):
                w_status.set(Status.BAD_ARGS)
                fsm.goto("ERR")
            with m.If(self.again_busy):
                w_status.set(Status.BUSY)
                fsm.goto("ERR")
            with m.If(self.go):
                m.d.sync += [link.gemv_start.eq(1), link.gemv_args.eq(gv)]
                with m.If(gv.flags[1]):   # asynchronous: answer now, WAIT answers later
                    fsm.goto("TX_SOF")
                with m.Else():
                    fsm.goto("GEMV_RUNNING")
        with fsm.state("GEMV_RUNNING"):   # a synchronous GEMV until it is done
            w_rsp_len.set(4)
            w_have.set(1)
            w_bsel.set(1)
            with m.If(~self.running):
                m.d.comb += [reg_value.eq(self.cycles), load_reg.eq(1)]
                fsm.goto("TX_SOF")


class StoreControl:
    """The link's STORE command (:mod:`hwgen.soc.store`): refused while a RUN executes
    (``BUSY``: the engine owns the accumulators), otherwise started on the link's argument
    register and answered when the unit is done, with its cycles, or ``BAD_ARGS`` if the unit
    refused the walk (nothing written)."""

    def __init__(self, m: Module, link, args, busy):
        from .store import StoreArgs
        self.m, self.link, self.busy = m, link, busy
        self.cycles, counting = Signal(32, name="store_cycles"), Signal(name="store_counting")
        m.d.comb += link.store_args.eq(args[:StoreArgs.size])
        m.d.sync += link.store_start.eq(0)
        with m.If(link.store_start):
            m.d.sync += [self.cycles.eq(0), counting.eq(1)]
        with m.Elif(counting):   # the cycles the unit is busy (what STORE_BUSY counts)
            with m.If(link.store_busy):
                m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.Else():
                m.d.sync += counting.eq(0)
        self.running = counting | link.store_start

    def begin(self, fsm, w_status) -> None:
        """In EXEC, for a STORE."""
        m = self.m
        with m.If(self.busy):
            w_status.set(Status.BUSY)
            fsm.goto("ERR")
        with m.Else():
            m.d.sync += self.link.store_start.eq(1)
            fsm.goto("STORE_RUNNING")

    def states(self, fsm, w_status, w_rsp_len, w_have, w_bsel, reg_value, load_reg) -> None:
        m = self.m
        with fsm.state("STORE_RUNNING"):
            w_rsp_len.set(4)
            w_have.set(1)
            w_bsel.set(1)
            with m.If(~self.running):
                with m.If(self.link.store_bad):
                    w_status.set(Status.BAD_ARGS)
                    fsm.goto("ERR")
                with m.Else():
                    m.d.comb += [reg_value.eq(self.cycles), load_reg.eq(1)]
                    fsm.goto("TX_SOF")
