"""The host protocol: one definition shared by the hardware, the driver, the golden
transport, ``manifest.json`` and ``docs/protocol.md``.

Every frame, both directions::

    SOF | header (request: 10 bytes, response: 4 bytes) | CRC16(header) | payload | CRC16(payload)

Request header: ``cmd u8, tag u8, mem u8, 0 u8, addr u32, len u16``; response header:
``status u8, tag u8, len u16``. Multi-byte fields are little-endian; ``len`` counts payload
bytes; the payload CRC is present only when ``len > 0``. CRC16 is CRC-16/CCITT-FALSE
(poly 0x1021, init 0xFFFF, no reflection, no final xor).

The header has its own CRC so that a corrupted address or length is never acted on: a
frame whose header CRC fails is dropped whole (error ``BAD_HEADER``) and the device
hunts for the next SOF. A corrupted payload is detected at its end (``BAD_CRC``); a
``WRITE`` may then have written wrong data, but only inside the range its (valid) header
named, so retrying the frame repairs it. ``RUN`` executes only after its payload CRC
passes, and a ``RUN`` whose tag equals the last completed one is acknowledged without
running again, so a retried ``RUN`` never accumulates twice. A frame that stops arriving
for ``timeout`` cycles is answered with ``TRUNCATED``. An asynchronous ``RUN`` (flags bit 1)
answers at once; while it executes the host may WRITE the A, W and SCALE memories (the other
half of a double buffer), and ``WAIT`` answers when it has finished.

An accelerator with PIM banks (``soc.pim``, docs/pim.md) has three more memories (``PIM``,
``PIM_VEC``, ``PIM_OUT``), the ``GEMV`` command, the RUN flag ``RUN_W_PIM`` (the engine reads
its weights from the banks) and four more counters. A GEMV may execute while a RUN does: an
asynchronous GEMV (flags bit 1) answers at once, and ``WAIT`` answers when neither executes.
"""
from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass

from ..config import GROUP_LOG2_MAX   # a group-quantized RUN's largest group: 2**7 beats

__all__ = ["VERSION", "SOF_REQ", "SOF_RSP", "Cmd", "Status", "Mem", "Reg", "REGISTERS", "crc16",
           "request", "response", "parse_response", "ResponseFrame", "ProtocolError", "RUN_FORMAT",
           "RUN_ACCUMULATE", "RUN_ASYNC", "RUN_W_PIM", "GEMV_FORMAT", "GEMV_ASYNC", "STORE_FORMAT", "BASE_REGS", "RUN_WFMT_SHIFT", "RUN_GROUPED", "RUN_GROUP_FORMAT",
           "GROUP_LOG2_MAX", "READ_FORMAT", "describe", "REQ_HEADER", "RSP_HEADER", "MAX_PAYLOAD"]

VERSION = 1
SOF_REQ = 0xA5
SOF_RSP = 0x5A
REQ_HEADER = struct.Struct("<BBBBIH")   # cmd, tag, mem, reserved, addr, len
RSP_HEADER = struct.Struct("<BBH")      # status, tag, len
MAX_PAYLOAD = 0xFFFF
#: RUN payload: m_tiles, n_tiles, k_beats, a_base, w_base, out_base, flags, prec
RUN_FORMAT = struct.Struct("<HHHIIIBB")
RUN_ACCUMULATE = 1   #: flags bit 0: add the results to the accumulator memory
RUN_ASYNC = 2        #: flags bit 1: answer at the start (WAIT answers at the end)
#: flags bits 2-3: a LUT engine's weight kind (:attr:`hwgen.numerics.LowBitFormat.code`:
#: 0 int/ternary, 1 uint, 2 bipolar/binary; 3 is refused); ``prec`` is its bits − 1
RUN_WFMT_SHIFT = 2
#: flags bit 4 (LUT engines with ``dequant: group``): a group-quantized layer, rescaled per
#: group of 2**group_log2 beats by the scales (and zero points) from ``scale_base`` on
RUN_GROUPED = 16
#: what such an engine's RUN payload has after RUN_FORMAT: group_log2 u8, scale_base u32
RUN_GROUP_FORMAT = struct.Struct("<BI")
#: flags bit 5 (accelerators with PIM banks): the weights come from the PIM banks, ``w_base``
#: a flat PIM word address (all W words of the RUN inside one bank)
RUN_W_PIM = 32
#: READ payload: count (words), mode (0 raw, 1 requantized), scale address
READ_FORMAT = struct.Struct("<HBH")
#: GEMV payload: mode, fmt (bits | 0x80 if signed), flags (bit 1: asynchronous), 0, outer, inner,
#: base, ostride, nstride (slices), vec_base, out_base (words); see docs/pim.md
GEMV_FORMAT = struct.Struct("<BBBBHHIIIHH")
GEMV_ASYNC = RUN_ASYNC
#: STORE payload: flags (bit 0: pair mix), shift, n1, n2, src, src1, src2 (ACC words), dst,
#: dst1, dst2 (flat PIM words), coef, coef1, coef2 (SCALE words); see hwgen.golden.store
STORE_FORMAT = struct.Struct("<BBHHHHHIIIHHH")


