"""The accelerator executed in NumPy: the same bytes in, the same bytes out as the RTL.

This is the ``golden`` transport's device. It parses request frames exactly as the
hardware does (hunt for SOF, header CRC, payload CRC, truncation on idle), keeps the four
memories as arrays of words, and computes RUN with ``hwgen.golden.gemm`` and READ's
requantization with ``hwgen.golden.requant`` — so a driver test against it checks the
driver and the protocol, and the same test against the RTL checks the hardware.
"""
from __future__ import annotations

import struct

import numpy as np

from .. import golden
from ..arrays.systolic import os_extra_latency, os_min_tile_k, os_tile_gap
from ..config import HwgenConfig
from ..golden.requant import requantize
from ..numerics import LowBitFormat, saturate, wrap_signed
from ..golden.lut import grouped_gemm
from .layout import SCALE_BITS, Geometry, pack_words
from ..config import GROUP_LOG2_MAX
from .pim_device import PimState
from .protocol import (GEMV_FORMAT, STORE_FORMAT, READ_FORMAT, REQ_HEADER, RUN_ACCUMULATE, RUN_ASYNC, RUN_FORMAT, RUN_GROUP_FORMAT,
                       RUN_GROUPED, RUN_W_PIM, RUN_WFMT_SHIFT, SOF_REQ, Cmd, Mem, Reg, Status, crc16, response)

__all__ = ["GoldenDevice", "run_cycles_model", "run_fits", "run_needs", "lut_args_ok"]


def run_needs(geo: Geometry, m_tiles: int, n_tiles: int, k_beats: int, prec: int = 0) -> tuple[int, int, int]:
    """The words of A, W and ACC a RUN uses (weight-stationary: ``m_tiles`` = M rows,
    ``k_beats`` = K tiles of R rows each; a LUT engine: ``prec + 1`` W words per beat)."""
    if geo.contract == "ws":
        return m_tiles * k_beats, n_tiles * k_beats * geo.R, m_tiles * n_tiles
    planes = prec + 1 if geo.lut else 1
    return m_tiles * k_beats, n_tiles * k_beats * planes, m_tiles * n_tiles * geo.R


def lut_args_ok(geo: Geometry, flags: int, prec: int, group_log2: int = 0) -> bool:
    """A LUT engine's RUN names a weight kind it knows (not 3) and at most ``pe.w.bits`` bits;
    a group-quantized one is for an engine with group dequantization, groups ≤ 2**7 beats."""
    if not geo.lut:
        return True
    grouped_ok = not flags & RUN_GROUPED or (geo.grouped and group_log2 <= GROUP_LOG2_MAX)
    return (flags >> RUN_WFMT_SHIFT) & 3 != 3 and prec < geo.cfg.array.pe.w.bits and grouped_ok


