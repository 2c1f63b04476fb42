"""A stream register stage whose ``ready`` is a flip-flop too (a skid buffer): it cuts
every combinational path through a stream, in both directions, at full throughput."""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """One beat per cycle from ``i`` to ``o``, one cycle later; ``i.ready`` and ``o.valid``
    are flip-flops. A beat taken while ``o`` is stalled waits in the skid register."""

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid = Signal.like(self.i.payload)
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        taken_in, taken_out = self.i.valid & self.i.ready, self.o.valid & self.o.ready
        with m.If(taken_out | ~self.o.valid):   # the output register is free this cycle
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(taken_in)]
        with m.Elif(taken_in):                  # stalled: the new beat waits beside it
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