class Cmd(enum.IntEnum):
    INFO = 0x01    #: response: version, engine and memory geometry (see :func:`describe`)
    WRITE = 0x02   #: write ``len`` bytes (whole words) to memory ``mem`` from word ``addr``
    READ = 0x03    #: payload READ_FORMAT; response: the words (raw or requantized)
    RUN = 0x04     #: payload RUN_FORMAT; response after the GEMM: cycles u32
    REGS = 0x05    #: response: every register, u32 each, in :data:`REGISTERS` order
    SET = 0x06     #: set config register ``addr`` to payload u32
    RESET = 0x07   #: clear counters and the remembered RUN tag
    WAIT = 0x08    #: response when no RUN (or GEMV) is executing: the last RUN's cycles u32 (and GEMV's)
    GEMV = 0x09    #: PIM banks: payload GEMV_FORMAT; response after the GEMV: cycles u32
    STORE = 0x0A   #: PIM banks: payload STORE_FORMAT (accumulators → requantized bank words); response: cycles u32


class Status(enum.IntEnum):
    OK = 0
    BAD_HEADER = 1    #: header CRC failed (frame dropped, nothing done)
    BAD_CRC = 2       #: payload CRC failed (WRITE: the named range may hold bad data)
    UNKNOWN_CMD = 3
    BAD_ARGS = 4      #: memory id, address range, length or RUN shape out of bounds
    TRUNCATED = 5     #: the frame stopped arriving
    BUSY = 6          #: a RUN is executing: READ, RUN and WRITE to ACC must wait (WAIT)


class Mem(enum.IntEnum):
    A = 0      #: activation scratchpad
    W = 1      #: weight scratchpad
    ACC = 2    #: accumulator memory
    SCALE = 3  #: per-column output scales (u16 each)
    PIM = 4      #: PIM bank words (flat: bank · rows + word)
    PIM_VEC = 5  #: PIM vector buffers (flat: bank · vec_words + word; bank ``banks``: every bank)
    PIM_OUT = 6  #: PIM results (flat: bank · out_words + word; read only)


class Reg(enum.IntEnum):
    """Register map, read by ``REGS`` (all) and partly written by ``SET``."""
    CYCLES = 0        #: clock cycles since reset (counter)
    BUSY = 1          #: cycles a GEMM was running
    ARRAY = 2         #: cycles the engine took an operand beat (useful MAC steps)
    BYTES_IN = 3      #: host-link bytes received
    BYTES_OUT = 4     #: host-link bytes sent
    FRAMES_BAD = 5    #: frames answered with an error
    GARBAGE = 6       #: bytes skipped while hunting for SOF
    SHIFT = 7         #: output stage right shift (SET)
    RELU = 8          #: output stage ReLU enable (SET)
    RUNS = 9          #: GEMMs completed
    PIM_BUSY = 10     #: cycles a GEMV was executing (accelerators with PIM banks only)
    PIM_ISSUE = 11    #: slices the GEMV unit read (per bank)
    PIM_STALL = 12    #: cycles a GEMV waited for its port (row_buffers: 1)
    OVERLAP = 13      #: cycles a GEMV executed while a RUN or a STORE did
    STORE_BUSY = 14   #: cycles a STORE was executing (K/V rows written on chip)


#: the registers of an accelerator without PIM banks (with them: every :class:`Reg`)
BASE_REGS = tuple(r for r in Reg if r < Reg.PIM_BUSY)
REGISTERS = [r.name.lower() for r in Reg]
CONFIG_REGS = (Reg.SHIFT, Reg.RELU)


class ProtocolError(RuntimeError):
    """A frame could not be parsed (bad SOF, CRC, length)."""


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: ``binascii.crc_hqx`` (poly 0x1021, not reflected) from 0xFFFF; in C,
    the host's share of a frame is no longer a Python loop per bit."""
    return binascii.crc_hqx(data, crc)


