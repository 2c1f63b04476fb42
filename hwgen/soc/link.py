"""The host link's frame engine: parses request frames from a byte stream, executes them
against the memories, the sequencer and the registers, and sends response frames.

The framing is defined in :mod:`hwgen.soc.protocol`. At most one byte per cycle in, one
per two cycles out (through an output register), half duplex: while a response goes out,
no request byte is taken. The PHY (UART for boards, a plain byte stream for simulation)
is outside this block.
"""
from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import times_const
from .crc import crc16_update
from .fsm import OneHotFSM
from .layout import Geometry
from .protocol import GEMV_FORMAT, STORE_FORMAT, READ_FORMAT, REQ_HEADER, RUN_FORMAT, SOF_REQ, SOF_RSP, Cmd, Mem, Reg, Status
from .link_gemv import GemvControl, StoreControl
from .store import StoreArgs
from .link_parts import _ARG_BYTES, COUNTED, MemPort, _any, _by_mem, _bytes, commands, counted
from .link_run import RunControl
from .runcheck import RunArgs, run_args

__all__ = ["HostLink", "MemPort", "RunArgs", "COUNTED", "counted", "commands"]

class HostLink(wiring.Component):
    """Frame engine. REGS answers from a snapshot of the counters (``snap``/``reg_rd_*``)
    and the link's own SHIFT and RELU."""

    def __init__(self, geo: Geometry, *, timeout: int, info: bytes):
        self.geo, self.timeout, self.info = geo, timeout, info
        soc, pe = geo.cfg.soc, geo.cfg.array.pe
        self.words = {m: geo.word_bytes(m) for m in geo.mems}
        ports = {f"mem_{m.name.lower()}": Out(MemPort(max(1, (geo.depth(m) - 1).bit_length()),
                                                     geo.word_bits(m))) for m in geo.mems}
        out_shape = unsigned(soc.out.bits)
        if geo.pim is not None:
            from ..memory.pim import GemvArgs   # (memory.pim uses this module's MemPort)
        super().__init__({
            "rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
            **ports,
            "rq_in": Out(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(unsigned(pe.acc), geo.C), "scale": data.ArrayLayout(16, geo.C)}))),
            "rq_out": In(stream.Signature(data.ArrayLayout(out_shape, geo.C))),
            "run_start": Out(1), "run_args": Out(run_args(geo)), "run_done": In(1), "run_busy": In(1),
            **({"gemv_start": Out(1), "gemv_args": Out(GemvArgs), "gemv_done": In(1), "gemv_busy": In(1)}
               if geo.pim is not None else {}),
            **({"store_start": Out(1), "store_args": Out(StoreArgs), "store_busy": In(1), "store_bad": In(1)}
               if geo.pim_store else {}),
            # the counters' snapshot: taken for REGS, read a word at a time
            # (the accelerator registers snap, clear and reg_rd_* on their way to the counter file)
            "snap": Out(1), "snap_busy": In(1),
            "reg_rd_index": Out(range(len(counted(geo)))), "reg_rd_en": Out(1), "reg_rd_data": In(32),
            "shift": Out(6), "relu": Out(1), "clear": Out(1),
            "bad_frame": Out(1), "garbage": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.geo
        rx, tx = self.rx, self.tx

        hdr = Signal(8 * REQ_HEADER.size)                 # request header, little-endian
        cmd, tag, mem, addr, length = hdr[0:8], hdr[8:16], hdr[16:24], hdr[32:64], hdr[64:80]
        # two CRC networks: request bytes as they are taken (``crc_en``), response bytes as they
        # leave (one network for both would put a byte select in front of its XORs)
        crc, tx_crc = Signal(16, name="rx_crc"), Signal(16, name="tx_crc")
        crc_en, crc_init, tx_crc_init = Signal(name="crc_en"), Signal(name="crc_init"), Signal(name="tx_crc_init")
        # Bytes to send go through one register (``txb``): a state emits a byte when it is
        # empty; it enters the response CRC as it leaves (``txc``: the byte is CRC-covered).
        txb, txv, txc = Signal(8, name="txb"), Signal(name="txv"), Signal(name="txc")
        emit, emit_byte, emit_crc = Signal(name="emit"), Signal(8, name="emit_byte"), Signal(name="emit_crc")
        can_emit = ~txv

        def send(byte, covered=False):
            """Emit ``byte`` (only when ``can_emit``); ``covered``: it enters the response CRC."""
            m.d.comb += [emit.eq(1), emit_byte.eq(byte), emit_crc.eq(covered)]
        with m.If(emit):
            m.d.sync += [txb.eq(emit_byte), txv.eq(1), txc.eq(emit_crc)]
        with m.Elif(tx.ready):
            m.d.sync += txv.eq(0)
        m.d.comb += [tx.valid.eq(txv), tx.payload.eq(txb)]
        with m.If(crc_init):
            m.d.sync += crc.eq(0xFFFF)
        with m.Elif(crc_en):
            m.d.sync += crc.eq(crc16_update(crc, rx.payload))
        with m.If(tx_crc_init):
            m.d.sync += tx_crc.eq(0xFFFF)
        with m.Elif(txv & tx.ready & txc):
            m.d.sync += tx_crc.eq(crc16_update(tx_crc, txb))
        crc_match = Signal()                              # the CRC bytes received so far match
        cnt = Signal(16)                                  # bytes of the current field
        cnt_clr, cnt_inc = Signal(name="cnt_clr"), Signal(name="cnt_inc")   # one counter, driven from every state
        byte_matches = (rx.payload == crc.word_select(cnt[0], 8)) & (crc_match | (cnt[0] == 0))
        with m.If(cnt_clr):
            m.d.sync += cnt.eq(0)
        with m.Elif(cnt_inc):
            m.d.sync += cnt.eq(cnt + 1)
        # A field of run-time length counts down in ``left``, loaded with (last byte - 1):
        # its sign flip-flop marks the field's last byte (no compare of 16-bit counts).
        left = Signal(17)
        at_last = left[-1]
        pim = geo.pim is not None
        cmds = commands(geo)
        store = geo.pim_store
        args = Signal(8 * max(_ARG_BYTES, geo.run_size, GEMV_FORMAT.size if pim else 0,
                              STORE_FORMAT.size if store else 0))
        status, rsp_len = Signal(8), Signal(16)
        idle = Signal(range(self.timeout + 1))

        took = rx.valid & rx.ready
        with m.If(took):
            m.d.sync += idle.eq(0)
        with m.Elif(idle < self.timeout):
            m.d.sync += idle.eq(idle + 1)
        timed_out = Signal()                 # no byte for ``timeout`` cycles (a cycle late)
        m.d.sync += timed_out.eq((idle == self.timeout) & ~took)

        # Addresses are as wide as the largest memory needs (plus one bit to reach its end):
        # a frame's 32-bit address is checked against the memory once, in CHECK_HDR/EXEC.
        ports = {mm: getattr(self, f"mem_{mm.name.lower()}") for mm in geo.mems}
        depth = {mm: geo.depth(mm) for mm in geo.mems}
        ab = max(d.bit_length() for d in depth.values())   # holds 0..depth
        # The checks of a frame's fields are flip-flops, computed every cycle from the header
        # and arguments, which are complete (and still) for at least two cycles (their CRC
        # bytes) before a decision reads them: no decision waits for a wide compare.
        lim = Signal(ab)                                    # depth of the frame's memory
        m.d.sync += lim.eq(_by_mem(mem, depth))
        addr_ok, len_zero, len_ok, mem_bad = (Signal(name=n) for n in ("addr_ok", "len_zero", "len_ok", "mem_bad"))
        want = Mux(cmd == Cmd.READ, READ_FORMAT.size, Mux(cmd == Cmd.RUN, geo.run_size,
                                                          Mux(cmd == Cmd.SET, 4, 0)))
        if pim:
            want = Mux(cmd == Cmd.GEMV, GEMV_FORMAT.size, want)
        if store:
            want = Mux(cmd == Cmd.STORE, STORE_FORMAT.size, want)
        # ``left`` for a payload (its last byte is length - 1) and for a response payload
        # and whether there is one (a flip-flop: yosys had folded the compare into the subtraction's carry chain)
        rsp_left, rsp_some = Signal(17), Signal()
        m.d.sync += [rsp_left.eq(rsp_len - 2), rsp_some.eq(rsp_len != 0)]
        # the header's command, memory and register as flags
        is_cmd = {c: Signal(name=f"is_{c.name.lower()}") for c in cmds}
        is_mem = {mm: Signal(name=f"is_{mm.name.lower()}") for mm in geo.mems}
        is_shift, is_relu, is_unknown = Signal(), Signal(), Signal()
        m.d.sync += [*(is_cmd[c].eq(cmd == c) for c in cmds), *(is_mem[mm].eq(mem == mm) for mm in geo.mems),
                     is_shift.eq(addr == Reg.SHIFT), is_relu.eq(addr == Reg.RELU),
                     is_unknown.eq(~Cat(cmd == c for c in cmds).any())]
        # an empty range at addr is inside the memory (addr <= depth): against constants, not
        # ``lim`` (a cycle later), since CHECK_HDR's outcome is registered from it
        addr_in = Signal(name="addr_in")
        m.d.sync += [addr_ok.eq((addr[ab:] == 0) & (addr[:ab] < lim)),   # the first word is inside the memory
                     addr_in.eq((addr[ab:] == 0) & _by_mem(mem, {mm: addr[:ab] <= d for mm, d in depth.items()})),
                     len_zero.eq(length == 0), len_ok.eq(length == want), mem_bad.eq(mem > max(geo.mems))]
        # a WRITE's memory must exist and be writable (the PIM results are read only)
        wmem_bad = Signal(name="wmem_bad") if pim else mem_bad
        if pim:
            m.d.sync += wmem_bad.eq((mem > max(geo.mems)) | (mem == Mem.PIM_OUT))

        # WRITE: every byte goes to its lane of the word at ``waddr`` (no word is assembled).
        maxb = max(self.words.values())
        wbyte = Signal(range(maxb + 1))
        waddr = Signal(ab)
        werr = Signal()
        nb_last = Signal(range(maxb))   # the last byte of the memory's word
        m.d.sync += nb_last.eq(_by_mem(mem, {mm: n - 1 for mm, n in self.words.items()}))
        # registered write: a byte is written the cycle after it is taken
        w_lanes, w_byte, w_addr = Signal(maxb), Signal(8), Signal(ab)
        m.d.sync += w_lanes.eq(0)
        for mm, p in ports.items():
            n = self.words[mm]
            if mm == Mem.PIM_OUT:
                continue
            m.d.comb += [p.wr_addr.eq(w_addr), p.wr_data.eq(w_byte.replicate(n)),
                         p.wr_en.eq(w_lanes[:n] & is_mem[mm].replicate(n))]

        # Response payload sources
        run = RunControl(m, self, args, tag)   # RUN: its check, cycle count and retries
        rq_taken = Signal()
        m.d.sync += rq_taken.eq(0)
        m.d.comb += self.rq_out.ready.eq(rq_taken)
        # REGS: the counters' snapshot is taken when the command executes and read a word at
        # a time into ``word32`` (SHIFT and RELU are the link's own); a RUN's cycle count is
        # loaded there at once. Bytes leave from its bottom. INFO is a constant, read byte by byte.
        word32 = Signal(32)
        load_cycles, load_reg, shift_out = Signal(name="load_cycles"), Signal(name="load_reg"), Signal(name="shift_out")
        reg_value = Signal(32)
        with m.If(load_cycles | load_reg):
            m.d.sync += word32.eq(Mux(load_cycles, run.cycles, reg_value))
        with m.Elif(shift_out):
            m.d.sync += word32.eq(word32 >> 8)
        cnted = counted(geo)
        reg_w = cnt[2:2 + (len(geo.regs) - 1).bit_length()]      # the register whose word goes next
        slot = Array(Const(cnted.index(r) if r in cnted else 0, range(len(cnted))) for r in geo.regs)
        # what REG_FETCH needs of it, registered (cnt moved at least a cycle before REG_FETCH)
        reg_slot, reg_shift, reg_relu = (Signal(range(len(cnted)), name="reg_slot"), Signal(name="reg_shift"),
                                      Signal(name="reg_relu"))
        m.d.sync += [reg_slot.eq(slot[reg_w]), reg_shift.eq(reg_w == Reg.SHIFT), reg_relu.eq(reg_w == Reg.RELU)]
        src = Signal(2)   # 0: word32, 1: memory words, 2: requantized words, 3: INFO
        info_rom = Const(int.from_bytes(self.info, "little"), 8 * len(self.info))
        # READ state: the words are sent from the memory's read port (which holds its data
        # until the next read) and from the output stage's result (held until taken)
        rd_addr = Signal(ab)
        rq_bytes = geo.word_bytes(Mem.ACC, requant=True)
        # the next byte of the word, one-hot (selects by AND-OR, no binary byte mux)
        bsel = Signal(max(maxb, rq_bytes, 4), init=1)
        have = Signal()                                    # a word is on the read port / output stage
        r_count, r_mode, r_scale = args[0:16], args[16:24], args[24:40]
        read_ok, read_len = Signal(name="read_ok"), Signal(16, name="read_len")   # READ's check and answer length
        raw = _by_mem(mem, {mm: times_const(r_count, n) for mm, n in self.words.items()})   # constants per memory
        # two stages (the arguments are still for their CRC bytes and CHECK_PAY before EXEC reads it)
        r_end, r_pre = Signal(17, name="r_end"), Signal(name="r_pre")
        m.d.sync += [r_end.eq(addr[:ab] + r_count),
                     r_pre.eq((r_count != 0) & ~mem_bad & (addr[ab:] == 0) & (r_mode <= 1)
                              & (r_scale < depth[Mem.SCALE]) & ((r_mode == 0) | is_mem[Mem.ACC])),
                     read_ok.eq(r_pre & (r_end <= lim)),
                     read_len.eq(Mux(r_mode != 0, times_const(r_count, geo.word_bytes(Mem.ACC, requant=True)), raw))]
        busy = run.busy
        # the same for a GEMV (PIM banks). ``rd_busy``: a READ of the frame's memory must wait
        # (the engine owns the scratchpads' read ports, the GEMV unit the banks'); ``any_busy``:
        # a RUN or a GEMV executes (WAIT)
        rd_busy = any_busy = busy
        if pim:
            gemv = GemvControl(m, self, args, is_mem, busy)
            rd_busy, any_busy, run_pim = gemv.rd_busy, gemv.any_busy, gemv.run_pim
        if store:
            kv_store = StoreControl(m, self, args, busy)

        m.d.comb += [self.rq_in.payload.acc.as_value().eq(ports[Mem.ACC].rd_data),
                     self.rq_in.payload.scale.as_value().eq(
                         ports[Mem.SCALE].rd_data if not geo.grouped   # else the low half of each 32-bit lane
                         else Cat(ports[Mem.SCALE].rd_data.word_select(j, 32)[:16] for j in range(geo.C)))]

        # CHECK_HDR's outcome, registered: the next state (``h_go``, one flag per target,
        # each straight from the command's flags), the status and ``left`` for the payload.
        # Its inputs are flags registered a cycle after the header's last byte; CHECK_HDR
        # comes two CRC bytes later. (A GEMM cannot start meanwhile; one ending is seen two
        # cycles late: a WRITE to ACC then is answered BUSY.)
        is_wr, is_unk = is_cmd[Cmd.WRITE], is_unknown
        is_args = Signal(name="is_args_cmd")    # READ, RUN, SET (GEMV): a fixed-length payload
        is_bare = Signal(name="is_bare_cmd")    # INFO, REGS, RESET, WAIT: no payload
        m.d.sync += [is_args.eq(_any(cmd == c for c in (Cmd.READ, Cmd.RUN, Cmd.SET) + ((Cmd.GEMV,) if pim else ())
                                     + ((Cmd.STORE,) if store else ()))),
                     is_bare.eq(_any(cmd == c for c in (Cmd.INFO, Cmd.REGS, Cmd.RESET, Cmd.WAIT)))]
        acc_busy = is_mem[Mem.ACC] & busy   # the sequencer owns ACC's write port
        if pim:   # ... and port A of the banks while a RUN streams its weights from them
            acc_busy = acc_busy | (is_mem[Mem.PIM] & busy & run_pim)
        dropped = ~len_zero & ((is_wr & acc_busy) | (is_args & ~len_ok) | is_bare | is_unk)
        outcome = {
            "WPAY": is_wr & ~len_zero & ~acc_busy,
            "RESP_DONE_CHECK": is_wr & len_zero,        # an empty WRITE: answered at once
            "ARGS": is_args & len_ok,
            "EXEC": is_bare & len_zero,
            "ERR": len_zero & (is_args | is_unk),       # len_ok is never 0 bytes
            "SKIP": dropped,                            # drop the payload and its CRC, then ERR
        }
        h_go = {t: Signal(name=f"h_{t.lower()}") for t in outcome}
        h_left, h_status_q = Signal(17), Signal(8)
        h_status = _any([is_wr.replicate(8) & Mux(len_zero & (wmem_bad | ~addr_in), Status.BAD_ARGS,
                                                  Mux(acc_busy, Status.BUSY, Status.OK)),
                         is_args.replicate(8) & Mux(len_ok, Status.OK, Status.BAD_ARGS),
                         is_bare.replicate(8) & Mux(len_zero, Status.OK, Status.BAD_ARGS),
                         is_unk.replicate(8) & Const(Status.UNKNOWN_CMD, 8)])
        # ``left`` for a payload (its last byte is length - 1) or a skipped payload and its CRC
        m.d.sync += [h_left.eq(Mux(dropped, length, length - 2)), h_status_q.eq(h_status),
                     *(h_go[t].eq(cond) for t, cond in outcome.items())]

        # TX_PAY's byte: an AND-OR over every source byte, selected by registered one-hot flags
        # (the source, and the memory, are set cycles before TX_PAY) and the one-hot ``bsel``
        use_w32, use_mem, use_rq, use_info = Signal(), Signal(), Signal(), Signal()
        use = {mm: Signal(name=f"use_{mm.name.lower()}") for mm in geo.mems}
        last_mask = Signal.like(bsel)                   # the memory word's last byte, one-hot
        m.d.sync += [use_w32.eq(src == 0), use_mem.eq(src == 1), use_rq.eq(src == 2), use_info.eq(src == 3),
                     *(use[mm].eq(is_mem[mm] & (src == 1)) for mm in geo.mems),
                     last_mask.eq(_by_mem(mem, {mm: 1 << (n - 1) for mm, n in self.words.items()}))]

        def pick(value):   # the byte of ``value`` that bsel selects
            v = _bytes(value)
            return _any(bsel[b].replicate(8) & v.word_select(b, 8) for b in range(len(v) // 8))
        # in three registered parts (the widest memory alone), OR-ed as the byte is sent: the
        # select is then at most three LUT levels on each side of a flip-flop
        widest = max(ports, key=lambda mm: self.words[mm])
        groups = [[use_w32.replicate(8) & word32[:8],
                   use_info.replicate(8) & info_rom.word_select(cnt[:(len(self.info) - 1).bit_length()], 8),
                   use_rq.replicate(8) & pick(self.rq_out.payload.as_value())],
                  [use[widest].replicate(8) & pick(ports[widest].rd_data)],
                  [use[mm].replicate(8) & pick(p.rd_data) for mm, p in ports.items() if mm != widest]]
        tx_parts = [Signal(8, name=f"tx_part{i}") for i in range(len(groups))]
        m.d.sync += [q.eq(_any(g)) for q, g in zip(tx_parts, groups)]
        tx_avail = use_info | have
        tx_word_end = (use_w32 & bsel[3]) | (use_rq & bsel[rq_bytes - 1]) | (use_mem & (bsel & last_mask).any())

        # the registers every state writes: AND-OR of the states' values, not a priority chain
        fsm = OneHotFSM(m, init="HUNT", name="link")
        # Bytes are taken in the states that read a frame: ``ready`` is a flip-flop set while
        # the machine is in one of them (it goes straight to the RX skid buffer's enables)
        m.d.comb += rx.ready.eq(fsm.group(("HUNT", "HDR", "HCRC", "WPAY", "ARGS", "SKIP", "PCRC"), "taking"))
        w_status, w_rsp_len, w_have, w_bsel, w_src, w_left = (
            fsm.written(r) for r in (status, rsp_len, have, bsel, src, left))

        # Each of these registers is written from few states, mostly unconditionally (a value
        # a state does not use is harmless): their enables are then a few state flip-flops.
        # ERR and RESP_DONE_CHECK answer without a payload; EXEC's answer depends only on the
        # command's flags (a RUN's is decided in RUN_DECIDE, a busy WAIT's in RUNNING).
        exec_len = _any([is_cmd[Cmd.INFO].replicate(16) & len(self.info),
                         is_cmd[Cmd.REGS].replicate(16) & 4 * len(geo.regs),
                         is_cmd[Cmd.WAIT].replicate(16) & geo.wait_size, is_cmd[Cmd.READ].replicate(16) & read_len])
        exec_src = _any([is_cmd[Cmd.INFO].replicate(2) & 3, is_cmd[Cmd.READ].replicate(2) & Mux(r_mode != 0, 2, 1)])
        exec_status = Mux((is_cmd[Cmd.SET] & ~is_shift & ~is_relu) | (is_cmd[Cmd.READ] & ~read_ok), Status.BAD_ARGS,
                          Mux(is_cmd[Cmd.READ] & rd_busy, Status.BUSY, Status.OK))

        @contextmanager
        def send_crc():
            """The body of a state that sends the CRC (low byte first); the statements run
            once, as its second byte is emitted."""
            with m.If(can_emit):
                send(tx_crc.word_select(cnt[0], 8))
                m.d.comb += cnt_inc.eq(1)
                with m.If(cnt[0]):
                    m.d.comb += cnt_clr.eq(1)
                    yield

        @contextmanager
        def field(last, nxt, on_timeout=(), covered=False):
            """The body of a state that takes one field of a frame: its statements run for
            every byte taken (the byte enters the CRC if ``covered``); after byte ``last`` (counted
            in ``cnt``) the FSM goes to ``nxt``; if the frame stops arriving, the answer is
            TRUNCATED. ``last`` is a constant or ``None`` for a field of run-time length
            (counted down in ``left``)."""
            with m.If(rx.valid):   # = took: ready in this state (not the OR of every state's ready)
                m.d.comb += cnt_inc.eq(1)
                if covered:
                    m.d.comb += crc_en.eq(1)
                yield
                if last is None:
                    w_left.set(left - 1)
                # a constant-length field's count never passes ``last``: its low bits suffice
                with m.If(at_last if last is None else cnt[:max(1, last.bit_length())] == last):
                    m.d.comb += cnt_clr.eq(1)
                    fsm.goto(nxt)
            with m.Elif(timed_out):
                w_status.set(Status.TRUNCATED)
                m.d.sync += list(on_timeout)
                fsm.goto("ERR")

        with fsm:
            with fsm.state("HUNT"):
                # the CRC and the field counter start over in every HUNT cycle (not on the SOF
                # byte's compare: their enables then do not wait for the byte)
                m.d.comb += [crc_init.eq(1), cnt_clr.eq(1)]
                with m.If(rx.valid):
                    with m.If(rx.payload == SOF_REQ):
                        fsm.goto("HDR")
                    with m.Else():
                        m.d.comb += self.garbage.eq(1)
            with fsm.state("HDR"):
                with field(REQ_HEADER.size - 1, "HCRC", on_timeout=[tag.eq(0)], covered=True):
                    m.d.sync += hdr.eq(Cat(hdr[8:], rx.payload))
            with fsm.state("HCRC"):
                with field(1, "CHECK_HDR", on_timeout=[tag.eq(0)]):
                    m.d.sync += crc_match.eq(byte_matches)
            with fsm.state("CHECK_HDR"):
                m.d.comb += crc_init.eq(1)   # for the payload (unused after a bad header)
                with m.If(~crc_match):
                    w_status.set(Status.BAD_HEADER)
                    m.d.sync += tag.eq(0)
                    fsm.goto("ERR")
                with m.Else():
                    m.d.sync += [waddr.eq(addr), wbyte.eq(0), werr.eq(wmem_bad | ~addr_ok)]
                    w_status.set(h_status_q)
                    w_left.set(h_left)
                    for target, flag in h_go.items():
                        with m.If(flag):
                            fsm.goto(target)
            with fsm.state("WPAY"), field(None, "PCRC", covered=True):
                w_ok = ~werr & (waddr < lim)   # waddr stops at the memory's end
                m.d.sync += [wbyte.eq(wbyte + 1), w_byte.eq(rx.payload), w_addr.eq(waddr)]
                with m.If(w_ok):
                    m.d.sync += w_lanes.eq(Cat(wbyte == i for i in range(maxb)))
                with m.If(wbyte == nb_last):  # the word's last byte
                    m.d.sync += wbyte.eq(0)
                    with m.If(w_ok):
                        m.d.sync += waddr.eq(waddr + 1)
                    with m.Else():
                        m.d.sync += werr.eq(1)
            with fsm.state("ARGS"), field(None, "PCRC", covered=True):
                m.d.sync += args.word_select(cnt[:5], 8).eq(rx.payload)
            with fsm.state("SKIP"), field(None, "ERR"):  # bad arguments or command: drop payload + CRC
                pass
            with fsm.state("PCRC"), field(1, "CHECK_PAY"):
                m.d.sync += crc_match.eq(byte_matches)
            with fsm.state("CHECK_PAY"):
                with m.If(is_cmd[Cmd.WRITE]):
                    w_status.set(Mux(werr | (wbyte != 0), Status.BAD_ARGS,
                                            Mux(~crc_match, Status.BAD_CRC, Status.OK)))
                    fsm.goto("RESP_DONE_CHECK")
                with m.Elif(~crc_match):
                    w_status.set(Status.BAD_CRC)
                    fsm.goto("ERR")
                with m.Else():
                    fsm.goto("EXEC")
            with fsm.state("RESP_DONE_CHECK"):  # count errors of completed WRITEs, then answer
                m.d.comb += self.bad_frame.eq(status != Status.OK)
                w_src.set(0)
                w_rsp_len.set(0)
                fsm.goto("TX_SOF")
            with fsm.state("ERR"):
                m.d.comb += self.bad_frame.eq(1)
                w_src.set(0)
                w_rsp_len.set(0)
                fsm.goto("TX_SOF")
            with fsm.state("EXEC"):
                w_src.set(exec_src)
                w_status.set(exec_status)
                w_rsp_len.set(exec_len)
                w_have.set(is_cmd[Cmd.WAIT])    # a WAIT's cycle count is loaded now
                w_bsel.set(1)
                with m.If(is_cmd[Cmd.INFO]):
                    fsm.goto("TX_SOF")
                with m.If(is_cmd[Cmd.REGS]):
                    m.d.comb += self.snap.eq(1)
                    fsm.goto("SNAP")
                with m.If(is_cmd[Cmd.RESET]):
                    m.d.comb += self.clear.eq(1)
                    m.d.sync += [run.last_valid.eq(0)]
                    fsm.goto("TX_SOF")
                with m.If(is_cmd[Cmd.SET]):
                    with m.If(is_shift):
                        m.d.sync += [self.shift.eq(args[:6])]
                        fsm.goto("TX_SOF")
                    with m.Elif(is_relu):
                        m.d.sync += [self.relu.eq(args[0])]
                        fsm.goto("TX_SOF")
                    with m.Else():
                        fsm.goto("ERR")
                with m.If(is_cmd[Cmd.WAIT]):
                    with m.If(any_busy):   # a RUN or a GEMV executes
                        fsm.goto("RUNNING")
                    with m.Else():
                        m.d.comb += load_cycles.eq(1)
                        fsm.goto("TX_SOF")
                with m.If(is_cmd[Cmd.READ]):
                    with m.If(~read_ok | rd_busy):   # busy: the sequencer (GEMV unit) owns the read ports
                        fsm.goto("ERR")
                    with m.Else():
                        m.d.sync += [rd_addr.eq(addr)]
                        fsm.goto("SCALE_RD")
                with m.If(is_cmd[Cmd.RUN]):
                    m.d.comb += run.check.start.eq(1)
                    fsm.goto("RUN_CHECK")
                if pim:
                    with m.If(is_cmd[Cmd.GEMV]):
                        m.d.comb += gemv.check.start.eq(1)
                        fsm.goto("GEMV_CHECK")
                if store:
                    with m.If(is_cmd[Cmd.STORE]):
                        kv_store.begin(fsm, w_status)
            if pim:
                gemv.states(fsm, w_status, w_rsp_len, w_have, w_bsel, reg_value, load_reg)
            if store:
                kv_store.states(fsm, w_status, w_rsp_len, w_have, w_bsel, reg_value, load_reg)
            run.states(fsm, w_status, w_rsp_len, w_have, w_bsel, load_cycles, is_cmd[Cmd.WAIT],
                       gemv if pim else None)
            with fsm.state("SNAP"):      # the counters' snapshot is being written
                with m.If(~self.snap_busy):
                    fsm.goto("TX_SOF")
            with fsm.state("REG_FETCH"):  # the next REGS word: a counter from the snapshot, or SHIFT/RELU
                w_have.set(1)    # TX_PAY, which reads it, comes after the word is loaded
                def counter_or_own(head):   # a counter from the snapshot, or SHIFT/RELU
                    with head(reg_shift):
                        m.d.comb += [reg_value.eq(self.shift), load_reg.eq(1)]
                        fsm.goto("TX_PAY")
                    with m.Elif(reg_relu):
                        m.d.comb += [reg_value.eq(self.relu), load_reg.eq(1)]
                        fsm.goto("TX_PAY")
                    with m.Else():
                        m.d.comb += [self.reg_rd_index.eq(reg_slot), self.reg_rd_en.eq(1)]
                        fsm.goto("REG_WAIT")
                if pim:   # a WAIT's second word: the last GEMV's cycles
                    with m.If(is_cmd[Cmd.WAIT]):
                        m.d.comb += [reg_value.eq(gemv.cycles), load_reg.eq(1)]
                        fsm.goto("TX_PAY")
                    counter_or_own(m.Elif)
                else:
                    counter_or_own(m.If)
            with fsm.state("REG_WAIT"):  # the counter file takes the read a cycle later
                fsm.goto("REG_LOAD")
            with fsm.state("REG_LOAD"):
                m.d.comb += [reg_value.eq(self.reg_rd_data), load_reg.eq(1)]
                w_have.set(1)
                fsm.goto("TX_PAY")
            with fsm.state("SCALE_RD"):  # requantized reads need the column scales first
                p = ports[Mem.SCALE]
                m.d.comb += [p.rd_addr.eq(r_scale), p.rd_en.eq(1)]
                fsm.goto("SCALE_WAIT")
            with fsm.state("SCALE_WAIT"):  # the scale port now holds the columns' scales
                fsm.goto("TX_SOF")

            # -- response: SOF, 4 header bytes, header CRC, payload, payload CRC
            rsp_hdr = Cat(status, tag, rsp_len)
            with fsm.state("TX_SOF"):
                with m.If(can_emit):
                    send(SOF_RSP)
                    m.d.comb += [cnt_clr.eq(1), tx_crc_init.eq(1)]
                    fsm.goto("TX_HDR")
            with fsm.state("TX_HDR"):
                with m.If(can_emit):
                    send(rsp_hdr.word_select(cnt[:2], 8), covered=True)
                    m.d.comb += cnt_inc.eq(1)
                    with m.If(cnt[:2] == 3):
                        m.d.comb += cnt_clr.eq(1)
                        fsm.goto("TX_HCRC")
            with fsm.state("TX_HCRC"), send_crc():
                m.d.comb += tx_crc_init.eq(1)
                fsm.goto("HUNT")
                with m.If(rsp_some):
                    w_left.set(rsp_left)
                    fsm.goto("TX_PAY")
            with fsm.state("TX_PAY"):
                # one byte from the selected source; memory words are fetched when the
                # previous word is used up. The byte (``tx_parts``), whether it is there and
                # whether it ends its word are chosen a cycle ahead (``*_q``): a byte is sent
                # only in a cycle after one in TX_PAY without a send (``settled``), so they are
                # never stale.
                avail_q, word_end_q, settled = Signal(name="avail_q"), Signal(name="word_end_q"), Signal(name="settled")
                m.d.sync += [avail_q.eq(tx_avail), word_end_q.eq(tx_word_end),
                             settled.eq(fsm.bit("TX_PAY") & ~emit)]
                with m.If(settled & avail_q & can_emit):
                    send(_any(tx_parts), covered=True)
                    m.d.comb += [shift_out.eq(src == 0), cnt_inc.eq(1)]
                    w_bsel.set(bsel << 1)
                    w_left.set(left - 1)
                    with m.If(word_end_q):
                        w_bsel.set(1)
                        w_have.set(0)
                        # the output stage's word is sent: it is taken a cycle later (a flip-flop)
                        m.d.sync += rq_taken.eq(src == 2)
                    with m.If(at_last):
                        m.d.comb += cnt_clr.eq(1)
                        fsm.goto("TX_PCRC")
                with m.If(((src == 1) | (src == 2)) & ~have):  # the next word
                    fsm.goto("FETCH")
                with m.If((src == 0) & ~have):
                    fsm.goto("REG_FETCH")
            with fsm.state("FETCH"):
                for mm, p in ports.items():
                    with m.If(is_mem[mm]):
                        m.d.comb += [p.rd_addr.eq(rd_addr), p.rd_en.eq(1)]
                m.d.sync += rd_addr.eq(rd_addr + 1)
                fsm.goto("FETCH_WAIT")
            with fsm.state("FETCH_WAIT"):
                # the word is on the read port, or (src 2) on its way through the output stage:
                # TX_PAY, which reads ``have``, comes after RQ_WAIT then
                w_have.set(1)
                with m.If(src == 1):
                    fsm.goto("TX_PAY")
                with m.Else():
                    fsm.goto("RQ_SEND")
            with fsm.state("RQ_SEND"):  # the accumulator word and the scales, straight from the read ports
                m.d.comb += self.rq_in.valid.eq(1)
                with m.If(self.rq_in.ready):
                    fsm.goto("RQ_WAIT")
            with fsm.state("RQ_WAIT"):
                with m.If(self.rq_out.valid):
                    fsm.goto("TX_PAY")
            with fsm.state("TX_PCRC"), send_crc():
                fsm.goto("HUNT")
        return m