def scale_needs(n_tiles: int, k_beats: int, flags: int, group_log2: int) -> int:
    """Scale words a group-quantized RUN reads: one per group per N tile."""
    return n_tiles * -(-k_beats // (1 << group_log2)) if flags & RUN_GROUPED else 0


def run_fits(geo: Geometry, m_tiles: int, n_tiles: int, k_beats: int, a_base: int, w_base: int,
             out_base: int, flags: int = 0, prec: int = 0, group_log2: int = 0, scale_base: int = 0) -> bool:
    """Whether a RUN's counts are non-zero, its operands, results (and group scales) lie
    inside the memories and (LUT engines) its weight kind and bits are ones the engine has.
    With ``RUN_W_PIM`` (an engine that reads the PIM banks) the weights lie in the PIM words."""
    if not lut_args_ok(geo, flags, prec, group_log2):
        return False
    w_mem = Mem.W
    if geo.pim is not None and flags & RUN_W_PIM:
        if not geo.npu_reads_pim:
            return False
        w_mem = Mem.PIM
    if geo.grouped and flags & RUN_GROUPED and scale_base + scale_needs(n_tiles, k_beats, flags, group_log2) \
            > geo.depth(Mem.SCALE):
        return False
    needs = run_needs(geo, m_tiles, n_tiles, k_beats, prec)
    return bool(m_tiles and n_tiles and k_beats
                and all(base + need <= geo.depth(mem) for mem, base, need
                        in zip((Mem.A, w_mem, Mem.ACC), (a_base, w_base, out_base), needs)))


def run_cycles_model(geo: Geometry, m_tiles: int, n_tiles: int, k_beats: int, prec: int = 0,
                     w_words: np.ndarray | None = None) -> int:
    """Modeled cycles of one RUN: the tiles' beats, the waits the engine's bookkeeping adds,
    and the latency to the RUN's last result. The RTL's counters are measured;
    ``bench/sweeps/cycles_check.yaml`` and the driver tests check this against them on every
    engine kind (exact where measured). A bit-serial engine takes a beat per weight bit
    (``prec + 1``); a sparse-serial one a beat per non-zero NAF digit of the step's busiest
    column, at least one (counted from ``w_words`` when given, the worst case of the format
    otherwise)."""
    a = geo.cfg.array
    R, C = a.rows, a.cols
    if geo.lut:   # one beat per weight bit-plane
        return m_tiles * n_tiles * max(k_beats * (prec + 1), R) + R + 10
    if a.kind == "bit_serial":
        if a.pe.arith == "sparse_serial" and w_words is not None:
            from ..golden.encoding import sparse_serial_cycles
            w = w_words.reshape(n_tiles, k_beats, C)
            per_n = [sparse_serial_cycles(w[t]) for t in range(n_tiles)]
            return m_tiles * sum(max(c, R) for c in per_n) + R + 8
        steps = prec + 1 if a.pe.arith == "mac" else (prec + 3) // 2     # NAF: at most ceil((b+1)/2) digits
        return m_tiles * n_tiles * max(k_beats * steps, R) + R + 8
    if geo.contract == "ws":  # M rows per (K tile, N tile)
        return _ws_run_cycles(a, m_tiles, n_tiles, k_beats)
    tiles = m_tiles * n_tiles
    if a.kind == "systolic":
        gap = os_tile_gap(a)
        return tiles * max(k_beats + gap, os_min_tile_k(a)) - gap + R + C + 7 + os_extra_latency(a)
    return tiles * max(k_beats, R) + R + 8


def _ws_run_cycles(a, rows: int, n_tiles: int, k_tiles: int) -> int:
    """A weight-stationary RUN, tile by tile (K tiles outer, N tiles inner, ``rows`` = M beats
    each), as the engine's two weight banks (:func:`hwgen.arrays.common.weight_banks`) and the
    WS sequencer schedule it: a bank loads its R words once the tile before last has left the
    engine (its drain: R + C - 1 steps on a systolic array, 1 on an adder tree), one load at a
    time; a tile streams once its bank is loaded and the previous tile has streamed; a K tile's
    row goes in ``tail`` cycles after the previous K tile's same row, whose result it adds to
    (the sequencer waits for it). The RUN ends ``tail`` cycles after the last row goes in."""
    R, C = a.rows, a.cols
    drain, tail = (1, 6) if a.kind == "adder_tree" else (R + C - 1, R + C + 5)
    load_end, stream_start, stream_end = 0, [], []
    for t in range(k_tiles * n_tiles):
        free = stream_end[t - 2] + drain if t >= 2 else 0
        load_end = max(load_end, free) + R
        start = max(load_end, stream_end[-1] if stream_end else 0,
                    stream_start[t - n_tiles] + tail if t >= n_tiles else 0)
        stream_start.append(start)
        stream_end.append(start + rows)
    return stream_end[-1] + tail

class GoldenDevice:
    """Feed request bytes with :meth:`feed`; it returns the response bytes they cause."""

    def __init__(self, cfg: HwgenConfig):
        self.cfg, self.geo = cfg, Geometry(cfg)
        #: words as little-endian bytes (depth × word bytes), the bits past a word's width zero
        self.mem = {m: np.zeros((self.geo.depth(m), self.geo.word_bytes(m)), dtype=np.uint8)
                    for m in self.geo.mems if m < Mem.PIM}
        self.pim = PimState(self.geo) if self.geo.pim is not None else None
        self.regs = {r: 0 for r in self.geo.regs}
        self.last_gemv_cycles = 0
        self.last_run_tag: int | None = None
        self.last_run_cycles = 0
        self._buf = bytearray()
        #: the command byte each response answered, in order (None: a broken or truncated frame)
        self.answered: list[int | None] = []

    # -- byte interface: bytes are counted as the frame engine takes them, responses as they are made
    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while True:
            rsp, done = self._step()
            self.regs[Reg.BYTES_OUT] += len(rsp)
            out += rsp
            if not done:
                break
        return bytes(out)

    def idle(self) -> bytes:
        """The link went quiet: a partial frame times out (``TRUNCATED``, with the frame's
        tag once its header has passed its CRC)."""
        if not self._buf:
            return b""
        tag = 0
        if self._header_ok():   # a WRITE cut short has written what arrived of its payload (not its CRC)
            cmd, tag, mem, _, addr, length = REQ_HEADER.unpack_from(self._buf, 1)
            if cmd == Cmd.WRITE and mem in self.geo.mems and mem != Mem.PIM_OUT:
                start = 1 + REQ_HEADER.size + 2
                self._store_bytes(Mem(mem), addr, bytes(self._buf[start:start + length]))
        self._take(len(self._buf))
        self.answered.append(None)
        rsp = self._error(Status.TRUNCATED, tag)
        self.regs[Reg.BYTES_OUT] += len(rsp)
        return rsp

    def _take(self, n: int) -> None:
        del self._buf[:n]
        self.regs[Reg.BYTES_IN] += n

    def _header_ok(self) -> bool:
        """The buffered frame's whole header (and its CRC) arrived, and the CRC matches."""
        buf, hl = self._buf, REQ_HEADER.size
        return len(buf) >= 1 + hl + 2 and struct.unpack_from("<H", buf, 1 + hl)[0] == crc16(bytes(buf[1:1 + hl]))

    def _step(self) -> tuple[bytes, bool]:
        """Consume one frame (or garbage) from the buffer; (response, progress made)."""
        buf = self._buf
        skip = buf.find(SOF_REQ)
        skip = len(buf) if skip < 0 else skip
        if skip:
            self._take(skip)
            self.regs[Reg.GARBAGE] += skip
        hl = REQ_HEADER.size
        if len(buf) < 1 + hl + 2:
            return b"", False
        if not self._header_ok():
            self._take(1 + hl + 2)
            self.answered.append(None)
            return self._error(Status.BAD_HEADER, 0), True
        cmd, tag, mem, _, addr, length = REQ_HEADER.unpack_from(buf, 1)
        end = 1 + hl + 2 + (length + 2 if length else 0)
        if len(buf) < end:
            return b"", False
        payload = bytes(buf[1 + hl + 2:1 + hl + 2 + length])
        crc_ok = not length or struct.unpack_from("<H", buf, end - 2)[0] == crc16(payload)
        self._take(end)
        self.answered.append(cmd)
        return self._execute(cmd, tag, mem, addr, payload, crc_ok), True

    def _error(self, status: Status, tag: int) -> bytes:
        self.regs[Reg.FRAMES_BAD] += 1
        return response(status, tag)

    # -- commands
    def _execute(self, cmd, tag, mem, addr, payload, crc_ok) -> bytes:
        if (cmd not in set(Cmd) or (cmd == Cmd.GEMV and self.pim is None)
                or (cmd == Cmd.STORE and not self.geo.pim_store)):
            return self._error(Status.UNKNOWN_CMD, tag)
        cmd = Cmd(cmd)
        if cmd == Cmd.WRITE:
            return self._write(tag, mem, addr, payload, crc_ok)
        # a payload of the wrong length is skipped unchecked, like the hardware's SKIP state
        want = {Cmd.READ: READ_FORMAT.size, Cmd.RUN: self.geo.run_size, Cmd.SET: 4,
                Cmd.GEMV: GEMV_FORMAT.size, Cmd.STORE: STORE_FORMAT.size}.get(cmd, 0)
        if len(payload) != want:
            return self._error(Status.BAD_ARGS, tag)
        if not crc_ok:
            return self._error(Status.BAD_CRC, tag)
        if cmd == Cmd.INFO:
            return response(Status.OK, tag, self.geo.info())
        if cmd == Cmd.READ:
            return self._read(tag, mem, addr, payload)
        if cmd == Cmd.RUN:
            return self._run(tag, payload)
        if cmd == Cmd.GEMV:
            return self._gemv(tag, payload)
        if cmd == Cmd.STORE:
            return self._store_cmd(tag, payload)
        if cmd == Cmd.REGS:
            self.regs[Reg.CYCLES] = max(self.regs[Reg.CYCLES], self.regs[Reg.BUSY])
            return response(Status.OK, tag, b"".join(struct.pack("<I", self.regs[r] & 0xFFFFFFFF)
                                                     for r in self.geo.regs))
        if cmd == Cmd.WAIT:  # RUNs (and GEMVs) execute at once here, so the last one has always finished
            return response(Status.OK, tag, struct.pack("<I", self.last_run_cycles)
                            + (struct.pack("<I", self.last_gemv_cycles) if self.pim is not None else b""))
        if cmd == Cmd.SET:
            if addr not in (Reg.SHIFT, Reg.RELU):
                return self._error(Status.BAD_ARGS, tag)
            self.regs[Reg(addr)] = struct.unpack("<I", payload)[0] & (63 if addr == Reg.SHIFT else 1)
            return response(Status.OK, tag)
        # RESET
        for r in self.geo.regs:
            if r not in (Reg.SHIFT, Reg.RELU):
                self.regs[r] = 0
        self.last_run_tag = None
        return response(Status.OK, tag)

    def _write(self, tag, mem, addr, payload, crc_ok) -> bytes:
        if mem not in self.geo.mems or mem == Mem.PIM_OUT:   # the results are read only
            return self._error(Status.BAD_ARGS, tag)
        nb = self.geo.word_bytes(Mem(mem))
        self._store_bytes(Mem(mem), addr, payload)
        if len(payload) % nb or addr + len(payload) // nb > self.geo.depth(Mem(mem)):
            return self._error(Status.BAD_ARGS, tag)
        if not crc_ok:
            return self._error(Status.BAD_CRC, tag)
        return response(Status.OK, tag)

    def _store_bytes(self, mem: Mem, addr: int, payload: bytes) -> None:
        """Like the hardware, every byte of a WRITE goes to its lane as it arrives (a partial
        last word's too, and those of a frame that is never finished), inside the memory. A
        word holds ``word_bits`` bits: the bits of its last byte past them read as zero."""
        if mem >= Mem.PIM:
            self.pim.store_bytes(mem, addr, payload)
            return
        nb, words = self.geo.word_bytes(mem), self.mem[mem]
        if addr >= len(words) or not payload:
            return
        n = min(len(payload), (len(words) - addr) * nb)      # bytes inside the memory
        flat = words[addr:addr + -(-n // nb)].reshape(-1)    # a view: whole words, the last maybe partly written
        flat[:n] = np.frombuffer(payload[:n], dtype=np.uint8)
        top = self.geo.word_bits(mem) - 8 * (nb - 1)          # bits used in a word's last byte
        if top < 8:
            words[addr:addr + -(-n // nb), nb - 1] &= (1 << top) - 1

    def _read(self, tag, mem, addr, payload) -> bytes:
        if mem not in self.geo.mems:
            return self._error(Status.BAD_ARGS, tag)
        count, mode, scale_addr = READ_FORMAT.unpack(payload)
        mem = Mem(mem)
        if (count == 0 or addr + count > self.geo.depth(mem) or mode > 1 or (mode and mem != Mem.ACC)
                or scale_addr >= self.geo.depth(Mem.SCALE)):
            return self._error(Status.BAD_ARGS, tag)
        if mem >= Mem.PIM:
            return response(Status.OK, tag, self.pim.read_bytes(mem, addr, count))
        raw = self.mem[mem][addr:addr + count].tobytes()
        if not mode:
            return response(Status.OK, tag, raw)
        acc = self.geo.unpack_words(raw, Mem.ACC)
        scale = self.geo.unpack_words(self.mem[Mem.SCALE][scale_addr].tobytes(), Mem.SCALE)[0]
        y = requantize(acc, scale, self.regs[Reg.SHIFT], relu=bool(self.regs[Reg.RELU]),
                                      out_fmt=self.cfg.soc.out)
        onb, bits = self.geo.word_bytes(Mem.ACC, requant=True), self.cfg.soc.out.bits
        return response(Status.OK, tag, pack_words(y, bits, onb))

    def _run(self, tag, payload) -> bytes:
        mt_n, nt_n, kb, a_base, w_base, out_base, flags, prec = RUN_FORMAT.unpack_from(payload)
        g = self.geo
        group_log2, scale_base = RUN_GROUP_FORMAT.unpack_from(payload, RUN_FORMAT.size) if g.grouped else (0, 0)
        if not run_fits(g, mt_n, nt_n, kb, a_base, w_base, out_base, flags, prec, group_log2, scale_base):
            return self._error(Status.BAD_ARGS, tag)
        a_need, w_need, _ = run_needs(g, mt_n, nt_n, kb, prec)
        if self.pim is not None and flags & RUN_W_PIM:
            w_words = g.unpack_words(self.pim.read_bytes(Mem.PIM, w_base, w_need), Mem.W)
        else:
            w_words = self._words(Mem.W, w_base, w_need)
        cycles = run_cycles_model(g, mt_n, nt_n, kb, prec, w_words)
        answer = b"" if flags & RUN_ASYNC else struct.pack("<I", cycles)
        if tag == self.last_run_tag:  # a retried RUN: acknowledge, do not run twice
            return response(Status.OK, tag, answer)
        a_words = self._words(Mem.A, a_base, a_need)
        if g.lut:
            self._run_lut(mt_n, nt_n, kb, a_words, w_words, out_base, flags, prec,
                          (group_log2, scale_base) if flags & RUN_GROUPED else None)
        else:
            (self._run_ws if g.contract == "ws" else self._run_os)(mt_n, nt_n, kb, a_words, w_words, out_base, flags)
        self.last_run_tag, self.last_run_cycles = tag, cycles
        self.regs[Reg.BUSY] += cycles
        self.regs[Reg.ARRAY] += mt_n * nt_n * kb * (prec + 1 if g.lut else 1)
        self.regs[Reg.RUNS] += 1
        return response(Status.OK, tag, answer)

    def _gemv(self, tag, payload) -> bytes:
        args = GEMV_FORMAT.unpack(payload)
        cycles = self.pim.gemv(*args)
        if cycles is None:
            return self._error(Status.BAD_ARGS, tag)
        self.last_gemv_cycles = cycles
        self.regs[Reg.PIM_BUSY] += cycles
        self.regs[Reg.PIM_ISSUE] += args[4] * args[5]
        return response(Status.OK, tag, b"" if args[2] & RUN_ASYNC else struct.pack("<I", cycles))

    def _store_cmd(self, tag, payload) -> bytes:
        """STORE (:mod:`hwgen.golden.store`): refused whole unless every step is inside its memory."""
        from ..golden.store import STORE_PAIR, requantize_pair, store_bounds_ok, store_steps
        from .store import store_cycles
        g = self.geo
        names = ("flags", "shift", "n1", "n2", "src", "src1", "src2", "dst", "dst1", "dst2", "coef", "coef1", "coef2")
        a = dict(zip(names, STORE_FORMAT.unpack(payload)))
        if not store_bounds_ok(**a, acc_words=g.depth(Mem.ACC), scale_words=g.depth(Mem.SCALE),
                               pim_words=g.depth(Mem.PIM)):
            return self._error(Status.BAD_ARGS, tag)
        n1, n2, pair = a["n1"], a["n2"], a["flags"] & STORE_PAIR
        src = store_steps(n1, n2, a["src"], a["src1"], a["src2"])
        coef = store_steps(n1, n2, a["coef"], a["coef1"], a["coef2"])
        dst = store_steps(n1, n2, a["dst"], a["dst1"], a["dst2"])
        acc = self._words(Mem.ACC, 0, g.depth(Mem.ACC))
        scales = self._words(Mem.SCALE, 0, g.depth(Mem.SCALE)).astype(np.int64)
        scales = np.where(scales >= 1 << 15, scales - (1 << 16), scales)   # the coefficients are signed
        for s, c, d in zip(src, coef, dst):
            y = requantize_pair(acc[s][None], scales[c], scales[c + 1] if pair else None, a["shift"])
            self.pim.data[d] = y[0].astype(np.int8).view(np.uint8)
        cycles = store_cycles(n1 * n2, g.C)
        self.regs[Reg.STORE_BUSY] += cycles
        return response(Status.OK, tag, struct.pack("<I", cycles))

    def _words_raw(self, mem: Mem, base: int, n: int, bits: int, per: int) -> np.ndarray:
        """``n`` words of ``mem`` from ``base`` as ``per`` unsigned ``bits``-bit elements each."""
        from .layout import unpack_words
        nb = self.geo.word_bytes(mem)
        return unpack_words(self.mem[mem][base:base + n].tobytes(), bits, per, nb, signed=False)

    def _words(self, mem: Mem, base: int, n: int) -> np.ndarray:
        return self.geo.unpack_words(self.mem[mem][base:base + n].tobytes(), mem)

    def _store(self, addr: int, row, flags: int) -> None:
        """Write one result row; with ``accumulate``, one more addition with the PE's rule."""
        self._store_rows(addr, np.asarray(row, dtype=np.int64)[None], flags)

    def _run_os(self, mt_n, nt_n, kb, a_words, w_words, out_base, flags) -> None:
        """Every tile at once: one GEMM of all M tiles' rows by all N tiles' columns (each
        result is its own K reduction, so tiling does not change it), stored in the tiles'
        order, which is consecutive from ``out_base``."""
        g, pe = self.geo, self.cfg.array.pe
        R, C, D = g.R, g.C, g.D
        a_all = a_words.reshape(mt_n, kb, R, D).transpose(0, 2, 1, 3).reshape(mt_n * R, kb * D)
        w_all = w_words.reshape(nt_n, kb, D, C).transpose(1, 2, 0, 3).reshape(kb * D, nt_n * C)
        res = golden.gemm(a_all, w_all, acc_bits=pe.acc, overflow=pe.overflow, group=self.cfg.array.group)
        rows = res.reshape(mt_n, R, nt_n, C).transpose(0, 2, 1, 3).reshape(-1, C)   # (mt, nt, r) order
        self._store_rows(out_base, rows, flags)

    def _store_rows(self, base: int, rows: np.ndarray, flags: int) -> None:
        """Result rows into consecutive ACC words from ``base`` (:meth:`_store`, vectorized)."""
        pe = self.cfg.array.pe
        if flags & RUN_ACCUMULATE:
            old = self._words(Mem.ACC, base, len(rows))
            rows = (saturate if pe.overflow == "saturate" else wrap_signed)(old + rows, pe.acc)
        nb = self.geo.word_bytes(Mem.ACC)
        self.mem[Mem.ACC][base:base + len(rows)] = np.frombuffer(pack_words(rows, pe.acc, nb),
                                                                 dtype=np.uint8).reshape(-1, nb)

    def _run_lut(self, mt_n, nt_n, kb, a_words, w_words, out_base, flags, prec, groups=None) -> None:
        """The W words are bit-planes: rebuild each weight's code, decode it with the RUN's
        weight kind and bits, and multiply (the golden model, not the engine's tables).
        ``groups`` = (group_log2, scale_base): a group-quantized layer (hwgen.golden.lut.grouped_gemm)."""
        g, pe = self.geo, self.cfg.array.pe
        R, C, D, planes = g.R, g.C, g.D, prec + 1
        kind = {0: "int", 1: "uint", 2: "bipolar"}[(flags >> RUN_WFMT_SHIFT) & 3]
        bits = w_words.reshape(nt_n, kb, planes, D, C)
        codes = (bits << np.arange(planes).reshape(1, 1, -1, 1, 1)).sum(axis=2)   # (nt, kb, D, C)
        # int at one bit is its sign plane alone: values 0 and −1
        values = -codes if (kind, planes) == ("int", 1) else LowBitFormat(kind, planes).decode(codes)
        a_blocks = a_words.reshape(mt_n, kb, R, D)
        if groups is not None:
            gb = 1 << groups[0]
            n_g = -(-kb // gb)
            lanes = self._words_raw(Mem.SCALE, groups[1], nt_n * n_g, 2 * SCALE_BITS, C).reshape(nt_n, n_g, C)
            d, zp = (lanes & 0xFFFF), (lanes >> 16) & 0xFFFF
            d, zp = d - ((d >> 15) << 16), zp - ((zp >> 15) << 16)   # signed 16-bit
        for mt in range(mt_n):
            a_tile = a_blocks[mt].transpose(1, 0, 2).reshape(R, kb * D)
            for nt in range(nt_n):
                w_tile = values[nt].reshape(kb * D, C)
                if groups is None:
                    res = golden.gemm(a_tile, w_tile, acc_bits=pe.acc, overflow="wrap")
                else:   # the last group may be short; grouped_gemm on the zero-padded tile is the same
                    pad = n_g * gb * D - kb * D
                    res = grouped_gemm(np.pad(a_tile, ((0, 0), (0, pad))), np.pad(w_tile, ((0, pad), (0, 0))),
                                       None, group=gb * D, scale=d[nt], zero=zp[nt], acc_bits=pe.acc)
                for r in range(R):
                    self._store(out_base + (mt * nt_n + nt) * R + r, res[r], flags)

    def _run_ws(self, rows, nt_n, kt_n, a_words, w_words, out_base, flags) -> None:
        """K tile by K tile, each tile's result the next one's initial accumulator (``c``)."""
        g, pe = self.geo, self.geo.view.pe
        R, C = g.R, g.C
        a_tiles, w_tiles = a_words.reshape(kt_n, rows, R), w_words.reshape(kt_n, nt_n, R, C)
        for nt in range(nt_n):
            base = out_base + nt * rows
            c = (self._words(Mem.ACC, base, rows) if flags & RUN_ACCUMULATE
                 else np.zeros((rows, C), dtype=np.int64))
            for kt in range(kt_n):
                c = golden.gemm(a_tiles[kt], w_tiles[kt, nt], acc_bits=pe.acc, overflow=pe.overflow, c=c,
                                group=self.cfg.array.group)
            self._store_rows(base, c, 0)
