"""Memory geometry of the accelerator: word widths, byte sizes, and how GEMM operands are
laid out in the scratchpads. Shared by the hardware, the golden device and the driver.

Engines with the output-stationary contract (systolic OS, cube, 2D-matrix, bit-serial)
run on the accelerator. One *beat* of the engine is one scratchpad word:

* A scratchpad, M tile ``mt``: words ``a_base + mt·Kb + kb`` hold the engine's ``a`` beat
  ``kb`` (R values ``A[mt·R + r, kb]``, or an R×D block for dot-product engines);
* W scratchpad, N tile ``nt``: words ``w_base + nt·Kb + kb`` hold the ``w`` beat ``kb``;
* accumulator memory: the R rows of tile (mt, nt) at ``out_base + (mt·NT + nt)·R + r``,
  C accumulators each;
* scale memory: word ``s`` holds C unsigned 16-bit output scales.

A LUT engine's W words are bit-planes: word ``w_base + (nt·Kb + kb)·b + i`` holds bit i of
the codes of the D×C block (b-bit weights take b words per block: a layer's weights are
stored, and travel, at exactly b bits each).

A word travels on the host link as ``ceil(bits / 8)`` bytes, little-endian, element 0 in
the low bits (``hwgen.sim.schedule.pack``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import HwgenConfig
from .protocol import BASE_REGS, Mem, Reg

__all__ = ["Geometry", "SCALE_BITS", "SUPPORTED_KINDS", "UnsupportedEngine", "pack_words", "unpack_words"]

SCALE_BITS = 16
SUPPORTED_KINDS = ("systolic", "cube", "matrix2d", "bit_serial", "adder_tree", "lut")


def _nbytes(bits: int) -> int:
    return (bits + 7) // 8


def pack_words(values: np.ndarray, bits: int, nbytes: int) -> bytes:
    """Rows of ``values`` (words × elements) as little-endian words of ``nbytes`` bytes,
    element 0 in the low ``bits`` bits (vectorized :func:`hwgen.sim.schedule.pack`)."""
    v = np.asarray(values, dtype=np.int64)
    words, n = v.shape
    if bits in (8, 16, 32, 64) and nbytes * 8 == n * bits:   # whole bytes: a cast keeps the low bits
        return v.astype(f"<i{bits // 8}").tobytes()
    if bits in (1, 2, 4) and nbytes * 8 == n * bits:         # several to a byte, none across two
        per = 8 // bits
        u = (v & ((1 << bits) - 1)).astype(np.uint8).reshape(words, nbytes, per)
        return (u << (bits * np.arange(per, dtype=np.uint8))).sum(axis=2, dtype=np.uint8).tobytes()
    u = v.astype(np.uint64) & np.uint64((1 << bits) - 1 if bits < 64 else 0xFFFFFFFFFFFFFFFF)
    b = ((u[:, :, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    flat = np.zeros((words, nbytes * 8), dtype=np.uint8)
    flat[:, :n * bits] = b.reshape(words, n * bits)
    return np.packbits(flat, axis=1, bitorder="little").tobytes()


def unpack_words(data: bytes, bits: int, n: int, nbytes: int, *, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_words`: a (words × n) int64 array."""
    if bits in (8, 16, 32, 64) and nbytes * 8 == n * bits:   # whole bytes: a view
        return np.frombuffer(data, dtype=f"<{'i' if signed else 'u'}{bits // 8}").reshape(-1, n).astype(np.int64)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes)
    b = np.unpackbits(raw, axis=1, bitorder="little")[:, :n * bits].reshape(-1, n, bits).astype(np.uint64)
    u = (b << np.arange(bits, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    out = u.astype(np.int64)
    if signed and bits < 64:
        out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out)
    return out


class UnsupportedEngine(ValueError):
    """The engine cannot run inside the accelerator top (yet)."""


@dataclass(frozen=True)
class Geometry:
    cfg: HwgenConfig

    def __post_init__(self):
        a = self.cfg.array
        if a.kind not in SUPPORTED_KINDS:
            raise UnsupportedEngine(f"the accelerator top runs {', '.join(SUPPORTED_KINDS)} engines; "
                                    f"{self.cfg.name} is {a.kind} (hwgen sim still simulates it)")

    @property
    def contract(self) -> str:
        """``os``: output-stationary streams (a, w → out); ``ws``: weight-stationary streams
        (stationary, streamed + c → out) — systolic WS/IS and adder trees."""
        return "os" if self.cfg.array.dataflow == "output_stationary" else "ws"

    @property
    def lut(self) -> bool:
        """A table-lookup engine: W words are bit-planes (one per weight bit)."""
        return self.cfg.array.kind == "lut"

    @property
    def grouped(self) -> bool:
        """A LUT engine with group dequantization: RUNs may carry group scales."""
        return self.lut and self.cfg.array.dequant == "group"

    @property
    def run_size(self) -> int:
        """Bytes of a RUN payload."""
        from .protocol import RUN_FORMAT, RUN_GROUP_FORMAT
        return RUN_FORMAT.size + (RUN_GROUP_FORMAT.size if self.grouped else 0)

    @property
    def view(self):
        """The array as the engine computes it: input-stationary runs the WS grid on
        Cᵀ = Wᵀ Aᵀ, with the operand formats exchanged (``hwgen.arrays.systolic.ws_view``)."""
        from ..arrays.systolic import ws_view
        return ws_view(self.cfg.array)

    @property
    def transposed(self) -> bool:
        return self.cfg.array.dataflow == "input_stationary"

    # -- PIM banks (soc.pim)
    @property
    def pim(self):
        """The PIM banks' config (:class:`hwgen.config.PimConfig`), or None."""
        return self.cfg.soc.pim

    @property
    def mems(self) -> tuple[Mem, ...]:
        """The memories this accelerator has."""
        return tuple(m for m in Mem if self.pim is not None or m < Mem.PIM)

    @property
    def regs(self) -> tuple[Reg, ...]:
        """Its registers, in REGS order."""
        return tuple(Reg) if self.pim is not None else BASE_REGS

    @property
    def npu_reads_pim(self) -> bool:
        """The engine can take its weight stream from the PIM banks (a RUN with RUN_W_PIM): an
        output-stationary engine whose W word is a PIM word (``8·lanes`` bits)."""
        return (self.pim is not None and self.contract == "os"
                and self.word_bits(Mem.W) == self.pim.word_bits)

    @property
    def pim_store(self) -> bool:
        """The accelerator has STORE (accumulator words requantized into bank words): PIM
        banks of ``lanes`` = the engine's columns, and 16-bit column scales (not a grouped LUT
        engine's)."""
        return self.pim is not None and self.C == self.pim.lanes and not self.grouped and self.C % 2 == 0

    @property
    def wait_size(self) -> int:
        """Bytes of a WAIT answer: the last RUN's cycles (and the last GEMV's)."""
        return 8 if self.pim is not None else 4

    # -- engine beat shapes
    @property
    def R(self) -> int:
        return self.cfg.array.rows

    @property
    def C(self) -> int:
        return self.cfg.array.cols

    @property
    def D(self) -> int:
        return self.cfg.array.depth

    def word_bits(self, mem: Mem, *, requant: bool = False) -> int:
        a, pe = self.cfg.array, self.view.pe
        if mem == Mem.A:
            return a.rows * a.depth * pe.a.bits
        if mem == Mem.W:
            return a.depth * a.cols * (1 if self.lut else pe.w.bits)
        if mem == Mem.ACC:
            return a.cols * (self.cfg.soc.out.bits if requant else pe.acc)
        if mem in (Mem.PIM, Mem.PIM_VEC):
            return self.pim.word_bits
        if mem == Mem.PIM_OUT:
            return self.pim.lanes * self.pim.acc
        return a.cols * SCALE_BITS * (2 if self.grouped else 1)

    def word_bytes(self, mem: Mem, *, requant: bool = False) -> int:
        return _nbytes(self.word_bits(mem, requant=requant))

    def depth(self, mem: Mem) -> int:
        s, p = self.cfg.soc, self.pim
        if Mem(mem) >= Mem.PIM:
            return {Mem.PIM: p.banks * p.rows, Mem.PIM_VEC: (p.banks + 1) * p.vec_words,
                    Mem.PIM_OUT: p.banks * p.out_words}[Mem(mem)]
        return {Mem.A: s.a_words, Mem.W: s.w_words, Mem.ACC: s.acc_words, Mem.SCALE: s.scale_words}[Mem(mem)]

    def info(self) -> bytes:
        """INFO payload: protocol version, engine geometry, formats (bits | 0x80 if signed),
        accumulator bits, memory depths, first 8 bytes of the config hash."""
        import struct

        from .protocol import VERSION
        a, pe, soc = self.cfg.array, self.cfg.array.pe, self.cfg.soc
        fmt = lambda f: f.bits | (0x80 if f.signed else 0)  # noqa: E731
        out = struct.pack("<BBBBBBBBIIII8s", VERSION, a.rows, a.cols, a.depth, fmt(pe.a), fmt(pe.w), pe.acc,
                          fmt(soc.out), soc.a_words, soc.w_words, soc.acc_words, soc.scale_words,
                          bytes.fromhex(self.cfg.content_hash[:16]))
        if self.pim is not None:   # banks, rows, lanes, acc, row buffers, vector and result words
            p = self.pim
            out += struct.pack("<BIBBBHH", p.banks, p.rows, p.lanes, p.acc, p.row_buffers, p.vec_words, p.out_words)
        return out

    # -- operand packing (host side)
    def k_beats(self, k: int) -> int:
        return max(1, -(-k // self.D))

    # weight-stationary contract: A words (kt, m) = A[m, kt·R:(kt+1)·R] (the streamed operand),
    # W words (kt, nt, r) = W[kt·R + r, nt·C:(nt+1)·C] (the stationary one), results (nt, m)
    def pack_a_ws(self, a: np.ndarray) -> bytes:
        R, bits = self.R, self.view.pe.a.bits
        m, k = a.shape
        kt = max(1, -(-k // R))
        pad = np.zeros((m, kt * R), dtype=np.int64)
        pad[:, :k] = a
        return pack_words(pad.reshape(m, kt, R).transpose(1, 0, 2).reshape(-1, R), bits, self.word_bytes(Mem.A))

    def pack_w_ws(self, w: np.ndarray) -> bytes:
        R, C, bits = self.R, self.C, self.view.pe.w.bits
        k, n = w.shape
        kt, nt = max(1, -(-k // R)), -(-n // C)
        pad = np.zeros((kt * R, nt * C), dtype=np.int64)
        pad[:k, :n] = w
        return pack_words(pad.reshape(kt, R, nt, C).transpose(0, 2, 1, 3).reshape(-1, C), bits, self.word_bytes(Mem.W))

    def pack_a(self, a: np.ndarray) -> bytes:
        """A (M×K, M a multiple of R after padding) as A-scratchpad words, M tiles outer."""
        R, D, bits = self.R, self.D, self.cfg.array.pe.a.bits
        m, k = a.shape
        kb = self.k_beats(k)
        pad = np.zeros((-(-m // R) * R, kb * D), dtype=np.int64)
        pad[:m, :k] = a
        # word (mt, b) holds the R×D block A[mt·R + r, b·D + d] as element r·D + d
        blocks = pad.reshape(-1, R, kb, D).transpose(0, 2, 1, 3).reshape(-1, R * D)
        return pack_words(blocks, bits, self.word_bytes(Mem.A))

    def pack_w(self, w: np.ndarray) -> bytes:
        """W (K×N) as W-scratchpad words, N tiles outer."""
        C, D, bits = self.C, self.D, self.cfg.array.pe.w.bits
        k, n = w.shape
        kb = self.k_beats(k)
        pad = np.zeros((kb * D, -(-n // C) * C), dtype=np.int64)
        pad[:k, :n] = w
        # word (nt, b) holds the D×C block W[b·D + d, nt·C + j] as element d·C + j
        blocks = pad.reshape(kb, D, -1, C).transpose(2, 0, 1, 3).reshape(-1, D * C)
        return pack_words(blocks, bits, self.word_bytes(Mem.W))

    def pack_w_planes(self, codes: np.ndarray, bits: int) -> bytes:
        """A LUT engine's W (K×N unsigned codes of ``bits``-bit weights) as bit-plane words:
        N tiles outer, then K blocks, then planes LSB first."""
        C, D = self.C, self.D
        k, n = codes.shape
        kb = self.k_beats(k)
        pad = np.zeros((kb * D, -(-n // C) * C), dtype=np.int64)
        pad[:k, :n] = codes
        blocks = pad.reshape(kb, D, -1, C).transpose(2, 0, 1, 3).reshape(-1, 1, D * C)
        planes = (blocks >> np.arange(bits, dtype=np.int64).reshape(1, -1, 1)) & 1
        return pack_words(planes.reshape(-1, D * C), 1, self.word_bytes(Mem.W))

    def pack_scale(self, scale: np.ndarray) -> bytes:
        """Per-column scales (N,) as scale words (C per word, zero-padded; with group
        dequantization each column's lane is 32 bits, the output scale in its low half)."""
        C = self.C
        n = len(scale)
        pad = np.zeros(-(-n // C) * C, dtype=np.int64)
        pad[:n] = scale
        return pack_words(pad.reshape(-1, C), SCALE_BITS * (2 if self.grouped else 1), self.word_bytes(Mem.SCALE))

    def pack_group_scales(self, scale: np.ndarray, zero: np.ndarray) -> bytes:
        """Group scales and zero points ((groups, N) signed 16-bit integers each) as scale
        words, N tiles outer, then groups: column j's lane holds ``scale`` in its low 16 bits
        and ``zero`` in its high 16."""
        C = self.C
        groups, n = scale.shape
        nt = -(-n // C)
        lanes = np.zeros((groups, nt * C), dtype=np.int64)
        lanes[:, :n] = (np.asarray(scale, dtype=np.int64) & 0xFFFF) | ((np.asarray(zero, dtype=np.int64) & 0xFFFF) << 16)
        words = lanes.reshape(groups, nt, C).transpose(1, 0, 2).reshape(-1, C)
        return pack_words(words, 2 * SCALE_BITS, self.word_bytes(Mem.SCALE))

    def unpack_words(self, data: bytes, mem: Mem, *, requant: bool = False) -> np.ndarray:
        """Words read back from memory ``mem`` as a (words × elements) int64 array."""
        nb = self.word_bytes(mem, requant=requant)
        if mem == Mem.ACC:
            bits, n, signed = ((self.cfg.soc.out.bits, self.C, self.cfg.soc.out.signed) if requant
                               else (self.cfg.array.pe.acc, self.C, True))
        elif mem == Mem.A:
            bits, n, signed = self.view.pe.a.bits, self.R * self.D, self.view.pe.a.signed
        elif mem == Mem.W and self.lut:
            bits, n, signed = 1, self.D * self.C, False
        elif mem == Mem.W:
            bits, n, signed = self.view.pe.w.bits, self.D * self.C, self.view.pe.w.signed
        elif mem in (Mem.PIM, Mem.PIM_VEC):   # raw bytes (a word's elements depend on their format)
            bits, n, signed = 8, self.pim.lanes, mem == Mem.PIM_VEC
        elif mem == Mem.PIM_OUT:
            bits, n, signed = self.pim.acc, self.pim.lanes, True
        elif self.grouped:   # lanes of (scale, zero point); the output scale is the low half read unsigned
            return unpack_words(data, 2 * SCALE_BITS, self.C, nb, signed=False) & 0xFFFF
        else:
            bits, n, signed = SCALE_BITS, self.C, False
        return unpack_words(data, bits, n, nb, signed=signed)
