"""The GEMM sequencer: one RUN command becomes every beat of every tile.

For M tile ``mt`` (outer) and N tile ``nt`` (inner) it streams the K beats of A words
``a_base + mt·Kb + kb`` and W words ``w_base + nt·Kb + kb`` into the engine (``last`` on
``kb = Kb - 1``), and writes the engine's result rows, in the order they leave, to
consecutive accumulator words from ``out_base`` — optionally adding them to what is there
(``flags`` bit 0: K-accumulation across RUNs). Scratchpad reads run ahead of the engine
through a small FIFO, so tiles follow each other as closely as the engine allows.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..numerics import acc_range
from ..pe.mac import ice40_restart_adder
from ..pe.mul import fabric_family
from .layout import Geometry
from .runcheck import run_args
from .protocol import Mem

__all__ = ["Sequencer", "ReadPort", "AccPort"]

_FIFO_DEPTH = 8
_SCALE_FIFO = 4


def ReadPort(addr_bits: int, data_bits: int) -> wiring.Signature:
    return wiring.Signature({"addr": Out(addr_bits), "en": Out(1), "data": In(data_bits)})


def _lanes(data_bits: int) -> int:
    return -(-data_bits // 8)


def AccPort(addr_bits: int, data_bits: int) -> wiring.Signature:
    """The accumulator memory's ports; the write port has a byte-lane enable."""
    return wiring.Signature({"rd_addr": Out(addr_bits), "rd_en": Out(1), "rd_data": In(data_bits),
                             "wr_addr": Out(addr_bits), "wr_data": Out(8 * _lanes(data_bits)),
                             "wr_en": Out(_lanes(data_bits))})


def HostWrite(addr_bits: int, data_bits: int) -> dict:
    """Members through which the host link writes the accumulator memory while no GEMM
    runs (a byte at a time: an enable per byte lane): the sequencer owns that memory's write port."""
    lanes = _lanes(data_bits)
    return {"host_wr_addr": In(addr_bits), "host_wr_data": In(8 * lanes), "host_wr_en": In(lanes)}


def _abits(n: int) -> int:
    return max(1, (n - 1).bit_length())


