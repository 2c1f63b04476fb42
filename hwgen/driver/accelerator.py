"""The host driver: GEMMs of any shape on a generated accelerator, through any transport.

The same code runs against NumPy (``golden``), the Verilated RTL (``verilator``) and a
board (``serial:…``): it only builds request frames and checks response frames.
Corrupted, truncated or lost frames are retried (a retried RUN is never executed twice:
the device remembers the last RUN's tag); argument errors raise :class:`DeviceError`;
no answer after the retries raises :class:`DeviceTimeout`. Wrong numbers are never returned
silently: every response is CRC-checked and every command's status is checked.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import numpy as np

from ..config import HwgenConfig
from ..soc.layout import Geometry
from ..soc.protocol import (MAX_PAYLOAD, READ_FORMAT, RUN_ACCUMULATE, RUN_ASYNC, RUN_FORMAT, Cmd, Mem,
                            ProtocolError, Reg, Status, parse_response, request)
from .transports import Transport, open_transport

__all__ = ["Accelerator", "Requant", "DeviceError", "DeviceTimeout", "Stats"]

_RETRY = (Status.BAD_HEADER, Status.BAD_CRC, Status.TRUNCATED)


class DeviceError(RuntimeError):
    """The device refused a command (bad arguments, unknown command) or runs another design."""


class DeviceTimeout(DeviceError):
    """No valid answer after every retry."""


@dataclass(frozen=True)
class Requant:
    """Output stage settings: ``y = clip(round_half_even(acc · scale[n] / 2^shift))``, then ReLU."""
    scale: np.ndarray
    shift: int
    relu: bool = False


@dataclass
class Stats:
    """Counters: the device's registers and the driver's own link accounting."""
    regs: dict = field(default_factory=dict)
    link_bytes_out: int = 0     # host -> device
    link_bytes_in: int = 0      # device -> host
    retries: int = 0
    commands: int = 0
    gemm_cycles: int = 0        # device cycles inside RUN commands (what the engine costs)
    gemm_macs: int = 0          # useful multiply-accumulates (M·N·K) of the GEMMs run

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Accelerator:
    """A connected accelerator. Use :meth:`open`."""

    def __init__(self, cfg: HwgenConfig, transport: Transport, *, retries: int = 4, timeout: float = 30.0,
                 max_frame: int = 4096):
        self.cfg, self.geo, self.transport = cfg, Geometry(cfg), transport
        self.retries, self.timeout = retries, timeout
        self.max_frame = max_frame
        self._tag = 0
        self._last_run_tag = -1
        self._running = False
        self.stats = Stats()
        self._check_identity()

    @classmethod
    def open(cls, cfg: HwgenConfig, transport: str = "golden", *, log=None, **kw) -> "Accelerator":
        """Connect to ``cfg``'s accelerator over ``transport`` (``golden``, ``verilator``,
        ``serial:/dev/ttyUSB1@1000000``) and check it runs exactly this design."""
        return cls(cfg, open_transport(transport, cfg, log=log), **kw)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- commands
    def _next_tag(self, cmd: Cmd) -> int:
        self._tag = (self._tag + 1) & 0xFF
        if cmd == Cmd.RUN and self._tag == self._last_run_tag:  # never repeat a RUN tag back to back
            self._tag = (self._tag + 1) & 0xFF
        return self._tag

    def command(self, cmd: Cmd, *, mem: int = 0, addr: int = 0, payload: bytes = b"") -> bytes:
        """Send one command (with retries); return the response payload."""
        tag = self._next_tag(cmd)
        frame = request(cmd, tag, mem=mem, addr=addr, payload=payload)
        problem = "no response"
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            self.stats.commands += 1
            self.stats.link_bytes_out += len(frame)
            raw = self.transport.exchange(frame, timeout=self.timeout)
            self.stats.link_bytes_in += len(raw)
            start = raw.find(b"\x5a")
            try:
                rsp = parse_response(raw[start:]) if start >= 0 else None
            except ProtocolError as e:
                problem = f"corrupted response ({e})"
                continue
            if rsp is None:
                problem = "no complete response" if raw else "no response"
                continue
            if rsp.status in _RETRY:
                problem = f"device reported {rsp.status.name}"
                continue
            if rsp.status == Status.BUSY and cmd != Cmd.WAIT:  # an asynchronous RUN still executes
                problem = "device busy"
                self.wait()
                continue
            if rsp.tag != tag:
                problem = f"response tag {rsp.tag} for request tag {tag}"
                continue
            if rsp.status != Status.OK:
                raise DeviceError(f"{cmd.name} (mem {mem}, addr {addr}): device reported {rsp.status.name}")
            if cmd == Cmd.RUN:
                self._last_run_tag = tag
            return rsp.payload
        raise DeviceTimeout(f"{cmd.name}: {problem} after {self.retries + 1} attempts over {self.transport.name}")

    def _check_identity(self) -> None:
        info = self.command(Cmd.INFO)
        want = self.geo.info()
        if info != want:
            raise DeviceError(f"the device is not {self.cfg.name}: INFO {info.hex()} != expected {want.hex()} "
                              "(flash or build the bitstream generated from this config)")

    def write(self, mem: Mem, addr: int, data: bytes) -> None:
        """Write whole words to a memory, in frames of at most ``max_frame`` bytes."""
        nb = self.geo.word_bytes(mem)
        step = max(nb, (self.max_frame // nb) * nb)
        for off in range(0, len(data), step):
            self.command(Cmd.WRITE, mem=mem, addr=addr + off // nb, payload=data[off:off + step])

    def read(self, mem: Mem, addr: int, count: int, *, requant: bool = False, scale_addr: int = 0) -> bytes:
        nb = self.geo.word_bytes(mem, requant=requant)
        per = max(1, min(MAX_PAYLOAD // nb, 0xFFFF))
        out = bytearray()
        for off in range(0, count, per):
            n = min(per, count - off)
            out += self.command(Cmd.READ, mem=mem, addr=addr + off,
                                payload=READ_FORMAT.pack(n, int(requant), scale_addr))
        return bytes(out)

    def run(self, m_tiles: int, n_tiles: int, k_beats: int, *, a_base: int = 0, w_base: int = 0,
            out_base: int = 0, accumulate: bool = False, prec: int | None = None, wait: bool = True) -> int | None:
        """One RUN; returns the device's cycle count for it. With ``wait=False`` it returns at
        once (the device keeps computing; :meth:`wait` collects the cycle count)."""
        prec = self.cfg.array.pe.w.bits - 1 if prec is None else prec
        flags = (RUN_ACCUMULATE if accumulate else 0) | (0 if wait else RUN_ASYNC)
        payload = RUN_FORMAT.pack(m_tiles, n_tiles, k_beats, a_base, w_base, out_base, flags, prec)
        answer = self.command(Cmd.RUN, payload=payload)
        if not wait:
            self._running = True
            return None
        cycles = struct.unpack("<I", answer)[0]
        self.stats.gemm_cycles += cycles
        return cycles

    def wait(self) -> int:
        """Wait for an asynchronous RUN to finish; returns its cycles (counted once)."""
        cycles = struct.unpack("<I", self.command(Cmd.WAIT))[0]
        if self._running:
            self.stats.gemm_cycles += cycles
            self._running = False
        return cycles

    def set_reg(self, reg: Reg, value: int) -> None:
        self.command(Cmd.SET, addr=int(reg), payload=struct.pack("<I", value))

    def regs(self) -> dict:
        raw = self.command(Cmd.REGS)
        return {r.name.lower(): struct.unpack_from("<I", raw, 4 * r)[0] for r in Reg}

    def reset(self) -> None:
        self.command(Cmd.RESET)
        self.stats = Stats()

    def stats_dict(self) -> dict:
        self.stats.regs = self.regs()
        return self.stats.as_dict()

    # -- GEMM
    def gemm(self, a, w, *, requant: Requant | None = None) -> np.ndarray:
        """``a @ w`` (M×K @ K×N) with the engine's accumulator semantics; with ``requant``,
        the output stage's result in ``soc.out``. Tiles, pads and chunks itself.

        Double-buffered: every memory is used as two halves, and while the device computes
        one chunk (an asynchronous RUN) the next chunk's operands are written into the other
        half, so host-link writes overlap compute."""
        a, w = np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.int64)
        if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
            raise ValueError(f"gemm needs (M, K) @ (K, N), got {a.shape} @ {w.shape}")
        pe, g = self.cfg.array.pe, self.geo
        pe.a.check(a, "a")
        pe.w.check(w, "w")
        M, K = a.shape
        N = w.shape[1]
        R, C, D = g.R, g.C, g.D
        s = self.cfg.soc
        ha, hw, hacc, hsc = s.a_words // 2, s.w_words // 2, s.acc_words // 2, max(1, s.scale_words // 2)
        kb_all = g.k_beats(K)
        kb_max = min(ha, hw)
        if kb_all > kb_max and pe.overflow == "saturate":
            raise ValueError(f"K = {K} needs {kb_all} scratchpad words per tile, more than {kb_max} (half of "
                             "a_words/w_words); splitting K changes a saturating accumulation — use overflow: wrap "
                             "or larger a_words/w_words")
        if hacc < R:
            raise ValueError(f"acc_words = {s.acc_words} cannot hold two tiles of {R} rows")
        k_chunks = [(k0, min(K, k0 + kb_max * D)) for k0 in range(0, K, kb_max * D)]
        kb = g.k_beats(k_chunks[0][1] - k_chunks[0][0])
        MT, NT = -(-M // R), -(-N // C)
        nt_c = max(1, min(NT, hw // kb, hsc if requant else NT, hacc // R))
        mt_c = max(1, min(MT, ha // kb, hacc // (nt_c * R)))
        if requant is not None:
            scale = np.asarray(requant.scale, dtype=np.int64).reshape(-1)
            if scale.shape != (N,):
                raise ValueError(f"requant.scale must have N = {N} entries, got {scale.shape}")
            self.set_reg(Reg.SHIFT, requant.shift)
            self.set_reg(Reg.RELU, int(requant.relu))
        # jobs: one RUN each; the blocks' K chunks accumulate into the same accumulator half
        jobs = []
        for m0 in range(0, M, mt_c * R):
            for n0 in range(0, N, nt_c * C):
                for i, (k0, k1) in enumerate(k_chunks):
                    jobs.append((m0, min(M, m0 + mt_c * R), n0, min(N, n0 + nt_c * C), k0, k1, i))
        out = np.zeros((M, N), dtype=np.int64)
        if requant is None:
            scale = None
        pending = None  # (job index, accumulator half) of the RUN computing on the device
        block = -1
        for idx, (m0, m1, n0, n1, k0, k1, i) in enumerate(jobs):
            block += i == 0
            half, acc_half = idx % 2, block % 2
            self.write(Mem.A, half * ha, g.pack_a(a[m0:m1, k0:k1]))   # overlaps the pending RUN
            self.write(Mem.W, half * hw, g.pack_w(w[k0:k1, n0:n1]))
            if pending is not None:
                self.wait()
                self._finish(jobs, *pending, out, hacc, hsc, scale, requant)
            mts, nts = -(-(m1 - m0) // R), -(-(n1 - n0) // C)
            self.run(mts, nts, g.k_beats(k1 - k0), a_base=half * ha, w_base=half * hw, out_base=acc_half * hacc,
                     accumulate=i > 0, wait=False)
            pending = (idx, acc_half)
        if pending is not None:
            self.wait()
            self._finish(jobs, *pending, out, hacc, hsc, scale, requant)
        return out

    def _finish(self, jobs, idx, acc_half, out, hacc, hsc, scale, requant) -> None:
        """After job ``idx``'s RUN: if it was its block's last K chunk, read the block."""
        m0, m1, n0, n1, _, k1, _ = jobs[idx]
        if idx + 1 < len(jobs) and jobs[idx + 1][6] != 0:
            return  # more K chunks of this block follow
        self.stats.gemm_macs += (m1 - m0) * (n1 - n0) * k1  # the last chunk ends at K
        g, R, C = self.geo, self.geo.R, self.geo.C
        mts, nts = -(-(m1 - m0) // R), -(-(n1 - n0) // C)
        base = acc_half * hacc
        blk = np.zeros((mts * R, nts * C), dtype=np.int64)
        if requant is None:
            words = g.unpack_words(self.read(Mem.ACC, base, mts * nts * R), Mem.ACC)
            for mt in range(mts):
                for nt in range(nts):
                    w0 = (mt * nts + nt) * R
                    blk[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C] = words[w0:w0 + R]
        else:
            sbase = acc_half * hsc
            self.write(Mem.SCALE, sbase, g.pack_scale(scale[n0:n1]))
            for mt in range(mts):
                for nt in range(nts):
                    raw = self.read(Mem.ACC, base + (mt * nts + nt) * R, R, requant=True, scale_addr=sbase + nt)
                    blk[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C] = g.unpack_words(raw, Mem.ACC, requant=True)
        out[m0:m1, n0:n1] = blk[:m1 - m0, :n1 - n0]
