"""How a GEMM of any shape becomes beats on an engine's streams, and back.

Pure Python, no simulator: the cocotb bench replays these beats, and tests check the
schedule itself against ``hwgen.golden`` without hardware.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..arrays.systolic import ws_view
from ..config import ArrayConfig
from ..numerics import LowBitFormat

__all__ = ["pack", "unpack", "OutRef", "Schedule", "schedule_gemm"]


def pack(values, bits: int) -> int:
    """Pack integers (element 0 in the low bits) into one unsigned bit vector."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def unpack(word: int, bits: int, n: int, *, signed: bool = True) -> list[int]:
    """Inverse of :func:`pack`."""
    mask, half = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for i in range(n):
        v = (word >> (i * bits)) & mask
        out.append(v - (1 << bits) if signed and v & half else v)
    return out


@dataclass(frozen=True)
class OutRef:
    """A stream beat that is an earlier output beat (WS K-tile chaining)."""
    index: int


@dataclass
class Schedule:
    """Beats for each input stream, and how output beats map back into the result."""
    inputs: dict[str, list] = field(default_factory=dict)  # stream name -> beats (int or OutRef)
    out_beats: int = 0
    # (out beat index, result row, first col, number of cols) for beats that are final results
    placement: list[tuple[int, int, int, int]] = field(default_factory=list)
    tiles: int = 0
    transposed: bool = False  # the beats compute the result's transpose (input-stationary)
    #: output beats placed at the same spot add up, wrapping at this many bits (group-quantized
    #: LUT tiles: one tile per group); 0: each spot is placed once
    accumulate_bits: int = 0

    def assemble(self, out: list[list[int]], m: int, n: int) -> np.ndarray:
        rows, cols = (n, m) if self.transposed else (m, n)
        result = np.zeros((rows, cols), dtype=object if self.accumulate_bits else np.int64)
        for idx, row, col, width in self.placement:
            if self.accumulate_bits:
                result[row, col:col + width] += np.array(out[idx][:width], dtype=object)
            else:
                result[row, col:col + width] = out[idx][:width]
        if self.accumulate_bits:
            half = 1 << (self.accumulate_bits - 1)
            result = np.array([[(int(v) + half) % (2 * half) - half for v in r] for r in result],
                              dtype=np.int64).reshape(rows, cols)
        return result.T if self.transposed else result


def _pad(vec, n: int) -> list[int]:
    vec = [int(v) for v in vec]
    return vec + [0] * (n - len(vec))


def schedule_gemm(cfg: ArrayConfig, a: np.ndarray, w: np.ndarray, *, w_bits: int | None = None,
                  w_fmt: LowBitFormat | None = None, groups: tuple | None = None) -> Schedule:
    """Beats that compute ``a @ w`` (M×K @ K×N) on the engine ``cfg``, edge tiles zero-padded.

    ``w_bits`` is a bit-serial engine's run-time weight precision (default: the format's);
    ``w_fmt`` a LUT engine's weight format (default: two's complement of ``pe.w.bits``),
    ``groups`` = (size, scale, zero) a group-quantized GEMM on one with ``dequant: group``."""
    if cfg.kind == "lut":
        return _schedule_lut(cfg, np.asarray(a), np.asarray(w), w_fmt or LowBitFormat("int", cfg.pe.w.bits), groups)
    if cfg.kind in ("cube", "matrix2d"):
        return _schedule_os(cfg, np.asarray(a), np.asarray(w))
    if cfg.kind == "bit_serial" and cfg.pe.arith == "mac":
        bits = w_bits or cfg.pe.w.bits
        if not 1 <= bits <= cfg.pe.w.bits:
            raise ValueError(f"w_bits must be 1..{cfg.pe.w.bits}, got {bits}")
        s = schedule_gemm(dataclasses.replace(cfg, kind="systolic", pe=dataclasses.replace(cfg.pe, arith="mac")), a, w)
        R, ab = cfg.rows, cfg.pe.a.bits
        s.inputs["a"] = [b | ((bits - 1) << (R * ab + 1)) for b in s.inputs["a"]]
        return s
    if cfg.dataflow == "input_stationary":  # the WS grid on C^T = W^T A^T
        s = schedule_gemm(ws_view(cfg), np.asarray(w).T, np.asarray(a).T)
        s.inputs = {"a": s.inputs["w"], "w": s.inputs["a"], "c": s.inputs["c"]}
        s.transposed = True
        return s
    R, C = cfg.rows, cfg.cols
    ab, wb = cfg.pe.a.bits, cfg.pe.w.bits
    M, K = a.shape
    N = w.shape[1]
    s = Schedule()
    if cfg.dataflow == "output_stationary":  # the dot-product schedule with depth 1
        return _schedule_os(cfg, a, w)
    # weight-stationary: K tiles outer so a tile's predecessor (same n0) finished long ago
    w_beats, a_beats, c_beats = [], [], []
    first_beat = {}
    k_tiles = list(range(0, K, R))
    for kt, k0 in enumerate(k_tiles):
        for n0 in range(0, N, C):
            first_beat[(kt, n0)] = s.out_beats
            for r in range(R):
                w_beats.append(pack(_pad(w[k0 + r, n0:n0 + C], C) if k0 + r < K else [0] * C, wb))
            for mm in range(M):
                a_beats.append(pack(_pad(a[mm, k0:k0 + R], R), ab) | ((mm == M - 1) << (R * ab)))
                c_beats.append(0 if kt == 0 else OutRef(first_beat[(kt - 1, n0)] + mm))
                if kt == len(k_tiles) - 1:
                    s.placement.append((s.out_beats + mm, mm, n0, min(C, N - n0)))
            s.out_beats += M
            s.tiles += 1
    s.inputs = {"w": w_beats, "a": a_beats, "c": c_beats}
    return s


