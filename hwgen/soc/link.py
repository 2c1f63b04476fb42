"""The host link's frame engine: parses request frames from a byte stream, executes them
against the memories, the sequencer and the registers, and sends response frames.

The framing is defined in :mod:`hwgen.soc.protocol`. One byte per cycle at most in each
direction, half duplex: while a response goes out, no request byte is taken. The PHY
(UART for boards, a plain byte stream for simulation) is outside this block.
"""
from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .crc import crc16_update
from .layout import Geometry
from .protocol import READ_FORMAT, REQ_HEADER, RUN_FORMAT, SOF_REQ, SOF_RSP, Cmd, Mem, Reg, Status

__all__ = ["HostLink", "MemPort", "RunArgs", "COUNTED"]

#: the registers that count events, in the order of their counters (:class:`~hwgen.soc.counters.CounterFile`)
COUNTED = (Reg.CYCLES, Reg.BUSY, Reg.ARRAY, Reg.BYTES_IN, Reg.BYTES_OUT, Reg.FRAMES_BAD, Reg.GARBAGE, Reg.RUNS)

#: RUN arguments as the sequencer sees them (RUN_FORMAT, little-endian, as one struct)
RunArgs = data.StructLayout({"m_tiles": 16, "n_tiles": 16, "k_beats": 16, "a_base": 32, "w_base": 32,
                             "out_base": 32, "flags": 8, "prec": 8})
_ARG_BYTES = RUN_FORMAT.size  # the longest argument payload


def _bytes(value):
    """``value`` zero-extended to whole bytes (a byte is selected from it by index)."""
    return Cat(value, Const(0, -len(value) % 8))


def _by_mem(mem, values: dict):
    """The value for memory ``mem`` (a frame's field) out of one per :class:`Mem`."""
    out = values[Mem.SCALE]
    for mm in (Mem.ACC, Mem.W, Mem.A):
        out = Mux(mem == mm, values[mm], out)
    return out


def MemPort(addr_bits: int, data_bits: int) -> wiring.Signature:
    """The link's access to one memory: a write port and a 1-cycle-latency read port."""
    return wiring.Signature({
        "wr_addr": Out(addr_bits), "wr_data": Out(data_bits), "wr_en": Out(1),
        "rd_addr": Out(addr_bits), "rd_en": Out(1), "rd_data": In(data_bits),
    })


