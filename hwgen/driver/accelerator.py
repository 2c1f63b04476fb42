"""The host driver: GEMMs of any shape on a generated accelerator, through any transport.

The same code runs against NumPy (``golden``), the Verilated RTL (``verilator``) and a
board (``serial:…``): it only builds request frames and checks response frames.
Corrupted, truncated or lost frames are retried (a retried RUN is never executed twice:
the device remembers the last RUN's tag); argument errors raise :class:`DeviceError`;
no answer after the retries raises :class:`DeviceTimeout`. Wrong numbers are never returned
silently: every response is CRC-checked and every command's status is checked.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numpy as np

from .. import config
from ..config import GROUP_LOG2_MAX, HwgenConfig
from ..numerics import LowBitFormat, parse_lowbit
from ..soc.layout import Geometry, pack_words
from ..soc.protocol import (MAX_PAYLOAD, READ_FORMAT, RUN_ACCUMULATE, RUN_ASYNC, RUN_FORMAT, RUN_GROUP_FORMAT,
                            RUN_GROUPED, RUN_W_PIM, RUN_WFMT_SHIFT, Cmd, Mem, SOF_RSP, ProtocolError, Reg, ResponseFrame,
                            Status, parse_response, request)
from .tiling import Tiling
from .transports import Transport, open_transport

__all__ = ["Accelerator", "Requant", "GroupScales", "DeviceError", "DeviceTimeout", "Stats"]

_RETRY = (Status.BAD_HEADER, Status.BAD_CRC, Status.TRUNCATED)
SOF_RSP_BYTE = bytes([SOF_RSP])


def _answer(raw: bytes, tag: int) -> tuple[ResponseFrame | None, str]:
    """The response in ``raw`` that answers request ``tag`` (one with that tag, else the first
    whole frame, e.g. ``BAD_HEADER``, which carries no tag), or None and what was wrong.
    Frames of other tags before it are stale answers to damaged exchanges."""
    frames, problem, pos = [], None, raw.find(SOF_RSP_BYTE)
    while pos >= 0:
        try:
            rsp = parse_response(raw[pos:])
        except ProtocolError as e:
            problem = problem or f"corrupted response ({e})"
            pos = raw.find(SOF_RSP_BYTE, pos + 1)
            continue
        if rsp is None:
            problem = problem or "no complete response"
            break
        frames.append(rsp)
        pos = raw.find(SOF_RSP_BYTE, pos + rsp.size)
    for rsp in frames:
        if rsp.tag == tag:
            return rsp, ""
    if frames:
        return frames[0], ""
    return None, problem or ("no complete response" if raw else "no response")


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
class GroupScales:
    """A group-quantized layer for a LUT engine with ``dequant: group``: every ``size`` input
    channels (``depth · 2**l`` for some l ≤ 7) column n has the integer fixed-point scale
    ``scale[G, n]`` and zero point ``zero[G, n]`` (signed 16-bit; (K/size, N) each). The
    engine computes Σ_G scale·(a·q over G) + zero·(Σ a over G) in one RUN per chunk
    (:func:`hwgen.golden.lut.grouped_gemm`)."""
    size: int
    scale: np.ndarray
    zero: np.ndarray | None = None


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
    runs: int = 0               # RUN commands (each retried one once)
    gemvs: int = 0              # GEMV commands (PIM banks)
    gemv_cycles: int = 0        # device cycles inside GEMV commands
    stores: int = 0             # STORE commands (PIM banks: K/V rows written on chip)
    store_cycles: int = 0       # device cycles inside STORE commands

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
        self._gemv_running = False
        self.stats = Stats()
        self._check_identity()
        if self.geo.pim is not None:
            from .pim import PimDriver
            #: the PIM banks' driver (:class:`hwgen.driver.pim.PimDriver`): resident weights, KV caches, GEMVs
            self.pim = PimDriver(self)

    @classmethod
    def open(cls, cfg: HwgenConfig | str | os.PathLike, transport: str = "golden", *, log=None,
             **kw) -> "Accelerator":
        """Connect to ``cfg``'s accelerator over ``transport`` (``golden``, ``verilator``,
        ``serial:/dev/ttyUSB1@1000000``) and check it runs exactly this design. ``cfg`` is a
        :class:`~hwgen.config.HwgenConfig` or the path of its YAML file."""
        if isinstance(cfg, (str, os.PathLike)):
            cfg = config.load(cfg)
        elif not isinstance(cfg, HwgenConfig):
            raise TypeError(f"Accelerator.open needs a HwgenConfig or the path of a config YAML file, "
                            f"got {type(cfg).__name__}")
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
                # whatever a damaged exchange still has on its way (answers to garbage, a
                # partial frame timing out) must not be taken for the retry's answer
                self.stats.link_bytes_in += self.transport.drain()
            self.stats.commands += 1
            self.stats.link_bytes_out += len(frame)
            raw = self.transport.exchange(frame, timeout=self.timeout)
            self.stats.link_bytes_in += len(raw)
            rsp, problem = _answer(raw, tag)
            if rsp is None:
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
            out_base: int = 0, accumulate: bool = False, prec: int | None = None, wfmt: int = 0,
            groups: tuple[int, int] | None = None, wait: bool = True, w_pim: bool = False) -> int | None:
        """One RUN; returns the device's cycle count for it. With ``wait=False`` it returns at
        once (the device keeps computing; :meth:`wait` collects the cycle count). ``prec`` is
        a bit-serial or LUT engine's weight bits − 1, ``wfmt`` a LUT engine's weight kind
        (:attr:`hwgen.numerics.LowBitFormat.code`), ``groups`` a group-quantized RUN's
        (group_log2, scale_base) on an engine with group dequantization."""
        prec = self.cfg.array.pe.w.bits - 1 if prec is None else prec
        flags = ((RUN_ACCUMULATE if accumulate else 0) | (0 if wait else RUN_ASYNC) | (wfmt << RUN_WFMT_SHIFT)
                 | (RUN_W_PIM if w_pim else 0))
        if groups is not None:
            flags |= RUN_GROUPED
        self.stats.runs += 1
        payload = RUN_FORMAT.pack(m_tiles, n_tiles, k_beats, a_base, w_base, out_base, flags, prec)
        if self.geo.grouped:
            payload += RUN_GROUP_FORMAT.pack(*(groups or (0, 0)))
        answer = self.command(Cmd.RUN, payload=payload)
        if not wait:
            self._running = True
            return None
        cycles = struct.unpack("<I", answer)[0]
        self.stats.gemm_cycles += cycles
        return cycles

    def wait(self) -> int:
        """Wait for an asynchronous RUN (and GEMV) to finish; returns the RUN's cycles (each
        command's cycles are counted once in :attr:`stats`)."""
        answer = self.command(Cmd.WAIT)
        cycles = struct.unpack_from("<I", answer)[0]
        if self._running:
            self.stats.gemm_cycles += cycles
            self._running = False
        if self._gemv_running:
            self.stats.gemv_cycles += struct.unpack_from("<I", answer, 4)[0]
            self._gemv_running = False
        return cycles

    def set_reg(self, reg: Reg, value: int) -> None:
        self.command(Cmd.SET, addr=int(reg), payload=struct.pack("<I", value))

    def regs(self) -> dict:
        raw = self.command(Cmd.REGS)
        return {r.name.lower(): struct.unpack_from("<I", raw, 4 * i)[0] for i, r in enumerate(self.geo.regs)}

    def reset(self) -> None:
        self.command(Cmd.RESET)
        self.stats = Stats()

    def stats_dict(self) -> dict:
        self.stats.regs = self.regs()
        return self.stats.as_dict()

    # -- PIM banks (soc.pim): the names the docs use; the work is in hwgen.driver.pim
    def pim_load(self, w, fmt="int8", name: str = "weights"):
        """Make ``w`` (K×N) resident in the PIM banks; returns its handle (:class:`hwgen.driver.pim.PimWeights`)."""
        return self._pim().load(w, fmt, name)

    def gemv(self, handle, x) -> np.ndarray:
        """``x @ W`` for a resident ``W`` in the PIM banks (x: K int8 values)."""
        return self._pim().gemv(handle, x)

    def _pim(self):
        if self.geo.pim is None:
            from .pim import PimError
            raise PimError(f"{self.cfg.name} has no PIM banks (add soc.pim to its config: docs/pim.md)")
        return self.pim

    # -- GEMM
    def gemm(self, a, w, *, requant: Requant | None = None, w_fmt: LowBitFormat | str | None = None,
             groups: GroupScales | None = None, bias=None) -> np.ndarray:
        """``a @ w`` (M×K @ K×N) with the engine's accumulator semantics; with ``requant``,
        the output stage's result in ``soc.out``. Tiles, pads and chunks itself
        (:mod:`hwgen.driver.tiling`).

        ``bias`` (N integers within the accumulator's width; an engine whose accumulators
        wrap) is each column's initial accumulator: written into the accumulator memory
        before a block's first RUN, which then accumulates onto it, so the output stage
        scales ``bias + a @ w`` (``hwgen.golden.gemm(a, w, c=bias)``).

        On a LUT engine ``w`` holds values of the low-bit format ``w_fmt`` (``"int2"``,
        ``"uint4"``, ``"ternary"``, ``"binary"``, ``"bipolar3"`` …; default two's complement of
        the engine's widest bits), checked before anything is sent; they travel and are
        stored as bit-planes, ``w_fmt.bits`` bits per weight. With ``groups`` (an engine with
        ``dequant: group``) the engine rescales every group's partial sums itself
        (:class:`GroupScales`); the result is then that layer's fixed-point output.

        Double-buffered: every memory is used as two halves, and while the device computes
        one chunk (an asynchronous RUN) the next chunk's operands are written into the other
        half, so host-link writes overlap compute. A rows stay resident while only the N
        chunk changes."""
        a, w = np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.int64)
        if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
            raise ValueError(f"gemm needs (M, K) @ (K, N), got {a.shape} @ {w.shape}")
        pe, g = self.cfg.array.pe, self.geo
        pe.a.check(a, "a")
        fmt = self._w_format(w_fmt)
        if fmt is None:
            pe.w.check(w, "w")
        else:
            fmt.check(w, "w")
        gs = self._check_groups(groups, w.shape) if groups is not None else None
        init = None if bias is None else np.broadcast_to(self._check_bias(bias, w.shape[1]), (a.shape[0], w.shape[1]))
        if gs is not None and requant is not None:
            raise ValueError("requant and group scales share the scale memory: requantize a group-quantized "
                             "layer's result on the host (hwgen.golden.requant)")
        scale = None
        if requant is not None:
            if g.transposed:
                raise ValueError("an input-stationary engine computes Cᵀ, and the output stage scales per "
                                 "column of that; requantize on the host (hwgen.golden.requant) instead")
            scale = np.asarray(requant.scale, dtype=np.int64).reshape(-1)
            if scale.shape != (w.shape[1],):
                raise ValueError(f"requant.scale must have N = {w.shape[1]} entries, got {scale.shape}")
            self.set_reg(Reg.SHIFT, requant.shift)
            self.set_reg(Reg.RELU, int(requant.relu))
        if g.transposed:  # the WS grid on Cᵀ = Wᵀ Aᵀ
            return self._gemm(w.T, a.T, None, init=None if init is None else init.T).T
        return self._gemm(a, w, scale, fmt, gs, init)

    def _check_bias(self, bias, n: int) -> np.ndarray:
        pe = self.cfg.array.pe
        b = np.asarray(bias)
        if b.shape != (n,) or (b.size and b.dtype.kind not in "iu"):
            raise ValueError(f"bias must be N = {n} integers, got shape {b.shape} of {b.dtype}")
        lo, hi = -(1 << (pe.acc - 1)), (1 << (pe.acc - 1)) - 1
        if b.size and (int(b.min()) < lo or int(b.max()) > hi):
            raise ValueError(f"bias values must fit the {pe.acc}-bit accumulator ({lo}..{hi}); got "
                             f"{int(b.min())}..{int(b.max())}")
        if pe.overflow != "wrap":
            raise ValueError(f"a bias needs accumulators that wrap; {self.cfg.name} saturates (pe.overflow: "
                             f"{pe.overflow}), and bias + a·w would clamp differently from the sum")
        return b.astype(np.int64)

    def _check_groups(self, groups: GroupScales, w_shape) -> tuple[int, np.ndarray, np.ndarray]:
        """(group beats, scale, zero) after checking ``groups`` against the engine and W."""
        if not self.geo.grouped:
            raise ValueError(f"group scales need a LUT engine with dequant: group; {self.cfg.name} is "
                             f"{self.cfg.array.kind}" + (f" with dequant: {self.cfg.array.dequant}" if self.geo.lut else ""))
        k, n = w_shape
        d = self.cfg.array.depth
        beats = groups.size // d
        if groups.size % d or beats & (beats - 1) or not 1 <= beats <= 1 << GROUP_LOG2_MAX:
            raise ValueError(f"group size {groups.size} must be {d}·2^l channels (l = 0..{GROUP_LOG2_MAX}) on "
                             f"this engine (depth {d})")
        n_g = -(-k // groups.size)
        scale = np.asarray(groups.scale)
        zero = np.zeros_like(scale) if groups.zero is None else np.asarray(groups.zero)
        for name, x in (("scale", scale), ("zero", zero)):
            if x.shape != (n_g, n):
                raise ValueError(f"groups.{name} must be (⌈K/size⌉, N) = {(n_g, n)}, got {x.shape}")
            if x.dtype.kind not in "iu" or (x.size and (x.min() < -32768 or x.max() > 32767)):
                raise ValueError(f"groups.{name} must be signed 16-bit integers (fixed point: "
                                 "hwgen.golden.lut.fixed_point_scales)")
        return beats, scale.astype(np.int64), zero.astype(np.int64)

    def _w_format(self, w_fmt) -> LowBitFormat | None:
        """A LUT engine's weight format (checked against what the engine stores); None otherwise."""
        if not self.geo.lut:
            if w_fmt is not None:
                raise ValueError(f"w_fmt is for LUT engines; {self.cfg.name} is {self.cfg.array.kind} "
                                 f"(its weights are {self.cfg.array.pe.w})")
            return None
        bits = self.cfg.array.pe.w.bits
        fmt = LowBitFormat("int", bits) if w_fmt is None else (
            w_fmt if isinstance(w_fmt, LowBitFormat) else parse_lowbit(w_fmt))
        if fmt.bits > bits:
            raise ValueError(f"{self.cfg.name} stores weights of up to {bits} bits (pe.w: {self.cfg.array.pe.w}); "
                             f"{fmt} has {fmt.bits}")
        return fmt

    def _gemm(self, a: np.ndarray, w: np.ndarray, scale, fmt: LowBitFormat | None = None, groups=None,
              init: np.ndarray | None = None) -> np.ndarray:
        plan = Tiling(self.geo, a.shape[0], a.shape[1], w.shape[1], requant=scale is not None, w_fmt=fmt,
                      group_beats=groups[0] if groups else 0)
        out = np.zeros((a.shape[0], w.shape[1]), dtype=np.int64)
        pending = None  # (job, accumulator half) of the RUN computing on the device
        block, a_key, a_half = -1, None, 1
        for idx, job in enumerate(plan.jobs):
            block += job.chunk == 0
            w_half, acc_half = idx % 2, block % 2
            a_bytes, w_bytes = plan.operands(job, a, w)
            if (job.m0, job.m1, job.k0, job.k1) != a_key:  # A stays resident across N chunks
                a_key, a_half = (job.m0, job.m1, job.k0, job.k1), a_half ^ 1
                self.write(Mem.A, a_half * plan.ha, a_bytes)   # overlaps the pending RUN
            self.write(Mem.W, w_half * plan.hw, w_bytes)
            if pending is not None:
                self.wait()
                self._collect(plan, *pending, out, scale)
            m_tiles, n_tiles, k_beats = plan.run_shape(job)
            lut = {} if fmt is None else {"prec": fmt.bits - 1, "wfmt": fmt.code}
            if groups:
                self.write(Mem.SCALE, w_half * plan.hsc, plan.group_scales(job, groups[1], groups[2]))
                lut["groups"] = (groups[0].bit_length() - 1, w_half * plan.hsc)
            if init is not None and job.chunk == 0:   # the block's initial accumulators (a bias)
                self.write(Mem.ACC, acc_half * plan.hacc, self._init_words(plan, job, init))
            self.run(m_tiles, n_tiles, k_beats, a_base=a_half * plan.ha, w_base=w_half * plan.hw,
                     out_base=acc_half * plan.hacc, accumulate=job.chunk > 0 or init is not None, wait=False, **lut)
            pending = (job, acc_half)
        if pending is not None:
            self.wait()
            self._collect(plan, *pending, out, scale)
        return out

    def _init_words(self, plan, job, init: np.ndarray) -> bytes:
        """A block's accumulator words holding ``init`` where its results will be (zeros in
        the padding), in :meth:`Tiling.result_words` order, as :meth:`_collect` reads them."""
        g = self.geo
        runs = plan.result_words(job)
        words = np.zeros((sum(r[3] for r in runs), g.C), dtype=np.int64)
        for first, row, col, count, _ in runs:
            r0, c0 = job.m0 + row, job.n0 + col
            rows, cols = max(0, min(count, job.m1 - r0)), max(0, min(g.C, job.n1 - c0))
            words[first:first + rows, :cols] = init[r0:r0 + rows, c0:c0 + cols]
        return pack_words(words, self.cfg.array.pe.acc, g.word_bytes(Mem.ACC))

    def _collect(self, plan, job, acc_half, out, scale) -> None:
        """After a job's RUN: if it was its block's last K chunk, read the block's results."""
        if not job.last:
            return
        self.stats.gemm_macs += (job.m1 - job.m0) * (job.n1 - job.n0) * job.k1  # the last chunk ends at K
        g = self.geo
        base, sbase = acc_half * plan.hacc, acc_half * plan.hsc
        if scale is not None:
            self.write(Mem.SCALE, sbase, g.pack_scale(scale[job.n0:job.n1]))
        runs = plan.result_words(job)
        if scale is None:  # the runs are consecutive: one READ for all of them
            every = g.unpack_words(self.read(Mem.ACC, base, sum(r[3] for r in runs)), Mem.ACC)
        for first, row, col, count, nt in runs:
            if scale is None:
                words = every[first:first + count]
            else:
                raw = self.read(Mem.ACC, base + first, count, requant=True, scale_addr=sbase + nt)
                words = g.unpack_words(raw, Mem.ACC, requant=True)
            r0, c0 = job.m0 + row, job.n0 + col
            rows, cols = min(count, job.m1 - r0), min(g.C, job.n1 - c0)
            out[r0:r0 + rows, c0:c0 + cols] = words[:rows, :cols]
