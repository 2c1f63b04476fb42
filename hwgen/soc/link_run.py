"""The host link's RUN command: checked (:class:`hwgen.soc.runcheck.RunBoundsCheck`),
refused while a GEMM executes (``BUSY``), acknowledged without running again when it is a
retry of the last RUN (same tag), started with its arguments on ``run_args``, and answered at
once (asynchronous) or when the GEMM is done, with the cycles it took (counted here).
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from .protocol import Status
from .runcheck import RunBoundsCheck, run_args

__all__ = ["RunControl"]


class RunControl:
    """Built inside :meth:`hwgen.soc.link.HostLink.elaborate`: ``args`` is the link's argument
    register, ``tag`` the request header's tag."""

    def __init__(self, m: Module, link, args, tag):
        self.m, self.link, self.tag = m, link, tag
        geo = link.geo
        #: cycles of the current/last RUN, and whether one is being counted
        self.cycles, self.counting = Signal(32, name="run_cycles"), Signal(name="counting")
        #: the last RUN's tag: a RUN with it again is a retry, acknowledged without running
        self.last_tag, self.last_valid = Signal(8, name="last_run_tag"), Signal(name="last_run_valid")
        retry = Signal(name="retry")   # the RUN in the header has just run (registered; read in RUN_DECIDE)
        m.d.sync += retry.eq(self.last_valid & (self.last_tag == tag))
        m.d.sync += link.run_start.eq(0)
        with m.If(link.run_start):
            m.d.sync += [self.cycles.eq(0), self.counting.eq(1)]
        with m.Elif(self.counting):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(link.run_done):
                m.d.sync += self.counting.eq(0)
        # A GEMM runs (or is starting): registered, so a cycle late. Late to rise only in the
        # cycle after RUN starts one (the link decides nothing then); late to fall, a READ or
        # WRITE to ACC in the very cycle a GEMM ends is answered BUSY.
        self.busy = Signal(name="busy")
        m.d.sync += self.busy.eq(link.run_busy | self.counting | link.run_start)

        self.args = data.View(run_args(geo), args[:run_args(geo).size])
        m.submodules.run_check = self.check = RunBoundsCheck(geo)
        m.d.comb += [self.check.args.eq(self.args), link.run_args.eq(self.args)]
        ok = self.check.ok
        # RUN_DECIDE's outcome as exclusive flip-flops (a GEMM ending meanwhile is seen late: BUSY)
        self.bad, self.again, self.refused, self.go = (Signal(name=n) for n in ("run_bad", "run_again", "run_busy",
                                                                                "run_go"))
        m.d.sync += [self.bad.eq(~ok), self.again.eq(ok & retry), self.refused.eq(ok & ~retry & self.busy),
                     self.go.eq(ok & ~retry & ~self.busy)]

    def states(self, fsm, w_status, w_rsp_len, w_have, w_bsel, load_cycles, is_wait, gemv=None) -> None:
        """RUN_CHECK → RUN_DECIDE → (RUNNING) → the response (``TX_SOF``) or ``ERR``. RUNNING
        also serves WAIT (``is_wait``), which waits for a GEMV too (``gemv``)."""
        m, link, run = self.m, self.link, self.args
        with fsm.state("RUN_CHECK"):   # (busy from the cycle after start); the decision's flags are
            with m.If(~self.check.busy):  # registered from the verdict as RUN_DECIDE is entered
                fsm.goto("RUN_DECIDE")
        with fsm.state("RUN_DECIDE"):
            # an asynchronous RUN (run again or not) answers without a payload, a
            # synchronous retry with the last cycle count; errors answer from ERR
            w_rsp_len.set(Mux(run.flags[1], 0, 4))
            w_have.set(1)
            w_bsel.set(1)
            with m.If(self.bad):
                w_status.set(Status.BAD_ARGS)
                fsm.goto("ERR")
            with m.If(self.again):  # a retry: do not run again
                m.d.comb += load_cycles.eq(1)
                fsm.goto("TX_SOF")
            with m.If(self.refused):
                w_status.set(Status.BUSY)
                fsm.goto("ERR")
            with m.If(self.go):
                m.d.sync += link.run_start.eq(1)   # a flip-flop: it loads the sequencer
                if gemv is not None:
                    m.d.sync += gemv.run_pim.eq(run.flags[5])
                m.d.sync += [self.last_tag.eq(self.tag), self.last_valid.eq(1)]
                with m.If(run.flags[1]):  # asynchronous: answer now, WAIT answers later
                    fsm.goto("TX_SOF")
                with m.Else():
                    fsm.goto("RUNNING")
        with fsm.state("RUNNING"):  # a synchronous RUN, or WAIT, until the GEMM (and GEMV) is done
            w_rsp_len.set(Mux(is_wait, link.geo.wait_size, 4))
            w_have.set(1)
            w_bsel.set(1)
            # a level, not the done pulse: a RUN may end on the very cycle WAIT is decoded
            done = ~self.counting & ~link.run_start
            if gemv is not None:   # a WAIT waits for the GEMV too
                done = done & (~is_wait | ~gemv.running)
            with m.If(done):
                m.d.comb += load_cycles.eq(1)
                fsm.goto("TX_SOF")