def _schedule_lut(cfg: ArrayConfig, a: np.ndarray, w: np.ndarray, fmt: LowBitFormat, groups=None) -> Schedule:
    """A LUT engine (``hwgen.arrays.lut``): per tile, per group of D channels, one beat per
    bit-plane of the weights' codes, LSB first; the A block repeats with each plane. A
    group-quantized GEMM ends a tile at every group (its rows add up) with a scale beat."""
    R, C, D, B = cfg.rows, cfg.cols, cfg.depth, cfg.pe.w.bits
    if fmt.bits > B:
        raise ValueError(f"the engine stores weights of up to {B} bits; {fmt} has {fmt.bits}")
    ab = cfg.pe.a.bits
    fbits = max(1, (B - 1).bit_length())
    M, K = a.shape
    N = w.shape[1]
    codes = fmt.encode(w)
    steps = max(1, -(-K // D))
    s = Schedule()
    a_beats, w_beats, s_beats = [], [], []
    gb = groups[0] // D if groups else steps
    if groups:
        s.accumulate_bits = cfg.pe.acc
    for m0 in range(0, M, R):
        for n0 in range(0, N, C):
            for t in range(steps):
                ablk = np.zeros((R, D), dtype=np.int64)
                qblk = np.zeros((D, C), dtype=np.int64)   # padded channels meet zero activations
                part_a = a[m0:m0 + R, t * D:(t + 1) * D]
                part_q = codes[t * D:(t + 1) * D, n0:n0 + C]
                ablk[:part_a.shape[0], :part_a.shape[1]] = part_a
                qblk[:part_q.shape[0], :part_q.shape[1]] = part_q
                data = pack(ablk.reshape(-1), ab)
                group_end = t == steps - 1 or t % gb == gb - 1
                for plane in range(fmt.bits):
                    last = group_end and plane == fmt.bits - 1
                    fields = (int(last) | plane << 1 | (fmt.bits - 1) << (1 + fbits) | fmt.code << (1 + 2 * fbits)
                              | int(bool(groups)) << (3 + 2 * fbits))
                    a_beats.append(data | fields << (R * D * ab))
                    w_beats.append(pack(((qblk >> plane) & 1).reshape(-1), 1))
                if groups and group_end:   # this group's scale and zero point per column (16 bits each)
                    gi = t // gb
                    lanes = [(int(groups[1][gi, n0 + j]) & 0xFFFF) | (int(groups[2][gi, n0 + j]) & 0xFFFF) << 16
                             if n0 + j < N else 0 for j in range(C)]
                    s_beats.append(pack(lanes, 32))
                if group_end and (groups or t == steps - 1):
                    for r in range(min(R, M - m0)):
                        s.placement.append((s.out_beats + r, m0 + r, n0, min(C, N - n0)))
                    s.out_beats += R
                    s.tiles += 1
    s.inputs = {"a": a_beats, "w": w_beats}
    if cfg.dequant == "group":
        s.inputs["s"] = s_beats
    return s


def _schedule_os(cfg: ArrayConfig, a: np.ndarray, w: np.ndarray) -> Schedule:
    """Output-stationary engines: each beat an R×D block of A and a D×C block of W (K
    zero-padded to a multiple of D; D = 1 for systolic and bit-serial arrays)."""
    R, C, D = cfg.rows, cfg.cols, cfg.depth
    ab, wb = cfg.pe.a.bits, cfg.pe.w.bits
    M, K = a.shape
    N = w.shape[1]
    steps = max(1, -(-K // D))
    s = Schedule()
    a_beats, w_beats = [], []
    for m0 in range(0, M, R):
        for n0 in range(0, N, C):
            for t in range(steps):
                k0 = t * D
                ablk = np.zeros((R, D), dtype=np.int64)
                wblk = np.zeros((D, C), dtype=np.int64)
                part_a = a[m0:m0 + R, k0:k0 + D]
                part_w = w[k0:k0 + D, n0:n0 + C]
                ablk[:part_a.shape[0], :part_a.shape[1]] = part_a
                wblk[:part_w.shape[0], :part_w.shape[1]] = part_w
                a_beats.append(pack(ablk.reshape(-1), ab) | ((t == steps - 1) << (R * D * ab)))
                w_beats.append(pack(wblk.reshape(-1), wb))
            for r in range(min(R, M - m0)):
                s.placement.append((s.out_beats + r, m0 + r, n0, min(C, N - n0)))
            s.out_beats += R
            s.tiles += 1
    s.inputs = {"a": a_beats, "w": w_beats}
    return s
