"""The accelerator top: host link + PHY, four memories, the sequencer, the engine, the
output stage and the counters.

PHYs: ``stream`` (a byte stream in each direction, one byte per cycle: the native
simulation harness drives it) and ``uart`` (8N1 at ``soc.baud`` from ``soc.clock_hz``:
boards). Both carry the same frames (:mod:`hwgen.soc.protocol`).
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect

from ..arrays import build_array
from ..config import HwgenConfig
from ..pe.mul import soc_dsp
from .layout import Geometry
from .counters import CounterFile
from .link import HostLink, counted
from .pipe import SkidBuffer
from .protocol import Mem, Reg
from .requant import SerialRequant
from .sequencer import Sequencer
from .sequencer_ws import SequencerWS
from .uart import UARTPhy

__all__ = ["Accelerator", "PHYS", "link_timeout"]

PHYS = ("stream", "uart")


def link_timeout(cfg: HwgenConfig, phy: str) -> int:
    """Cycles without a byte after which a partial frame is answered ``TRUNCATED``:
    64 byte times on the UART, 4096 cycles on the byte stream."""
    if phy == "uart":
        return 64 * 10 * (cfg.soc.clock_hz // cfg.soc.baud)
    return 4096


class Accelerator(wiring.Component):
    def __init__(self, cfg: HwgenConfig, *, phy: str = "stream"):
        if phy not in PHYS:
            raise ValueError(f"phy must be one of {', '.join(PHYS)}, got {phy!r}")
        self.cfg, self.phy, self.geo = cfg, phy, Geometry(cfg)
        if phy == "stream":
            sig = {"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8))}
        else:
            sig = {"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)}
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        cfg, geo = self.cfg, self.geo
        m.submodules.link = link = HostLink(geo, timeout=link_timeout(cfg, self.phy), info=geo.info())
        m.submodules.engine = engine = build_array(cfg.array)
        if geo.contract == "os":
            m.submodules.seq = seq = Sequencer(geo, engine.signature)
            connect(m, seq.a, engine.a)
            connect(m, seq.w, engine.w)
            if geo.grouped:
                connect(m, seq.s, engine.s)
            beat = engine.a
        else:
            names = ("a", "w") if geo.transposed else ("w", "a")  # (stationary, streamed)
            m.submodules.seq = seq = SequencerWS(geo, engine.signature, stationary=names[0], streamed=names[1])
            connect(m, seq.st, getattr(engine, names[0]))
            connect(m, seq.sm, getattr(engine, names[1]))
            connect(m, seq.c, engine.c)
            beat = getattr(engine, names[1])
        connect(m, engine.out, seq.res)
        # the output stage multiplies in a DSP unless the engine needs them all (iCE40UP5K)
        m.submodules.requant = rq = SerialRequant(geo.C, cfg.array.pe.acc, cfg.soc.out,
                                                  core="pipelined" if soc_dsp(platform) else "shift_add")

        if self.phy == "stream":
            rx, tx = self.rx, self.tx
        else:
            m.submodules.uart = uart = UARTPhy(cfg.soc.clock_hz // cfg.soc.baud)
            m.d.comb += [uart.rx.eq(self.uart_rx), self.uart_tx.eq(uart.tx)]
            rx, tx = uart.rx_data, uart.tx_data
        # a register stage each way between the PHY and the link's frame engine
        m.submodules.rx_pipe = rx_pipe = SkidBuffer(8)
        m.submodules.tx_pipe = tx_pipe = SkidBuffer(8)
        connect(m, wiring.flipped(rx) if self.phy == "stream" else rx, rx_pipe.i)
        connect(m, rx_pipe.o, link.rx)
        connect(m, link.tx, tx_pipe.i)
        connect(m, tx_pipe.o, wiring.flipped(tx) if self.phy == "stream" else tx)

        m.d.comb += [seq.start.eq(link.run_start), seq.args.eq(link.run_args), link.run_done.eq(seq.done),
                     link.run_busy.eq(seq.busy)]

        # output stage on the link's read path
        m.d.comb += [rq.i.valid.eq(link.rq_in.valid), link.rq_in.ready.eq(rq.i.ready),
                     rq.i.payload.as_value().eq(link.rq_in.payload.as_value()),
                     link.rq_out.valid.eq(rq.o.valid), rq.o.ready.eq(link.rq_out.ready),
                     link.rq_out.payload.as_value().eq(rq.o.payload.as_value()),
                     rq.shift.eq(link.shift), rq.relu.eq(link.relu)]

        # memories: the link writes all four and reads them while no GEMM runs; the
        # sequencer reads A and W and reads/writes ACC while it runs
        busy = seq.busy
        pim = st = None
        if geo.pim is not None:   # PIM banks: their three memories behind the link, the GEMV unit
            from ..memory.pim import PimBanks
            m.submodules.pim = pim = PimBanks(geo.pim)
            lh = link.mem_pim
            m.d.comb += [pim.host.rd_addr.eq(lh.rd_addr), pim.host.rd_en.eq(lh.rd_en), lh.rd_data.eq(pim.host.rd_data)]
            if geo.pim_store:   # STORE: the K/V rows from the accumulators into the banks (port A, while the link waits)
                from .store import KvStore
                m.submodules.store = st = KvStore(geo)
                m.d.comb += [st.start.eq(link.store_start), st.args.eq(link.store_args),
                             link.store_busy.eq(st.busy), link.store_bad.eq(st.bad),
                             pim.host.wr_addr.eq(Mux(st.busy, st.pim_wr_addr, lh.wr_addr)),
                             pim.host.wr_data.eq(Mux(st.busy, st.pim_wr_data, lh.wr_data)),
                             pim.host.wr_en.eq(lh.wr_en | st.pim_wr_en)]
            else:
                m.d.comb += [pim.host.wr_addr.eq(lh.wr_addr), pim.host.wr_data.eq(lh.wr_data),
                             pim.host.wr_en.eq(lh.wr_en)]
            connect(m, link.mem_pim_vec, pim.vec)
            connect(m, link.mem_pim_out, pim.out)
            m.d.comb += [pim.start.eq(link.gemv_start), pim.args.eq(link.gemv_args),
                         link.gemv_done.eq(pim.done), link.gemv_busy.eq(pim.busy)]
            # a RUN with RUN_W_PIM streams its weights from the banks' port A
            w_pim = Signal()
            with m.If(link.run_start):
                m.d.sync += w_pim.eq(link.run_args.flags[5] if geo.npu_reads_pim else 0)
        for mem in geo.mems:
            if mem >= Mem.PIM:
                continue
            # whole bytes wide: the link writes a byte lane at a time
            store = Memory(shape=unsigned(8 * geo.word_bytes(mem)), depth=geo.depth(mem), init=[])
            m.submodules[f"mem_{mem.name.lower()}"] = store
            lp = getattr(link, f"mem_{mem.name.lower()}")
            wp, rp = store.write_port(granularity=8), store.read_port(transparent_for=())
            seq_rd = {Mem.A: seq.a_rd, Mem.W: seq.w_rd, **({Mem.SCALE: seq.s_rd} if geo.grouped else {})}.get(mem)
            # a STORE reads the accumulators and the coefficients (scale words) while the link waits
            st_rd = {Mem.ACC: (st.acc_rd_addr, st.acc_rd_en), Mem.SCALE: (st.sc_rd_addr, st.sc_rd_en)}.get(mem) \
                if st is not None else None
            lp_addr, lp_en = (lp.rd_addr, lp.rd_en) if st_rd is None else \
                (Mux(st.busy, st_rd[0], lp.rd_addr), Mux(st.busy, st_rd[1], lp.rd_en))
            if mem == Mem.ACC:
                # the sequencer owns the write port and takes the link's writes while idle
                m.d.comb += [wp.addr.eq(seq.acc.wr_addr), wp.data.eq(seq.acc.wr_data), wp.en.eq(seq.acc.wr_en),
                             seq.host_wr_addr.eq(lp.wr_addr), seq.host_wr_data.eq(lp.wr_data),
                             seq.host_wr_en.eq(lp.wr_en),
                             rp.addr.eq(Mux(busy, seq.acc.rd_addr, lp_addr)),
                             rp.en.eq(Mux(busy, seq.acc.rd_en, lp_en)),
                             seq.acc.rd_data.eq(rp.data), lp.rd_data.eq(rp.data)]
                if st is not None:
                    m.d.comb += st.acc_rd_data.eq(rp.data)
            else:
                m.d.comb += [wp.addr.eq(lp.wr_addr), wp.data.eq(lp.wr_data), wp.en.eq(lp.wr_en)]
                if mem == Mem.W and pim is not None and geo.npu_reads_pim:
                    m.d.comb += [rp.addr.eq(Mux(busy, seq_rd.addr, lp.rd_addr)),
                                 rp.en.eq(Mux(busy & ~w_pim, seq_rd.en, lp.rd_en)),
                                 pim.npu_rd_addr.eq(seq_rd.addr), pim.npu_rd_en.eq(busy & w_pim & seq_rd.en),
                                 seq_rd.data.eq(Mux(w_pim, pim.npu_rd_data, rp.data)), lp.rd_data.eq(rp.data)]
                elif seq_rd is not None:
                    m.d.comb += [rp.addr.eq(Mux(busy, seq_rd.addr, lp.rd_addr)),
                                 rp.en.eq(Mux(busy, seq_rd.en, lp.rd_en)),
                                 seq_rd.data.eq(rp.data), lp.rd_data.eq(rp.data)]
                else:
                    m.d.comb += [rp.addr.eq(lp_addr), rp.en.eq(lp_en), lp.rd_data.eq(rp.data)]
                    if st_rd is not None:
                        m.d.comb += st.sc_rd_data.eq(rp.data)

        # counters (REGS) in a block RAM, cleared by RESET, snapshotted by REGS
        events = {Reg.CYCLES: 1, Reg.BUSY: busy, Reg.ARRAY: beat.valid & beat.ready,
                  Reg.BYTES_IN: link.rx.valid & link.rx.ready, Reg.BYTES_OUT: link.tx.valid & link.tx.ready,
                  Reg.FRAMES_BAD: link.bad_frame, Reg.GARBAGE: link.garbage, Reg.RUNS: seq.done}
        if pim is not None:
            events.update({Reg.PIM_BUSY: pim.busy, Reg.PIM_ISSUE: pim.issue, Reg.PIM_STALL: pim.stall,
                           Reg.OVERLAP: (busy | (st.busy if st is not None else 0)) & pim.busy,
                           Reg.STORE_BUSY: st.busy if st is not None else 0})
        COUNTED = counted(geo)
        m.submodules.counters = cf = CounterFile(len(COUNTED))
        # its inputs registered (events, clear and snapshot one cycle late, all alike; the link
        # waits a cycle for a read): they come from all over the design
        m.d.sync += [cf.events.eq(Cat(events[r] for r in COUNTED)), cf.clear.eq(link.clear), cf.snap.eq(link.snap),
                     cf.rd_index.eq(link.reg_rd_index), cf.rd_en.eq(link.reg_rd_en)]
        m.d.comb += [link.snap_busy.eq(cf.snap_busy), link.reg_rd_data.eq(cf.rd_data)]
        return m