class HostLink(wiring.Component):
    """Frame engine. REGS answers from a snapshot of the counters (``snap``/``reg_rd_*``)
    and the link's own SHIFT and RELU."""

    def __init__(self, geo: Geometry, *, timeout: int, info: bytes):
        self.geo, self.timeout, self.info = geo, timeout, info
        soc, pe = geo.cfg.soc, geo.cfg.array.pe
        self.words = {m: geo.word_bytes(m) for m in Mem}
        ports = {f"mem_{m.name.lower()}": Out(MemPort(max(1, (geo.depth(m) - 1).bit_length()),
                                                     geo.word_bits(m))) for m in Mem}
        out_shape = unsigned(soc.out.bits)
        super().__init__({
            "rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
            **ports,
            "rq_in": Out(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(unsigned(pe.acc), geo.C), "scale": data.ArrayLayout(16, geo.C)}))),
            "rq_out": In(stream.Signature(data.ArrayLayout(out_shape, geo.C))),
            "run_start": Out(1), "run_args": Out(RunArgs), "run_done": In(1), "run_busy": In(1),
            # the counters' snapshot: taken for REGS, read a word at a time
            "snap": Out(1), "snap_busy": In(1),
            "reg_rd_index": Out(range(len(COUNTED))), "reg_rd_en": Out(1), "reg_rd_data": In(32),
            "shift": Out(6), "relu": Out(1), "clear": Out(1),
            "bad_frame": Out(1), "garbage": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geo
        rx, tx = self.rx, self.tx

        hdr = Signal(8 * REQ_HEADER.size)                 # request header, little-endian
        cmd, tag, mem, addr, length = hdr[0:8], hdr[8:16], hdr[16:24], hdr[32:64], hdr[64:80]
        crc = Signal(16)
        crc_in, crc_en = Signal(8), Signal()            # one CRC network, fed by whichever state
        crc_init = Signal()
        with m.If(crc_init):
            m.d.sync += crc.eq(0xFFFF)
        with m.Elif(crc_en):
            m.d.sync += crc.eq(crc16_update(crc, crc_in))
        crc_match = Signal()                              # the CRC bytes received so far match
        cnt = Signal(16)                                  # bytes of the current field
        cnt_clr, cnt_inc = Signal(name="cnt_clr"), Signal(name="cnt_inc")   # one counter, driven from every state
        byte_matches = (rx.payload == crc.word_select(cnt[0], 8)) & (crc_match | (cnt[0] == 0))
        with m.If(cnt_clr):
            m.d.sync += cnt.eq(0)
        with m.Elif(cnt_inc):
            m.d.sync += cnt.eq(cnt + 1)
        args = Signal(8 * _ARG_BYTES)
        status, rsp_len = Signal(8), Signal(16)
        idle = Signal(range(self.timeout + 1))

        took = rx.valid & rx.ready
        with m.If(took):
            m.d.sync += idle.eq(0)
        with m.Elif(idle < self.timeout):
            m.d.sync += idle.eq(idle + 1)
        timed_out = idle == self.timeout

        # Addresses are as wide as the largest memory needs (plus one bit to reach its end):
        # a frame's 32-bit address is checked against the memory once, in CHECK_HDR/EXEC.
        ports = {mm: getattr(self, f"mem_{mm.name.lower()}") for mm in Mem}
        depth = {mm: geo.depth(mm) for mm in Mem}
        ab = max(d.bit_length() for d in depth.values())   # holds 0..depth
        # The checks of a frame's fields are flip-flops, computed every cycle from the header
        # and arguments, which are complete (and still) for at least two cycles (their CRC
        # bytes) before a decision reads them: no decision waits for a wide compare.
        lim = Signal(ab)                                    # depth of the frame's memory
        m.d.sync += lim.eq(_by_mem(mem, depth))
        addr_ok, len_zero, len_ok, mem_bad = (Signal(name=n) for n in ("addr_ok", "len_zero", "len_ok", "mem_bad"))
        want = Mux(cmd == Cmd.READ, READ_FORMAT.size, Mux(cmd == Cmd.RUN, RUN_FORMAT.size,
                                                          Mux(cmd == Cmd.SET, 4, 0)))
        len_last, len_skip, rsp_last = Signal(16), Signal(17), Signal(16)   # the last byte of a payload (+ CRC)
        m.d.sync += [len_last.eq(length - 1), len_skip.eq(length + 1), rsp_last.eq(rsp_len - 1)]
        m.d.sync += [addr_ok.eq((addr[ab:] == 0) & (addr[:ab] < lim)),   # the first word is inside the memory
                     len_zero.eq(length == 0), len_ok.eq(length == want), mem_bad.eq(mem > Mem.SCALE)]

        # WRITE word assembly: bytes shift in from the top; a memory's word sits in its top bytes.
        maxb = max(self.words.values())
        wreg = Signal(8 * maxb)
        wbyte = Signal(range(maxb + 1))
        waddr = Signal(ab)
        werr = Signal()
        nb = Signal(range(maxb + 1))
        m.d.sync += nb.eq(_by_mem(mem, self.words))
        # registered write: the cycle after a word's last byte, wreg holds exactly that word
        # (the next byte, if any, shifts in at the same edge the memory samples it)
        w_en, w_addr = Signal(), Signal(ab)
        m.d.sync += w_en.eq(0)
        for mm, p in ports.items():
            w = geo.word_bits(mm)
            m.d.comb += [p.wr_addr.eq(w_addr), p.wr_data.eq(wreg[8 * maxb - 8 * self.words[mm]:][:w]),
                         p.wr_en.eq(w_en & (mem == mm))]

        # Response payload sources
        run_cycles, counting = Signal(32), Signal()   # cycles of the current/last RUN
        # REGS: the counters' snapshot is taken when the command executes and read a word at
        # a time into ``word32`` (SHIFT and RELU are the link's own); a RUN's cycle count is
        # loaded there at once. Bytes leave from its bottom. INFO is a constant, read byte by byte.
        word32 = Signal(32)
        load_cycles, load_reg, shift_out = Signal(), Signal(), Signal()
        reg_value = Signal(32)
        with m.If(load_cycles | load_reg):
            m.d.sync += word32.eq(Mux(load_cycles, run_cycles, reg_value))
        with m.Elif(shift_out):
            m.d.sync += word32.eq(word32 >> 8)
        reg_w = cnt[2:]                                     # the register whose word goes next
        slot = Array(Const(COUNTED.index(r) if r in COUNTED else 0, range(len(COUNTED))) for r in Reg)
        src = Signal(2)   # 0: word32, 1: memory words, 2: requantized words, 3: INFO
        info_rom = Const(int.from_bytes(self.info, "little"), 8 * len(self.info))
        # READ state: the words are sent from the memory's read port (which holds its data
        # until the next read) and from the output stage's result (held until taken)
        rd_addr = Signal(ab)
        bidx = Signal(range(max(maxb, geo.word_bytes(Mem.ACC, requant=True)) + 1))  # next byte of the word
        have = Signal()                                    # a word is on the read port / output stage
        r_count, r_mode, r_scale = args[0:16], args[16:24], args[24:40]
        read_ok, read_len = Signal(name="read_ok"), Signal(16, name="read_len")   # READ's check and answer length
        raw = _by_mem(mem, {mm: r_count * n for mm, n in self.words.items()})   # constants per memory: no multiplier
        m.d.sync += [read_ok.eq((r_count != 0) & (addr[ab:] == 0) & (addr[:ab] + r_count <= lim) & (r_mode <= 1)
                                & ((r_mode == 0) | (mem == Mem.ACC)) & (r_scale < depth[Mem.SCALE])),
                     read_len.eq(Mux(r_mode != 0, r_count * geo.word_bytes(Mem.ACC, requant=True), raw))]
        last_run_tag, last_run_valid = Signal(8), Signal()
        m.d.sync += self.run_start.eq(0)
        with m.If(self.run_start):
            m.d.sync += [run_cycles.eq(0), counting.eq(1)]
        with m.Elif(counting):
            m.d.sync += run_cycles.eq(run_cycles + 1)
            with m.If(self.run_done):
                m.d.sync += counting.eq(0)
        busy = self.run_busy | counting | self.run_start
        run = data.View(RunArgs, args[:RunArgs.size])
        chk = Signal(2)                                  # RUN bounds check: which product
        ok_run, mul_busy = Signal(), Signal()
        # the products only need to be compared with a memory's depth: P bits and a sticky
        # "at least 2**P" flag (``ovf``) instead of 32-bit arithmetic
        P = ab + 1
        mul_x, prod = Signal(P), Signal(P)
        mul_y = Signal(16)
        x_big, ovf = Signal(), Signal()
        m.d.comb += self.run_args.eq(run)
        m.d.comb += [self.rq_in.payload.acc.as_value().eq(ports[Mem.ACC].rd_data),
                     self.rq_in.payload.scale.as_value().eq(ports[Mem.SCALE].rd_data)]

        def respond(st, n=0):
            """Answer ``st`` with ``n`` payload bytes (the sync statements; clears the counter)."""
            m.d.comb += cnt_clr.eq(1)
            return [status.eq(st), rsp_len.eq(n)]

        @contextmanager
        def send_crc():
            """The body of a state that sends the CRC (low byte first); the statements run
            once, as its second byte is taken."""
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc.word_select(cnt[0], 8))]
            with m.If(tx.ready):
                m.d.comb += cnt_inc.eq(1)
                with m.If(cnt == 1):
                    m.d.comb += cnt_clr.eq(1)
                    yield

        @contextmanager
        def field(last, nxt, on_timeout=()):
            """The body of a state that takes one field of a frame: its statements run for
            every byte taken; after byte ``last`` (counted in ``cnt``) the FSM goes to ``nxt``;
            if the frame stops arriving, the answer is TRUNCATED."""
            m.d.comb += rx.ready.eq(1)
            with m.If(took):
                m.d.comb += cnt_inc.eq(1)
                yield
                with m.If(cnt == last):
                    m.d.comb += cnt_clr.eq(1)
                    m.next = nxt
            with m.Elif(timed_out):
                m.d.sync += respond(Status.TRUNCATED) + list(on_timeout)
                m.next = "ERR"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += rx.ready.eq(1)
                with m.If(took):
                    with m.If(rx.payload == SOF_REQ):
                        m.d.comb += [crc_init.eq(1), cnt_clr.eq(1)]
                        m.next = "HDR"
                    with m.Else():
                        m.d.comb += self.garbage.eq(1)
            with m.State("HDR"):
                with field(REQ_HEADER.size - 1, "HCRC", on_timeout=[tag.eq(0)]):
                    m.d.sync += hdr.eq(Cat(hdr[8:], rx.payload))
                    m.d.comb += [crc_en.eq(1), crc_in.eq(rx.payload)]
            with m.State("HCRC"):
                with field(1, "CHECK_HDR", on_timeout=[tag.eq(0)]):
                    m.d.sync += crc_match.eq(byte_matches)
            with m.State("CHECK_HDR"):
                with m.If(~crc_match):
                    m.d.sync += respond(Status.BAD_HEADER) + [tag.eq(0)]
                    m.next = "ERR"
                with m.Else():
                    m.d.comb += crc_init.eq(1)
                    m.d.sync += [status.eq(Status.OK), waddr.eq(addr), wbyte.eq(0),
                                 werr.eq(mem_bad | ~addr_ok)]
                    with m.Switch(cmd):
                        with m.Case(Cmd.WRITE):
                            m.next = "WPAY"
                            with m.If((mem == Mem.ACC) & busy):  # the sequencer owns ACC's write port
                                m.d.sync += status.eq(Status.BUSY)
                                m.next = "SKIP"
                            with m.If(len_zero):
                                m.d.sync += respond(Mux(mem_bad, Status.BAD_ARGS,
                                                        Mux((mem == Mem.ACC) & busy, Status.BUSY, Status.OK)))
                                m.next = "RESP_DONE_CHECK"
                        with m.Case(Cmd.READ, Cmd.RUN, Cmd.SET):
                            with m.If(~len_ok):
                                m.d.sync += status.eq(Status.BAD_ARGS)
                                m.next = "SKIP"
                                with m.If(len_zero):
                                    m.next = "ERR"
                            with m.Else():
                                m.d.sync += args.eq(0)
                                m.next = "ARGS"
                        with m.Case(Cmd.INFO, Cmd.REGS, Cmd.RESET, Cmd.WAIT):
                            with m.If(~len_zero):
                                m.d.sync += status.eq(Status.BAD_ARGS)
                                m.next = "SKIP"
                            with m.Else():
                                m.next = "EXEC"
                        with m.Default():
                            m.d.sync += status.eq(Status.UNKNOWN_CMD)
                            m.next = "SKIP"
                            with m.If(len_zero):
                                m.next = "ERR"
            with m.State("WPAY"), field(len_last, "PCRC"):
                m.d.comb += [crc_en.eq(1), crc_in.eq(rx.payload)]
                m.d.sync += [wreg.eq(Cat(wreg[8:], rx.payload)), wbyte.eq(wbyte + 1)]
                with m.If(wbyte == nb - 1):  # a whole word: write it (if inside the memory)
                    m.d.sync += [wbyte.eq(0), w_addr.eq(waddr)]
                    with m.If(~werr & (waddr < lim)):   # waddr stops at the memory's end
                        m.d.sync += [w_en.eq(1), waddr.eq(waddr + 1)]
                    with m.Else():
                        m.d.sync += werr.eq(1)
            with m.State("ARGS"), field(len_last, "PCRC"):
                m.d.comb += [crc_en.eq(1), crc_in.eq(rx.payload)]
                m.d.sync += args.word_select(cnt[:5], 8).eq(rx.payload)
            with m.State("SKIP"), field(len_skip, "ERR"):  # bad arguments or command: drop payload + CRC
                pass
            with m.State("PCRC"), field(1, "CHECK_PAY"):
                m.d.sync += crc_match.eq(byte_matches)
            with m.State("CHECK_PAY"):
                with m.If(cmd == Cmd.WRITE):
                    m.d.sync += respond(Mux(werr | (wbyte != 0), Status.BAD_ARGS,
                                            Mux(~crc_match, Status.BAD_CRC, Status.OK)))
                    m.next = "RESP_DONE_CHECK"
                with m.Elif(~crc_match):
                    m.d.sync += respond(Status.BAD_CRC)
                    m.next = "ERR"
                with m.Else():
                    m.next = "EXEC"
            with m.State("RESP_DONE_CHECK"):  # count errors of completed WRITEs, then answer
                m.d.comb += self.bad_frame.eq(status != Status.OK)
                m.d.sync += src.eq(0)
                m.next = "TX_SOF"
            with m.State("ERR"):
                m.d.comb += self.bad_frame.eq(1)
                m.d.sync += [src.eq(0), rsp_len.eq(0)]
                m.next = "TX_SOF"
            with m.State("EXEC"):
                m.d.sync += [src.eq(0), status.eq(Status.OK)]
                with m.Switch(cmd):
                    with m.Case(Cmd.INFO):
                        m.d.sync += [src.eq(3), rsp_len.eq(len(self.info))]
                        m.next = "TX_SOF"
                    with m.Case(Cmd.REGS):
                        m.d.comb += self.snap.eq(1)
                        m.d.sync += [rsp_len.eq(4 * len(Reg)), have.eq(0), bidx.eq(0)]
                        m.next = "SNAP"
                    with m.Case(Cmd.RESET):
                        m.d.comb += self.clear.eq(1)
                        m.d.sync += [last_run_valid.eq(0), rsp_len.eq(0)]
                        m.next = "TX_SOF"
                    with m.Case(Cmd.SET):
                        with m.If(addr == Reg.SHIFT):
                            m.d.sync += [self.shift.eq(args[:6]), rsp_len.eq(0)]
                            m.next = "TX_SOF"
                        with m.Elif(addr == Reg.RELU):
                            m.d.sync += [self.relu.eq(args[0]), rsp_len.eq(0)]
                            m.next = "TX_SOF"
                        with m.Else():
                            m.d.sync += status.eq(Status.BAD_ARGS)
                            m.next = "ERR"
                    with m.Case(Cmd.WAIT):
                        with m.If(busy):
                            m.next = "RUNNING"
                        with m.Else():
                            m.d.comb += load_cycles.eq(1)
                            m.d.sync += [rsp_len.eq(4), have.eq(1), bidx.eq(0)]
                            m.next = "TX_SOF"
                    with m.Case(Cmd.READ):
                        with m.If(~read_ok):
                            m.d.sync += status.eq(Status.BAD_ARGS)
                            m.next = "ERR"
                        with m.Elif(busy):  # the sequencer owns the read ports
                            m.d.sync += status.eq(Status.BUSY)
                            m.next = "ERR"
                        with m.Else():
                            m.d.sync += [rsp_len.eq(read_len),
                                         rd_addr.eq(addr), have.eq(0), bidx.eq(0), src.eq(Mux(r_mode != 0, 2, 1))]
                            m.next = "SCALE_RD"
                    with m.Case(Cmd.RUN):
                        m.d.sync += [chk.eq(0), ok_run.eq((run.m_tiles != 0) & (run.n_tiles != 0)
                                                           & (run.k_beats != 0))]
                        m.next = "RUN_CHECK"
            with m.State("RUN_CHECK"):
                # The three bounds need products of 16-bit fields; one shift-add unit makes
                # them in turn (<= 17 cycles each) instead of three hardware multipliers.
                g = geo
                ws = g.contract == "ws"  # m_tiles = M rows, k_beats = K tiles
                x_sel = Mux(chk == 0, run.m_tiles, Mux(chk == 1, run.n_tiles, run.m_tiles))
                y_sel = Mux(chk == 0, run.k_beats, Mux(chk == 1, run.k_beats, run.n_tiles))
                base = Mux(chk == 0, run.a_base, Mux(chk == 1, run.w_base, run.out_base))
                scale_r = [1, g.R if ws else 1, 1 if ws else g.R]
                limit = [g.depth(Mem.A), g.depth(Mem.W), g.depth(Mem.ACC)]
                scaled = Mux(chk == 0, prod * scale_r[0], Mux(chk == 1, prod * scale_r[1], prod * scale_r[2]))
                need = base[:P] + scaled                  # one adder for the three bounds
                bound = Mux(chk == 0, limit[0], Mux(chk == 1, limit[1], limit[2]))
                with m.If(~mul_busy):
                    m.d.sync += [prod.eq(0), mul_x.eq(x_sel[:P]), x_big.eq(x_sel[P:] != 0), ovf.eq(0),
                                 mul_y.eq(y_sel), mul_busy.eq(1)]
                with m.Elif(mul_y != 0):
                    m.d.sync += [mul_y.eq(mul_y >> 1), mul_x.eq(mul_x << 1), x_big.eq(x_big | mul_x[-1])]
                    with m.If(mul_y[0]):
                        total = prod + mul_x
                        m.d.sync += [prod.eq(total), ovf.eq(ovf | x_big | total[P])]
                with m.Else():
                    m.d.sync += [mul_busy.eq(0), chk.eq(chk + 1),
                                 ok_run.eq(ok_run & ~ovf & (base[P:] == 0) & (need <= bound))]
                    with m.If(chk == 2):
                        m.next = "RUN_DECIDE"
            with m.State("RUN_DECIDE"):
                with m.If(~ok_run):
                    m.d.sync += status.eq(Status.BAD_ARGS)
                    m.next = "ERR"
                with m.Elif(last_run_valid & (last_run_tag == tag)):  # a retry: do not run again
                    m.d.comb += load_cycles.eq(1)
                    m.d.sync += [rsp_len.eq(Mux(run.flags[1], 0, 4)), have.eq(1), bidx.eq(0)]
                    m.next = "TX_SOF"
                with m.Elif(busy):
                    m.d.sync += status.eq(Status.BUSY)
                    m.next = "ERR"
                with m.Else():
                    m.d.sync += self.run_start.eq(1)   # a flip-flop: it loads the sequencer
                    m.d.sync += [last_run_tag.eq(tag), last_run_valid.eq(1)]
                    with m.If(run.flags[1]):  # asynchronous: answer now, WAIT answers later
                        m.d.sync += rsp_len.eq(0)
                        m.next = "TX_SOF"
                    with m.Else():
                        m.next = "RUNNING"
            with m.State("RUNNING"):  # a synchronous RUN, or WAIT, until the GEMM is done
                # a level, not the done pulse: a RUN may end on the very cycle WAIT is decoded
                with m.If(~counting & ~self.run_start):
                    m.d.comb += load_cycles.eq(1)
                    m.d.sync += [rsp_len.eq(4), have.eq(1), bidx.eq(0)]
                    m.next = "TX_SOF"
            with m.State("SNAP"):      # the counters' snapshot is being written
                with m.If(~self.snap_busy):
                    m.next = "TX_SOF"
            with m.State("REG_FETCH"):  # the next REGS word: a counter from the snapshot, or SHIFT/RELU
                with m.If(reg_w == Reg.SHIFT):
                    m.d.comb += [reg_value.eq(self.shift), load_reg.eq(1)]
                    m.d.sync += have.eq(1)
                    m.next = "TX_PAY"
                with m.Elif(reg_w == Reg.RELU):
                    m.d.comb += [reg_value.eq(self.relu), load_reg.eq(1)]
                    m.d.sync += have.eq(1)
                    m.next = "TX_PAY"
                with m.Else():
                    m.d.comb += [self.reg_rd_index.eq(slot[reg_w]), self.reg_rd_en.eq(1)]
                    m.next = "REG_LOAD"
            with m.State("REG_LOAD"):
                m.d.comb += [reg_value.eq(self.reg_rd_data), load_reg.eq(1)]
                m.d.sync += have.eq(1)
                m.next = "TX_PAY"
            with m.State("SCALE_RD"):  # requantized reads need the column scales first
                p = ports[Mem.SCALE]
                m.d.comb += [p.rd_addr.eq(r_scale), p.rd_en.eq(1)]
                m.next = "SCALE_WAIT"
            with m.State("SCALE_WAIT"):  # the scale port now holds the columns' scales
                m.next = "TX_SOF"

            # -- response: SOF, 4 header bytes, header CRC, payload, payload CRC
            rsp_hdr = Cat(status, tag, rsp_len)
            with m.State("TX_SOF"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(SOF_RSP)]
                with m.If(tx.ready):
                    m.d.comb += [cnt_clr.eq(1), crc_init.eq(1)]
                    m.next = "TX_HDR"
            with m.State("TX_HDR"):
                byte = rsp_hdr.word_select(cnt[:2], 8)
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(byte)]
                with m.If(tx.ready):
                    m.d.comb += [crc_en.eq(1), crc_in.eq(byte)]
                    m.d.comb += cnt_inc.eq(1)
                    with m.If(cnt == 3):
                        m.d.comb += cnt_clr.eq(1)
                        m.next = "TX_HCRC"
            with m.State("TX_HCRC"), send_crc():
                m.d.comb += crc_init.eq(1)
                m.next = "HUNT"
                with m.If(rsp_len != 0):
                    m.next = "TX_PAY"
            with m.State("TX_PAY"):
                # one byte from the selected source; memory words are fetched when the
                # previous word is used up
                byte = Signal(8)
                avail, word_end = Signal(), Signal()
                rq_bytes = geo.word_bytes(Mem.ACC, requant=True)
                with m.Switch(src):
                    with m.Case(0):
                        m.d.comb += [byte.eq(word32[:8]), avail.eq(have), word_end.eq(bidx == 3)]
                    with m.Case(3):
                        m.d.comb += [byte.eq(info_rom.word_select(cnt[:(len(self.info) - 1).bit_length()], 8)),
                                     avail.eq(1)]
                    with m.Case(1):
                        for mm, p in ports.items():
                            with m.If(mem == mm):
                                m.d.comb += byte.eq(_bytes(p.rd_data).word_select(bidx, 8))
                        m.d.comb += [avail.eq(have), word_end.eq(bidx == nb - 1)]
                    with m.Case(2):
                        m.d.comb += [byte.eq(_bytes(self.rq_out.payload.as_value()).word_select(bidx, 8)), avail.eq(have),
                                     word_end.eq(bidx == rq_bytes - 1)]
                m.d.comb += [tx.valid.eq(avail), tx.payload.eq(byte)]
                with m.If(tx.valid & tx.ready):
                    m.d.comb += [crc_en.eq(1), crc_in.eq(byte)]
                    m.d.comb += shift_out.eq(src == 0)
                    m.d.comb += cnt_inc.eq(1)
                    m.d.sync += bidx.eq(bidx + 1)
                    with m.If(word_end):
                        m.d.sync += [bidx.eq(0), have.eq(0)]
                        m.d.comb += self.rq_out.ready.eq(src == 2)   # the output stage's word is sent
                    with m.If(cnt == rsp_last):
                        m.d.comb += cnt_clr.eq(1)
                        m.next = "TX_PCRC"
                with m.If(((src == 1) | (src == 2)) & ~have):  # the next word
                    m.next = "FETCH"
                with m.If((src == 0) & ~have):
                    m.next = "REG_FETCH"
            with m.State("FETCH"):
                for mm, p in ports.items():
                    with m.If(mem == mm):
                        m.d.comb += [p.rd_addr.eq(rd_addr), p.rd_en.eq(1)]
                m.d.sync += rd_addr.eq(rd_addr + 1)
                m.next = "FETCH_WAIT"
            with m.State("FETCH_WAIT"):
                with m.If(src == 1):
                    m.d.sync += have.eq(1)
                    m.next = "TX_PAY"
                with m.Else():
                    m.next = "RQ_SEND"
            with m.State("RQ_SEND"):  # the accumulator word and the scales, straight from the read ports
                m.d.comb += self.rq_in.valid.eq(1)
                with m.If(self.rq_in.ready):
                    m.next = "RQ_WAIT"
            with m.State("RQ_WAIT"):
                with m.If(self.rq_out.valid):
                    m.d.sync += have.eq(1)
                    m.next = "TX_PAY"
            with m.State("TX_PCRC"), send_crc():
                m.next = "HUNT"
        return m