def _frame(sof: int, header: bytes, payload: bytes) -> bytes:
    out = bytes([sof]) + header + struct.pack("<H", crc16(header))
    if payload:
        out += payload + struct.pack("<H", crc16(payload))
    return out


def request(cmd: Cmd, tag: int, *, mem: int = 0, addr: int = 0, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return _frame(SOF_REQ, REQ_HEADER.pack(int(cmd), tag & 0xFF, mem, 0, addr, len(payload)), payload)


def response(status: Status, tag: int, payload: bytes = b"") -> bytes:
    return _frame(SOF_RSP, RSP_HEADER.pack(int(status), tag & 0xFF, len(payload)), payload)


@dataclass(frozen=True)
class ResponseFrame:
    status: Status
    tag: int
    payload: bytes
    size: int  # bytes consumed from the input


def parse_response(buf: bytes) -> ResponseFrame | None:
    """The first complete response frame in ``buf`` (None if incomplete).

    Raises :class:`ProtocolError` on a bad SOF or CRC."""
    if not buf:
        return None
    if buf[0] != SOF_RSP:
        raise ProtocolError(f"expected response SOF 0x{SOF_RSP:02X}, got 0x{buf[0]:02X}")
    hl = RSP_HEADER.size
    if len(buf) < 1 + hl + 2:
        return None
    header = buf[1:1 + hl]
    if struct.unpack_from("<H", buf, 1 + hl)[0] != crc16(header):
        raise ProtocolError("response header CRC mismatch")
    status, tag, length = RSP_HEADER.unpack(header)
    end = 1 + hl + 2 + (length + 2 if length else 0)
    if len(buf) < end:
        return None
    payload = buf[1 + hl + 2:1 + hl + 2 + length]
    if length and struct.unpack_from("<H", buf, end - 2)[0] != crc16(payload):
        raise ProtocolError("response payload CRC mismatch")
    try:
        st = Status(status)
    except ValueError:
        raise ProtocolError(f"unknown status {status}") from None
    return ResponseFrame(st, tag, payload, end)


def describe(pim: bool = False, store: bool = False) -> dict:
    """The protocol as data, for ``manifest.json`` (``pim``: of an accelerator with PIM banks;
    ``store``: whose accumulator words are bank words, so it has STORE)."""
    extra = {"gemv_payload": "mode u8 (0 dot, 1 broadcast-accumulate), fmt u8 (bits | 0x80 if signed), flags u8 "
                             "(bit 1: asynchronous), 0 u8, outer u16, inner u16, base u32, ostride u32, nstride u32 "
                             "(slices), vec_base u16, out_base u16 (words); docs/pim.md",
             "run_w_pim": "RUN flags bit 5: the weights come from the PIM banks (w_base a flat PIM word address)",
             "wait_payload": "last RUN cycles u32, last GEMV cycles u32"} if pim else {}
    if store:
        extra["store_payload"] = ("flags u8 (bit 0: pair mix), shift u8, n1 u16, n2 u16, src u16, src1 u16, src2 u16 "
                                  "(ACC words), dst u32, dst1 u32, dst2 u32 (flat PIM words), coef u16, coef1 u16, "
                                  "coef2 u16 (SCALE words); docs/pim.md")
    mems = [m for m in Mem if pim or m < Mem.PIM]
    return {
        "version": VERSION, "sof_request": SOF_REQ, "sof_response": SOF_RSP,
        "request_header": "cmd u8, tag u8, mem u8, 0 u8, addr u32, len u16 (little-endian)",
        "response_header": "status u8, tag u8, len u16",
        "crc": "CRC-16/CCITT-FALSE over header, and over payload when len > 0",
        "commands": {c.name: int(c) for c in Cmd if (pim or c != Cmd.GEMV) and (store or c != Cmd.STORE)},
        "status": {s.name: int(s) for s in Status},
        "memories": {m.name: int(m) for m in mems},
        "registers": {r.name.lower(): int(r) for r in (Reg if pim else BASE_REGS)},
        "run_payload": "m_tiles u16, n_tiles u16, k_beats u16, a_base u32, w_base u32, out_base u32, "
                       "flags u8 (bit 0: accumulate, bit 1: asynchronous, bits 2-3: LUT weight kind "
                       "0 int/ternary, 1 uint, 2 bipolar/binary; bit 4: group-quantized), prec u8 (weight bits - 1); "
                       "LUT engines with dequant: group add group_log2 u8, scale_base u32",
        "read_payload": "count u16 (words), mode u8 (0 raw, 1 requantized), scale_addr u16",
        **extra,
    }