class Sequencer(wiring.Component):
    def __init__(self, geo: Geometry, engine_sig: wiring.Signature):
        self.geo = geo
        # the engine's In streams seen from the member are flipped: flip back to the plain stream
        a_sig, w_sig = (engine_sig.members[n].signature.flip() for n in ("a", "w"))
        out_sig = engine_sig.members["out"].signature
        # a LUT engine with group dequantization: the scale memory's words go to its ``s`` stream
        grouped = {"s_rd": Out(ReadPort(_abits(geo.depth(Mem.SCALE)), geo.word_bits(Mem.SCALE))),
                   "s": Out(engine_sig.members["s"].signature.flip())} if geo.grouped else {}
        super().__init__({
            "start": In(1), "args": In(run_args(geo)), "busy": Out(1), "done": Out(1), **grouped,
            "a_rd": Out(ReadPort(_abits(geo.depth(Mem.A)), geo.word_bits(Mem.A))),
            # (a RUN with RUN_W_PIM reads its weights from the PIM banks' flat addresses)
            "w_rd": Out(ReadPort(_abits(max(geo.depth(Mem.W), geo.depth(Mem.PIM) if geo.npu_reads_pim else 0)),
                                 geo.word_bits(Mem.W))),
            "acc": Out(AccPort(_abits(geo.depth(Mem.ACC)), geo.word_bits(Mem.ACC))),
            **HostWrite(_abits(geo.depth(Mem.ACC)), geo.word_bits(Mem.ACC)),
            "a": Out(a_sig), "w": Out(w_sig), "res": In(out_sig),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geo
        pe = geo.cfg.array.pe
        abits, wbits = geo.word_bits(Mem.A), geo.word_bits(Mem.W)

        # -- issue: scratchpad reads, one A and one W word per cycle, into the FIFO
        # a LUT engine: each beat's A word repeats for its prec + 1 W bit-plane words
        lut = geo.lut
        pb = max(1, (pe.w.bits - 1).bit_length()) if lut else 0
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=abits + wbits + 1 + pb, depth=_FIFO_DEPTH)
        # The read addresses are counters (no adder before the memories); the beat, N tile and
        # M tile counts go down from (count - 2), so a count's last step is its sign flip-flop.
        a_ptr, w_ptr = Signal(len(self.a_rd.addr)), Signal(len(self.w_rd.addr))   # the RUN's bounds were checked
        a_row = Signal.like(a_ptr)                      # the current M tile's first A word
        kb_left, nt_left, mt_left = (Signal(17, name=n) for n in ("kb_left", "nt_left", "mt_left"))
        kb_last, nt_last, mt_last = kb_left[-1], nt_left[-1], mt_left[-1]
        # the RUN's arguments kept while it runs (only what is used after the start)
        k_reload, n_reload = Signal(17, name="k_reload"), Signal(17, name="n_reload")
        w_base, accumulate = Signal.like(w_ptr, name="w_base"), Signal(name="accumulate")
        prec = Signal(8, name="prec")
        wfmt = Signal(2, name="wfmt")
        plane = Signal(max(1, pb), name="plane")
        pl_left, pl_reload = Signal(9, name="pl_left"), Signal(9, name="pl_reload")
        pl_last = pl_left[-1] if lut else Const(1)
        issuing, inflight, in_last = Signal(), Signal(), Signal()
        in_plane = Signal.like(plane)
        # FIFO room, a cycle old and so counted as if the last cycle's read had not left yet
        # (the FIFO then holds one word less, never more)
        room = Signal(init=1)
        fire = Signal()
        # group-quantized RUNs (LUT engines with dequant: group): a group of 2**group_log2 beats
        # is a tile of the engine; its scale word is read with its first beat into a small FIFO
        grouped = geo.grouped
        g_on, g_first = Signal(name="g_on"), Signal(name="g_first")
        gb_left, gb_reload = Signal(9, name="gb_left"), Signal(9, name="gb_reload")
        group_end = (kb_last | (g_on & gb_left[-1])) if grouped else kb_last
        sroom = Const(1)
        if grouped:
            m.submodules.sfifo = sfifo = SyncFIFOBuffered(width=geo.word_bits(Mem.SCALE), depth=_SCALE_FIFO)
            s_ptr, s_base = Signal(len(self.s_rd.addr), name="s_ptr"), Signal(len(self.s_rd.addr), name="s_base")
            s_fire, s_inflight, sroom = Signal(name="s_fire"), Signal(name="s_inflight"), Signal(init=1, name="sroom")
            m.d.comb += [s_fire.eq(fire & g_on & g_first & (plane == 0)),
                         self.s_rd.addr.eq(s_ptr), self.s_rd.en.eq(s_fire),
                         sfifo.w_en.eq(s_inflight), sfifo.w_data.eq(self.s_rd.data),
                         self.s.valid.eq(sfifo.r_rdy), self.s.payload.as_value().eq(sfifo.r_data),
                         sfifo.r_en.eq(self.s.valid & self.s.ready)]
            m.d.sync += [s_inflight.eq(s_fire), sroom.eq(sfifo.level + s_inflight + s_fire < _SCALE_FIFO)]
            with m.If(s_fire):
                m.d.sync += [g_first.eq(0), s_ptr.eq(s_ptr + 1)]
            with m.If(fire & pl_last):
                with m.If(group_end):
                    m.d.sync += [gb_left.eq(gb_reload), g_first.eq(1)]
                with m.Else():
                    m.d.sync += gb_left.eq(gb_left - 1)
            with m.If(fire & pl_last & kb_last & nt_last):   # the next M tile reads the scales again
                m.d.sync += s_ptr.eq(s_base)
        m.d.comb += [fire.eq(issuing & room & sroom),
                     self.a_rd.addr.eq(a_ptr), self.w_rd.addr.eq(w_ptr),
                     self.a_rd.en.eq(fire), self.w_rd.en.eq(fire)]
        m.d.sync += [inflight.eq(fire), in_last.eq(group_end & pl_last), in_plane.eq(plane),
                     room.eq(fifo.level + inflight + fire < _FIFO_DEPTH)]
        m.d.comb += [fifo.w_en.eq(inflight),
                     fifo.w_data.eq(Cat(self.a_rd.data, self.w_rd.data, in_last, in_plane[:pb]))]
        if lut:
            with m.If(fire & ~pl_last):   # the next bit-plane of the same block: A stays
                m.d.sync += [pl_left.eq(pl_left - 1), plane.eq(plane + 1), w_ptr.eq(w_ptr + 1)]
            with m.If(fire & pl_last):
                m.d.sync += [pl_left.eq(pl_reload), plane.eq(0)]
        with m.If(fire & pl_last):
            with m.If(kb_last):
                m.d.sync += kb_left.eq(k_reload)
                with m.If(nt_last):   # the next M tile: its A words follow; W from the start
                    m.d.sync += [nt_left.eq(n_reload), mt_left.eq(mt_left - 1),
                                 a_ptr.eq(a_ptr + 1), a_row.eq(a_ptr + 1), w_ptr.eq(w_base)]
                    with m.If(mt_last):
                        m.d.sync += issuing.eq(0)
                with m.Else():        # the next N tile: the same A words, the next W words
                    m.d.sync += [nt_left.eq(nt_left - 1), a_ptr.eq(a_row), w_ptr.eq(w_ptr + 1)]
            with m.Else():
                m.d.sync += [kb_left.eq(kb_left - 1), a_ptr.eq(a_ptr + 1), w_ptr.eq(w_ptr + 1)]

        # -- the engine's operand streams straight from the FIFO
        a_data, w_data = fifo.r_data[:abits], fifo.r_data[abits:abits + wbits]
        last = fifo.r_data[abits + wbits]
        m.d.comb += [self.a.valid.eq(fifo.r_rdy), self.w.valid.eq(fifo.r_rdy),
                     self.a.payload.data.as_value().eq(a_data), self.a.payload.last.eq(last),
                     self.w.payload.as_value().eq(w_data),
                     fifo.r_en.eq(self.a.valid & self.a.ready)]
        if "prec" in dict(self.a.payload.shape()):  # a bit-serial or LUT engine's run-time precision
            m.d.comb += self.a.payload.prec.eq(prec)
        if lut:
            m.d.comb += [self.a.payload.plane.eq(fifo.r_data[abits + wbits + 1:]), self.a.payload.wfmt.eq(wfmt)]
        if grouped:
            m.d.comb += self.a.payload.scaled.eq(g_on)

        # -- results: consecutive accumulator words, optionally accumulated
        out_addr = Signal(len(self.acc.wr_addr))
        addr_now, acc_now = out_addr, accumulate
        # a group-quantized RUN: every group's R rows go to their tile's R words, the first
        # group's written (or added, with ``accumulate``), the later groups' added
        n_groups, r_grp = Signal(16, name="n_groups"), Signal(16, name="r_grp")
        r_row, t_base = Signal(range(geo.R), name="r_row"), Signal.like(out_addr, name="t_base")
        if grouped:
            addr_now, acc_now = Signal.like(out_addr, name="addr_now"), Signal(name="acc_now")
            m.d.comb += [addr_now.eq(t_base + r_row), acc_now.eq(accumulate | (g_on & (r_grp != 0)))]
        m.d.comb += self.res.ready.eq(1)
        got = self.res.valid & self.res.ready
        # every row is summed one cycle after it arrives, with the word read there added
        # when accumulating (one write path: the read data is gated, not a second mux);
        # the host's words take the same stage while no GEMM runs
        pend, pend_acc = Signal(len(self.acc.wr_en)), Signal()   # pend: the lanes to write
        pend_addr, pend_data = Signal.like(out_addr), Signal(len(self.res.payload.as_value()))
        pend_new = Signal(init=1)   # = ~pend_acc
        m.d.sync += [pend.eq(Mux(got, -1, self.host_wr_en)), pend_acc.eq(got & acc_now),
                     pend_new.eq(~(got & acc_now))]
        with m.If(got):
            m.d.sync += [out_addr.eq(out_addr + 1), pend_addr.eq(addr_now), pend_data.eq(self.res.payload.as_value())]
            if grouped:
                with m.If(r_row == geo.R - 1):
                    m.d.sync += r_row.eq(0)
                    with m.If(~g_on | (r_grp == n_groups - 1)):
                        m.d.sync += [r_grp.eq(0), t_base.eq(t_base + geo.R)]
                    with m.Else():
                        m.d.sync += r_grp.eq(r_grp + 1)
                with m.Else():
                    m.d.sync += r_row.eq(r_row + 1)
        with m.Elif(self.host_wr_en.any()):
            m.d.sync += [pend_addr.eq(self.host_wr_addr), pend_data.eq(self.host_wr_data)]
        m.d.comb += [self.acc.rd_addr.eq(addr_now), self.acc.rd_en.eq(got & acc_now)]
        summed = []   # second stage of read-add-write
        for j in range(geo.C):
            old = self.acc.rd_data.word_select(j, pe.acc).as_signed()
            new = pend_data.word_select(j, pe.acc).as_signed()
            if fabric_family(platform) == "ice40" and pe.overflow == "wrap":
                # the "not accumulating" select inside the adder's own cells, not a gate before its carry chain
                total = Signal(signed(pe.acc), name=f"acc_sum{j}")
                ice40_restart_adder(m, old, new, pend_new, total, name=f"acc_sum{j}")
            else:
                total = (old & pend_acc.replicate(pe.acc)).as_signed() + new
                if pe.overflow == "saturate":
                    lo, hi = acc_range(pe.acc)
                    total = Mux(total > hi, hi, Mux(total < lo, lo, total))
            summed.append(total[:pe.acc])
        # the sums are registered before the memory (its write setup is long on an iCE40): a
        # row lands two cycles after it arrives; ``busy`` lasts until it has
        wq_en, wq_addr, wq_data = Signal.like(pend), Signal.like(pend_addr), Signal(len(self.acc.wr_data))
        m.d.sync += [wq_en.eq(pend), wq_addr.eq(pend_addr), wq_data.eq(Cat(*summed))]
        m.d.comb += [self.acc.wr_en.eq(wq_en), self.acc.wr_addr.eq(wq_addr), self.acc.wr_data.eq(wq_data)]

        # -- control
        # result rows issued (a tile's last beat read) but not yet written: no multiplier for
        # "m_tiles · n_tiles · R rows to come"
        outstanding = Signal(16)
        tile_issued = fire & group_end & pl_last
        outstanding_n = Signal.like(outstanding)
        m.d.comb += outstanding_n.eq(outstanding + Mux(tile_issued, geo.R, 0) - got)
        m.d.sync += outstanding.eq(outstanding_n)
        # busy is a flip-flop (it selects the memories' ports): its next value from the
        # next values of what it stands for
        issuing_n = Mux(self.start, 1, issuing & ~(tile_issued & nt_last & mt_last))
        # outstanding_n != 0 without waiting for the sum (got never exceeds outstanding)
        rows_left = tile_issued | ((outstanding != 0) & ~((outstanding == 1) & got))
        # (a result row in the sum stage, not a host write passing through it: a WRITE to ACC is no GEMM)
        pend_res = Signal()
        m.d.sync += pend_res.eq(got)
        m.d.sync += self.busy.eq(issuing_n | rows_left | got | pend_res)
        was_busy = Signal()
        m.d.sync += was_busy.eq(self.busy)
        m.d.comb += self.done.eq(was_busy & ~self.busy)
        with m.If(self.start):
            count = lambda n: n - 2   # noqa: E731  (a count's first value: its last step is the sign flip)
            m.d.sync += [k_reload.eq(count(self.args.k_beats)), n_reload.eq(count(self.args.n_tiles)),
                         kb_left.eq(count(self.args.k_beats)), nt_left.eq(count(self.args.n_tiles)),
                         mt_left.eq(count(self.args.m_tiles)),
                         w_base.eq(self.args.w_base), accumulate.eq(self.args.flags[0]), prec.eq(self.args.prec),

                         issuing.eq(1), a_ptr.eq(self.args.a_base), a_row.eq(self.args.a_base),
                         w_ptr.eq(self.args.w_base), out_addr.eq(self.args.out_base)]
            if lut:
                m.d.sync += [wfmt.eq(self.args.flags[2:4]), plane.eq(0),
                             pl_left.eq(self.args.prec - 1), pl_reload.eq(self.args.prec - 1)]
            if grouped:
                gl = self.args.group_log2[:3]
                reload = (Const(1, 9) << gl) - 2
                m.d.sync += [g_on.eq(self.args.flags[4]), g_first.eq(1), gb_left.eq(reload), gb_reload.eq(reload),
                             s_ptr.eq(self.args.scale_base), s_base.eq(self.args.scale_base),
                             n_groups.eq((self.args.k_beats + (Const(1, 8) << gl) - 1) >> gl),
                             r_row.eq(0), r_grp.eq(0), t_base.eq(self.args.out_base)]
        return m
