"""Differential fuzzing of the host link: random request streams fed to the Verilated
accelerator and to the golden device, whose answers must be identical byte for byte.

A stream is a sequence of *chunks*; a chunk is one to three request frames of any command
(:class:`~hwgen.soc.protocol.Cmd`, plus unknown ones) with random and out-of-range fields,
optionally damaged: a flipped bit, garbage before or between frames (with SOF bytes in it),
a frame cut short followed by silence (``TRUNCATED``) or by the next frame, a header that
announces a long payload which never comes. Both devices get the same bytes; the RTL's
bytes are compared with the golden device's, frame by frame. What only the RTL can know is
left out of the comparison and nothing else: a successful ``RUN``'s and ``WAIT``'s cycle
count (measured by the RTL, modeled by the golden device), and ``REGS``'s ``cycles`` and
``busy`` counters. Every other register (bytes in and out, bad frames, garbage, engine
beats, runs, shift, ReLU) must match exactly.

Everything follows from one seed (:func:`fuzz_link`'s ``seed``), printed by the tests and the
bench: a mismatch names the seed and the chunk, and the same seed replays the same stream.
Every command of the protocol has a generator in :data:`GENERATORS`; a command added to
:class:`Cmd` without one fails the test suite.

An asynchronous ``RUN`` leaves the RTL busy for a while but not the golden device (it
computes at once), so such a ``RUN`` ends its chunk and the next chunk is a ``WAIT``:
the ``BUSY`` rules themselves are tested in ``tests/soc/test_accelerator_rtl.py``.
"""
from __future__ import annotations

import struct
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from ..config import GROUP_LOG2_MAX, HwgenConfig
from ..soc.golden_device import GoldenDevice, run_needs, scale_needs
from ..soc.layout import Geometry
from ..soc.link import commands
from ..soc.protocol import (GEMV_FORMAT, READ_FORMAT, REQ_HEADER, RUN_ASYNC, RUN_FORMAT, RUN_GROUP_FORMAT, RUN_GROUPED,
                            RUN_W_PIM, SOF_REQ, Cmd, Mem, ProtocolError, Reg, Status, crc16, parse_response, request)
from ..soc.top import link_timeout

__all__ = ["GENERATORS", "RequestGen", "Chunk", "LinkMismatch", "FuzzStats", "fuzz_link", "split_frames"]


class LinkMismatch(AssertionError):
    """The RTL and the golden device answered a chunk differently."""


@dataclass
class Chunk:
    """Bytes sent at once; ``idle``: the link then goes quiet (a partial frame times out)."""
    data: bytes
    labels: list[str]
    idle: bool = False
    ends_async: bool = False     # ends with an asynchronous RUN: the next chunk must WAIT


@dataclass
class FuzzStats:
    chunks: int = 0
    frames: int = 0              # request frames generated (damaged or not)
    bytes: int = 0
    responses: int = 0           # response frames compared
    cmds: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    damage: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"chunks": self.chunks, "frames": self.frames, "bytes": self.bytes, "responses": self.responses,
                "commands": dict(sorted(self.cmds.items())), "statuses": dict(sorted(self.statuses.items())),
                "damage": dict(sorted(self.damage.items()))}


