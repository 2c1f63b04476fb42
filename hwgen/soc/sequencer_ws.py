"""The GEMM sequencer for weight-stationary engines (systolic WS/IS, adder trees).

RUN arguments are read as ``m_tiles`` = M rows, ``n_tiles`` = NT, ``k_beats`` = KT. For K
tile ``kt`` (outer) and N tile ``nt``:

* the stationary operand's R words ``w_base + (kt·NT + nt)·R + r`` load a weight bank
  (the engine loads the next bank while it computes with the other);
* for every row m the streamed word ``a_base + kt·M + m`` goes in with its initial
  accumulator ``c``: zero for ``kt = 0`` (unless ``flags`` bit 0 asks to accumulate onto
  the accumulator memory), otherwise the previous K tile's result for (nt, m);
* the result replaces accumulator word ``out_base + nt·M + m``.

A ``c`` read waits until the result it needs has been written (the engine's latency can
exceed M), so any M is exact. Two FIFOs keep the weight and the row streams independent.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .layout import Geometry
from .runcheck import RunArgs
from .protocol import Mem
from .sequencer import AccPort, HostWrite, ReadPort, _abits

__all__ = ["SequencerWS"]

_DEPTH = 8


class SequencerWS(wiring.Component):
    def __init__(self, geo: Geometry, engine_sig: wiring.Signature, *, stationary: str = "w", streamed: str = "a"):
        self.geo, self.names = geo, (stationary, streamed)
        st_sig, sm_sig, c_sig = (engine_sig.members[n].signature.flip() for n in (stationary, streamed, "c"))
        super().__init__({
            "start": In(1), "args": In(RunArgs), "busy": Out(1), "done": Out(1),
            "a_rd": Out(ReadPort(_abits(geo.depth(Mem.A)), geo.word_bits(Mem.A))),
            "w_rd": Out(ReadPort(_abits(geo.depth(Mem.W)), geo.word_bits(Mem.W))),
            "acc": Out(AccPort(_abits(geo.depth(Mem.ACC)), geo.word_bits(Mem.ACC))),
            **HostWrite(_abits(geo.depth(Mem.ACC)), geo.word_bits(Mem.ACC)),
            "st": Out(st_sig), "sm": Out(sm_sig), "c": Out(c_sig),
            "res": In(engine_sig.members["out"].signature),
        })

    def elaborate(self, platform):
        m = Module()
        geo, args = self.geo, Signal(RunArgs)
        R = geo.R
        M, NT, KT = args.m_tiles, args.n_tiles, args.k_beats
        abits, wbits, cbits = geo.word_bits(Mem.A), geo.word_bits(Mem.W), geo.word_bits(Mem.ACC)

        # -- stationary words: (kt, nt, r) in order, R per tile, all consecutive
        m.submodules.wfifo = wf = SyncFIFOBuffered(width=wbits, depth=_DEPTH)
        w_left, w_addr = Signal(32), Signal(32)
        w_infl = Signal()
        w_fire = Signal()
        m.d.comb += [w_fire.eq((w_left != 0) & (wf.level + w_infl < _DEPTH)),
                     self.w_rd.addr.eq(w_addr), self.w_rd.en.eq(w_fire),
                     wf.w_en.eq(w_infl), wf.w_data.eq(self.w_rd.data)]
        m.d.sync += w_infl.eq(w_fire)
        with m.If(w_fire):
            m.d.sync += [w_left.eq(w_left - 1), w_addr.eq(w_addr + 1)]
        m.d.comb += [self.st.valid.eq(wf.r_rdy), self.st.payload.as_value().eq(wf.r_data),
                     wf.r_en.eq(self.st.valid & self.st.ready)]

        # -- rows: (kt, nt, m), an A word and (maybe) an accumulator word each
        m.submodules.afifo = af = SyncFIFOBuffered(width=abits + cbits + 2, depth=_DEPTH)
        kt, nt, row = Signal(16), Signal(16), Signal(16)
        issued, written = Signal(32), Signal(32)   # row beats issued / results written
        a_row = Signal(32)                         # a_base + kt·M
        out_row = Signal(32)                       # out_base + nt·M
        issuing, a_infl, use_c, last = Signal(), Signal(), Signal(), Signal()
        need_c = (kt != 0) | args.flags[0]
        # a result of the previous K tile must be written before it is read back as c
        ready_c = (kt == 0) | (written + NT * M > issued)
        a_fire = Signal()
        m.d.comb += [a_fire.eq(issuing & (af.level + a_infl < _DEPTH) & ready_c),
                     self.a_rd.addr.eq(a_row + row), self.a_rd.en.eq(a_fire),
                     self.acc.rd_addr.eq(out_row + row), self.acc.rd_en.eq(a_fire & need_c)]
        m.d.sync += [a_infl.eq(a_fire), use_c.eq(need_c), last.eq(row == M - 1)]
        m.d.comb += [af.w_en.eq(a_infl),
                     af.w_data.eq(Cat(self.a_rd.data, Mux(use_c, self.acc.rd_data, 0), last, 0))]
        with m.If(a_fire):
            m.d.sync += [issued.eq(issued + 1), row.eq(row + 1)]
            with m.If(row == M - 1):
                m.d.sync += [row.eq(0), nt.eq(nt + 1), out_row.eq(out_row + M)]
                with m.If(nt == NT - 1):
                    m.d.sync += [nt.eq(0), out_row.eq(args.out_base), kt.eq(kt + 1), a_row.eq(a_row + M)]
                    with m.If(kt == KT - 1):
                        m.d.sync += issuing.eq(0)
        a_data, c_data, a_last = af.r_data[:abits], af.r_data[abits:abits + cbits], af.r_data[abits + cbits]
        m.d.comb += [self.sm.valid.eq(af.r_rdy), self.c.valid.eq(af.r_rdy),
                     self.sm.payload.data.as_value().eq(a_data), self.sm.payload.last.eq(a_last),
                     self.c.payload.as_value().eq(c_data),
                     af.r_en.eq(self.sm.valid & self.sm.ready)]

        # -- results: word out_base + nt·M + m, in issue order
        o_nt_row, o_row, o_nt = Signal(32), Signal(16), Signal(16)
        m.d.comb += self.res.ready.eq(1)
        got = self.res.valid
        m.d.comb += [self.acc.wr_addr.eq(o_nt_row + o_row), self.acc.wr_data.eq(self.res.payload.as_value()),
                     self.acc.wr_en.eq(got.replicate(len(self.acc.wr_en)))]
        with m.If(~got):   # the host's words while no GEMM runs
            m.d.comb += [self.acc.wr_addr.eq(self.host_wr_addr), self.acc.wr_data.eq(self.host_wr_data),
                         self.acc.wr_en.eq(self.host_wr_en)]
        with m.If(got):
            m.d.sync += [written.eq(written + 1), o_row.eq(o_row + 1)]
            with m.If(o_row == M - 1):
                m.d.sync += [o_row.eq(0), o_nt.eq(o_nt + 1), o_nt_row.eq(o_nt_row + M)]
                with m.If(o_nt == NT - 1):
                    m.d.sync += [o_nt.eq(0), o_nt_row.eq(args.out_base)]

        # -- control
        total = Signal(32)
        m.d.comb += self.busy.eq(issuing | (w_left != 0) | (written != total))
        was_busy = Signal()
        m.d.sync += was_busy.eq(self.busy)
        m.d.comb += self.done.eq(was_busy & ~self.busy)
        with m.If(self.start):
            a = self.args
            m.d.sync += [args.eq(a), issuing.eq(1), kt.eq(0), nt.eq(0), row.eq(0), issued.eq(0), written.eq(0),
                         a_row.eq(a.a_base), out_row.eq(a.out_base), o_nt_row.eq(a.out_base), o_row.eq(0),
                         o_nt.eq(0), w_left.eq(a.k_beats * a.n_tiles * R), w_addr.eq(a.w_base),
                         total.eq(a.k_beats * a.n_tiles * a.m_tiles)]
        return m