class RequestGen:
    """Random request frames for ``geo``'s accelerator, from ``rng``."""

    def __init__(self, geo: Geometry, rng: np.random.Generator):
        self.geo, self.rng = geo, rng
        self.last_run: bytes | None = None

    # -- field helpers
    def _int(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def _chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _bytes(self, n: int) -> bytes:
        """Random bytes, with SOF bytes (request and response) more common than chance."""
        out = bytearray(self.rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        for i in range(n):
            if self._chance(0.08):
                out[i] = SOF_REQ if self._chance(0.7) else 0x5A
        return bytes(out)

    def tag(self) -> int:
        return self._int(0, 255)

    def mem(self) -> int:
        return self._int(0, len(self.geo.mems) - 1) if self._chance(0.9) else self._int(len(self.geo.mems), 255)

    def addr(self, mem: int, words: int = 1) -> int:
        """Mostly inside the memory, often at its edges, sometimes anywhere in 32 bits."""
        # (a memory id past the last: as deep as one that exists, so its checks are reached)
        depth = self.geo.depth(mem if mem < len(self.geo.mems) else self._int(0, len(self.geo.mems) - 1))
        r = self.rng.random()
        if r < 0.6:
            return self._int(0, max(0, depth - words))
        if r < 0.9:
            return max(0, depth - words + self._int(-1, 2))
        return self._int(0, 2**32 - 1)

    def _resize(self, payload: bytes) -> bytes:
        """Sometimes a payload one byte short or long, or none."""
        r = self.rng.random()
        if r < 0.04:
            return payload[:-1]
        if r < 0.08:
            return payload + self._bytes(1)
        if r < 0.10:
            return b""
        return payload

    # -- one generator per command: (label, mem, addr, payload)
    def info(self):
        return "info", 0, self._int(0, 3), self._extra()

    def regs(self):
        return "regs", 0, 0, self._extra()

    def reset(self):
        return "reset", 0, 0, self._extra()

    def wait(self):
        return "wait", 0, 0, self._extra()

    def _extra(self) -> bytes:
        """A command that takes no payload: sometimes one anyway (SOF bytes likely in it)."""
        return self._bytes(self._int(1, 12)) if self._chance(0.1) else b""

    def write(self):
        mem = self.mem()
        nb = self.geo.word_bytes(mem) if mem < len(self.geo.mems) else self._int(1, 8)
        words = self._int(0, 6)
        addr = self.addr(mem, max(words, 1))
        payload = self._bytes(words * nb)
        if self._chance(0.1):
            payload = payload[:-1] if payload and self._chance(0.5) else payload + self._bytes(self._int(1, nb))
        return "write", mem, addr, payload

    def read(self):
        mem = self.mem()
        count = self._int(0, 6) if self._chance(0.95) else self._int(0, 0xFFFF)
        mode = self._int(0, 1) if self._chance(0.9) else self._int(0, 255)
        scale = self._int(0, self.geo.depth(Mem.SCALE)) if self._chance(0.9) else self._int(0, 0xFFFF)
        return "read", mem, self.addr(mem, max(count, 1)), self._resize(READ_FORMAT.pack(count, mode, scale))

    def run(self):
        if self.last_run is not None and self._chance(0.05):
            return "run resent", None, None, self.last_run
        geo = self.geo
        m, n, k = self._int(1, 4), self._int(1, 3), self._int(1, 4)
        if self._chance(0.05):
            m, n, k = (self._int(0, 2**16 - 1) if self._chance(0.3) else v for v in (m, n, k))
        bits = geo.cfg.array.pe.w.bits
        if geo.lut:   # the weight bits and kind matter: mostly ones the engine has, sometimes not
            prec = self._int(0, bits - 1) if self._chance(0.9) else self._int(0, 255)
        else:
            prec = bits - 1 if geo.cfg.array.kind == "bit_serial" else self._int(0, 255)
        bases = []
        for mem, need in zip((Mem.A, Mem.W, Mem.ACC), run_needs(geo, m, n, k, prec)):
            room = geo.depth(mem) - need
            bases.append(self._int(0, room) if room >= 0 and self._chance(0.9) else self.addr(mem))
        flags = self._int(0, 15 if geo.lut else 3) if self._chance(0.9) else self._int(0, 255)
        if geo.npu_reads_pim and self._chance(0.4):   # the weights from the PIM banks
            flags |= RUN_W_PIM
            need = run_needs(geo, m, n, k, prec)[1]
            room = geo.depth(Mem.PIM) - need
            bases[1] = self._int(0, room) if room >= 0 and self._chance(0.9) else self.addr(Mem.PIM)
        payload = RUN_FORMAT.pack(m, n, k, *bases, flags, prec)
        if geo.grouped:   # group-quantized RUNs: mostly, with groups and scale words that fit
            if self._chance(0.7):
                flags |= RUN_GROUPED
            gl = self._int(0, GROUP_LOG2_MAX) if self._chance(0.9) else self._int(0, 255)
            room = geo.depth(Mem.SCALE) - scale_needs(n, k, RUN_GROUPED, min(gl, 15))
            sbase = self._int(0, room) if room >= 0 and self._chance(0.9) else self.addr(Mem.SCALE)
            payload = RUN_FORMAT.pack(m, n, k, *bases, flags, prec) + RUN_GROUP_FORMAT.pack(gl, sbase)
        return "run", 0, self._int(0, 3) if self._chance(0.05) else 0, self._resize(payload)

    def gemv(self):
        """A GEMV (PIM banks): mostly one whose walk, vector and results fit, sometimes not."""
        from ..golden.pim import DOT
        from ..memory.pim import fmt_code
        p = self.geo.pim
        if p is None:   # an accelerator without banks: any payload (UNKNOWN_CMD)
            return "gemv", 0, 0, self._bytes(self._int(0, 24))
        mode = self._int(0, 1) if self._chance(0.95) else self._int(0, 255)
        fmt = p.formats[self._int(0, len(p.formats) - 1)]
        code = fmt_code(fmt) if self._chance(0.9) else self._int(0, 255)
        outer, inner = self._int(1, 6), self._int(1, 6)
        if self._chance(0.05):
            outer, inner = (self._int(0, 2**16 - 1) if self._chance(0.3) else v for v in (outer, inner))
        slices = p.rows * (8 // fmt.bits)
        ostride, nstride = self._int(0, 5), self._int(0, 5)
        if self._chance(0.05):
            ostride, nstride = self._int(0, 2**32 - 1), self._int(0, 2**32 - 1)
        span = (max(outer, 1) - 1) * ostride + (max(inner, 1) - 1) * nstride
        room = slices - 1 - span
        base = self._int(0, room) if room >= 0 and self._chance(0.9) else (
            max(0, room + self._int(0, 2)) if self._chance(0.5) else self._int(0, 2**32 - 1))
        vec_need = inner if mode == DOT else -(-inner // p.lanes)
        out_need = -(-outer // p.lanes) if mode == DOT else outer
        vec_base = self._int(0, max(0, p.vec_words - vec_need)) if self._chance(0.9) else self._int(0, 0xFFFF)
        out_base = self._int(0, max(0, p.out_words - out_need)) if self._chance(0.9) else self._int(0, 0xFFFF)
        flags = self._int(0, 3) if self._chance(0.9) else self._int(0, 255)
        return "gemv", 0, 0, self._resize(GEMV_FORMAT.pack(mode, code, flags, 0, outer, inner, base & 0xFFFFFFFF,
                                                           ostride, nstride, vec_base, out_base))

    def store(self):
        """A STORE (PIM banks): mostly a walk inside the three memories, sometimes one that
        leaves one of them at its last step or far away, or bad flags."""
        from ..soc.protocol import STORE_FORMAT
        g = self.geo
        if not g.pim_store:   # no STORE here: any payload (UNKNOWN_CMD)
            return "store", 0, 0, self._bytes(self._int(0, 32))
        n1, n2 = self._int(1, 4), self._int(1, 3)
        huge = self._chance(0.05)   # a count up to 2**16 - 1: with nonzero strides, a walk out of range
        if huge:
            n1, n2 = (self._int(0, 2**16 - 1) if self._chance(0.3) else v for v in (n1, n2))
        pair = self._int(0, 1)
        walks = []
        for depth, top, extra in ((g.depth(Mem.ACC), 0xFFFF, 0), (g.depth(Mem.PIM), 0xFFFFFFFF, 0),
                                  (g.depth(Mem.SCALE), 0xFFFF, pair)):
            s1, s2 = self._int(int(huge), 3), self._int(int(huge), 5)
            if self._chance(0.03):
                s1, s2 = self._int(0, top), self._int(0, top)
            room = depth - 1 - extra - (max(n1, 1) - 1) * s1 - (max(n2, 1) - 1) * s2
            base = self._int(0, room) if room >= 0 and self._chance(0.92) else (
                max(0, room + self._int(1, 2)) if self._chance(0.5) else self._int(0, top))
            walks.append((min(base, top), s1, s2))
        (src, src1, src2), (dst, dst1, dst2), (coef, coef1, coef2) = walks
        flags = pair if self._chance(0.95) else self._int(0, 255)
        shift = self._int(0, 40) if self._chance(0.95) else self._int(0, 255)
        return "store", 0, 0, self._resize(STORE_FORMAT.pack(flags, shift, n1, n2, src, src1, src2, dst, dst1, dst2,
                                                             coef, coef1, coef2))

    def set(self):
        r = self.rng.random()
        reg = (int(self.rng.choice([Reg.SHIFT, Reg.RELU])) if r < 0.8 else self._int(0, len(self.geo.regs) + 2) if r < 0.95
               else self._int(0, 2**32 - 1))
        value = self._int(0, 70) if self._chance(0.7) else self._int(0, 2**32 - 1)
        return "set", 0, reg, self._resize(struct.pack("<I", value))

    def unknown(self):
        known = {int(c) for c in commands(self.geo)}
        cmd = int(self.rng.choice([c for c in range(256) if c not in known]))
        return cmd, self.tag(), 0, self._int(0, 2**32 - 1), self._bytes(self._int(0, 8))

    # -- frames and chunks
    def frame(self) -> tuple[str, bytes, bool]:
        """(label, request bytes, asynchronous RUN) of one random frame."""
        if self._chance(0.05):
            cmd, tag, mem, addr, payload = self.unknown()
            return f"cmd 0x{cmd:02X}", request(cmd, tag, mem=mem, addr=addr, payload=payload), False
        cmd = Cmd(int(self.rng.choice([int(c) for c in Cmd if c in commands(self.geo) or self._chance(0.2)])))
        label, mem, addr, payload = getattr(self, GENERATORS[cmd])()
        if mem is None:   # a frame sent again as it was (a retried RUN)
            frame, payload = payload, payload[1 + REQ_HEADER.size + 2:-2]
        else:
            frame = request(cmd, self.tag(), mem=mem, addr=addr, payload=payload)
        if cmd == Cmd.RUN and mem is not None:
            self.last_run = frame
        is_async = ((cmd == Cmd.RUN and len(payload) == self.geo.run_size
                     and bool(RUN_FORMAT.unpack_from(payload)[6] & RUN_ASYNC))
                    or (cmd == Cmd.GEMV and self.geo.pim is not None and len(payload) == GEMV_FORMAT.size
                        and bool(payload[2] & RUN_ASYNC)))
        return label, frame, is_async

    def chunk(self) -> Chunk:
        parts, labels, idle, ends_async = [], [], False, False
        for _ in range(self._int(1, 3)):
            label, frame, is_async = self.frame()
            r = self.rng.random()
            if r < 0.06:
                i = self._int(0, len(frame) - 1)
                frame = frame[:i] + bytes([frame[i] ^ (1 << self._int(0, 7))]) + frame[i + 1:]
                label += " (bit flipped)"
            elif r < 0.10:
                frame = self._bytes(self._int(1, 6)) + frame
                label += " (garbage before)"
            elif r < 0.13:
                frame = frame[:self._int(1, len(frame) - 1)]
                label += " (cut short)"
                is_async = False
            elif r < 0.14:   # a header announcing a payload that never comes
                hdr = REQ_HEADER.pack(Cmd.WRITE, self.tag(), self._int(0, 3), 0, 0, self._int(1, 0xFFFF))
                frame = bytes([SOF_REQ]) + hdr + struct.pack("<H", crc16(hdr)) + self._bytes(self._int(0, 8))
                label = "write, payload never comes"
            parts.append(frame)
            labels.append(label)
            if is_async:
                ends_async = True
                break
        if self._chance(0.1) and not ends_async:
            idle = True
        return Chunk(b"".join(parts), labels, idle, ends_async)


#: the :class:`RequestGen` method that makes each command's frames (every command has one)
GENERATORS = {Cmd.INFO: "info", Cmd.WRITE: "write", Cmd.READ: "read", Cmd.RUN: "run", Cmd.REGS: "regs",
              Cmd.SET: "set", Cmd.RESET: "reset", Cmd.WAIT: "wait", Cmd.GEMV: "gemv", Cmd.STORE: "store"}


def split_frames(raw: bytes) -> list:
    """The response frames in ``raw``, in order (raises :class:`ProtocolError` on bytes that
    are not a whole frame)."""
    out = []
    while raw:
        rsp = parse_response(raw)
        if rsp is None:
            raise ProtocolError(f"incomplete frame {raw.hex()}")
        out.append(rsp)
        raw = raw[rsp.size:]
    return out


_UNMEASURED = (Reg.CYCLES, Reg.BUSY, Reg.PIM_BUSY, Reg.PIM_STALL, Reg.OVERLAP, Reg.STORE_BUSY)   # REGS words only the RTL can know


def _same(regs, cmd, got, want) -> bool:
    """Whether two responses to ``cmd`` agree (cycle counts aside)."""
    if (got.status, got.tag, len(got.payload)) != (want.status, want.tag, len(want.payload)):
        return False
    if want.status != Status.OK:
        return got.payload == want.payload
    if cmd in (Cmd.RUN, Cmd.WAIT, Cmd.GEMV):
        return True
    if cmd == Cmd.REGS:
        g, w = (list(struct.unpack(f"<{len(regs)}I", r.payload)) for r in (got, want))
        return all(g[i] == w[i] for i, r in enumerate(regs) if r not in _UNMEASURED)
    return got.payload == want.payload


def fuzz_link(cfg: HwgenConfig, *, seed: int, frames: int, sim=None, max_cycles: int = 2_000_000,
              log=None) -> FuzzStats:
    """Send at least ``frames`` random request frames to the Verilated top of ``cfg`` and to
    the golden device; raise :class:`LinkMismatch` at the first answer that differs.
    ``sim``: a :class:`~hwgen.sim.native.NativeSim` to use (built when None)."""
    if sim is None:
        from .native import NativeSim, build_native
        sim = NativeSim(build_native(cfg, log=log))
    gold, gen, stats = GoldenDevice(cfg), RequestGen(Geometry(cfg), np.random.default_rng(seed)), FuzzStats()
    history: deque[Chunk] = deque(maxlen=8)   # the last chunks, quoted by a mismatch
    force_wait = False
    while stats.frames < frames:
        if force_wait:
            chunk = Chunk(request(Cmd.WAIT, gen.tag()), ["wait after an asynchronous run"])
        else:
            chunk = gen.chunk()
        history.append(chunk)
        gold.answered.clear()
        want = gold.feed(chunk.data)
        if chunk.idle:
            want += gold.idle()
        cmds = list(gold.answered)
        n = len(cmds)
        got = sim.xfer(chunk.data, frames=n, max_cycles=max_cycles)
        stats.chunks += 1
        stats.frames += len(chunk.labels)
        stats.bytes += len(chunk.data)
        for label in chunk.labels:
            stats.damage[label.partition(" (")[2].rstrip(")") or "none"] += 1

        def fail(why: str):
            recent = "\n".join(f"  chunk {stats.chunks - len(history) + i}: {', '.join(c.labels)}"
                               f"{' + idle' if c.idle else ''}: {c.data.hex()}" for i, c in enumerate(history))
            raise LinkMismatch(f"{cfg.name}, seed {seed}, chunk {stats.chunks - 1}: {why}\n"
                               f"  RTL    {got.hex()}\n  golden {want.hex()}\nlast chunks:\n{recent}")
        try:
            got_frames = split_frames(got)
        except ProtocolError as e:
            fail(f"the RTL's answer is not whole frames ({e})")
        want_frames = split_frames(want)
        if len(got_frames) != len(want_frames):
            fail(f"the RTL answered {len(got_frames)} frames, the golden device {len(want_frames)}")
        for cmd, g, w in zip(cmds, got_frames, want_frames):
            if not _same(Geometry(cfg).regs, cmd, g, w):
                fail(f"answers to {Cmd(cmd).name if cmd in set(Cmd) else cmd} differ")
            stats.responses += 1
            stats.statuses[w.status.name] += 1
            stats.cmds[Cmd(cmd).name if cmd in set(Cmd) else "unknown" if cmd is not None else "none"] += 1
        force_wait = chunk.ends_async
    # the link goes quiet: a partial frame times out on both, and nothing else comes
    want, tail = gold.idle(), sim.pump(b"", link_timeout(cfg, "stream") + 10_000)
    if tail != want:
        raise LinkMismatch(f"{cfg.name}, seed {seed}: after the last chunk the RTL sent {tail.hex() or 'nothing'}, "
                           f"the golden device {want.hex() or 'nothing'}")
    return stats
