"""How the driver cuts a GEMM into RUN commands that fit half of each memory (the other
half is the double buffer), for both stream contracts.

A *job* is one RUN: rows ``m0:m1`` of A, columns ``n0:n1`` of W and the K range
``k0:k1``; jobs of one (m, n) block with chunk index ``i > 0`` accumulate onto chunk 0's
results. Output-stationary engines hold whole R×C tiles; weight-stationary engines hold a
K-tile of weights and stream M rows past it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics import LowBitFormat
from ..soc.layout import Geometry

__all__ = ["Job", "Tiling"]


@dataclass(frozen=True)
class Job:
    m0: int
    m1: int
    n0: int
    n1: int
    k0: int
    k1: int
    chunk: int        # K chunk index within its (m, n) block
    last: bool        # the block's last K chunk: its results are read after this RUN


class Tiling:
    def __init__(self, geo: Geometry, M: int, K: int, N: int, *, requant: bool, w_fmt: LowBitFormat | None = None,
                 group_beats: int = 0):
        self.geo = g = geo
        #: a LUT engine's weight format: its W words are ``planes`` bit-planes per beat
        self.w_fmt = w_fmt
        planes = w_fmt.bits if g.lut else 1
        s = g.cfg.soc
        self.ha, self.hw, self.hacc = s.a_words // 2, s.w_words // 2, s.acc_words // 2
        self.hsc = max(1, s.scale_words // 2)
        R, C = g.R, g.C
        pe = g.cfg.array.pe
        NT = -(-N // C)
        if g.contract == "os":
            kb_all, kb_max = g.k_beats(K), min(self.ha, self.hw // planes)
            if kb_max < 1:
                raise ValueError(f"w_words = {s.w_words} cannot hold two blocks of {planes} bit-planes")
            #: a group-quantized layer: K chunks of whole groups, a scale word per group and N tile
            self.group_beats = group_beats
            if group_beats:
                if kb_max < group_beats:
                    raise ValueError(f"a group of {group_beats} beats × {planes} bit-planes does not fit half of "
                                     f"a_words/w_words ({self.ha}/{self.hw} words)")
                kb_max = min(kb_max, self.hsc * group_beats)   # a chunk's scale words fit half the memory
                kb_max -= kb_max % group_beats
            k_step = kb_max * g.D
            if self.hacc < R:
                raise ValueError(f"acc_words = {s.acc_words} cannot hold two tiles of {R} rows")
            kb = g.k_beats(min(K, k_step))
            n_step = C * max(1, min(NT, self.hw // (kb * planes), self.hsc if requant else NT, self.hacc // R))
            if group_beats:
                groups = -(-kb // group_beats)
                if self.hsc < groups:
                    raise ValueError(f"scale_words = {s.scale_words} cannot hold two chunks of {groups} group scales")
                n_step = min(n_step, C * (self.hsc // groups))
            m_step = R * max(1, min(-(-M // R), self.ha // kb, self.hacc // (n_step // C * R)))
        else:
            if self.hw < R:
                raise ValueError(f"w_words = {s.w_words} cannot hold two weight tiles of {R} rows")
            kt_all = max(1, -(-K // R))
            # rows per weight tile: at least enough to hide a bank's drain (R + C cycles) when
            # M allows; K is split (exactly: the chunks chain through the accumulators) instead
            m_want = min(M, 4 * (R + C))
            kb_all, kb_max = kt_all, max(1, min(kt_all, self.hw // R, self.ha // m_want))
            k_step = kb_max * R
            n_tiles = max(1, min(NT, self.hw // (kb_max * R), self.hacc, self.hsc if requant else NT))
            n_step = C * n_tiles
            m_step = max(1, min(M, self.ha // kb_max, self.hacc // n_tiles))
        # WS chains K tiles through c exactly, so only OS K-splitting changes saturation
        if kb_all > kb_max and pe.overflow == "saturate" and g.contract == "os":
            raise ValueError(f"K = {K} needs {kb_all} scratchpad words per tile, more than {kb_max} (half of "
                             "a_words/w_words); splitting K changes a saturating accumulation — use overflow: wrap "
                             "or larger a_words/w_words")
        self.jobs = []
        k_chunks = [(k0, min(K, k0 + k_step)) for k0 in range(0, K, k_step)]
        for m0 in range(0, M, m_step):
            for n0 in range(0, N, n_step):
                for i, (k0, k1) in enumerate(k_chunks):
                    self.jobs.append(Job(m0, min(M, m0 + m_step), n0, min(N, n0 + n_step), k0, k1, i,
                                         i == len(k_chunks) - 1))

    def operands(self, job: Job, a: np.ndarray, w: np.ndarray) -> tuple[bytes, bytes]:
        g, blk_a, blk_w = self.geo, a[job.m0:job.m1, job.k0:job.k1], w[job.k0:job.k1, job.n0:job.n1]
        if g.lut:
            return g.pack_a(blk_a), g.pack_w_planes(self.w_fmt.encode(blk_w), self.w_fmt.bits)
        if g.contract == "os":
            return g.pack_a(blk_a), g.pack_w(blk_w)
        return g.pack_a_ws(blk_a), g.pack_w_ws(blk_w)

    def group_scales(self, job: Job, scale: np.ndarray, zero: np.ndarray) -> bytes:
        """The scale words of a group-quantized job: its groups' (scale, zero) for its columns."""
        gk = self.group_beats * self.geo.D
        gs = slice(job.k0 // gk, -(-job.k1 // gk))
        return self.geo.pack_group_scales(scale[gs, job.n0:job.n1], zero[gs, job.n0:job.n1])

    def run_shape(self, job: Job) -> tuple[int, int, int]:
        """RUN's (m_tiles, n_tiles, k_beats) fields for a job."""
        g = self.geo
        nts = -(-(job.n1 - job.n0) // g.C)
        if g.contract == "os":
            return -(-(job.m1 - job.m0) // g.R), nts, g.k_beats(job.k1 - job.k0)
        return job.m1 - job.m0, nts, max(1, -(-(job.k1 - job.k0) // g.R))

    def result_words(self, job: Job) -> list[tuple[int, int, int, int, int]]:
        """Where a job's results are: (first accumulator word relative to the job's base,
        first result row, first column, words, N tile) per run of consecutive words, each
        word one C-wide result row (OS: a run per R×C tile; WS: a run of M rows per N tile).
        The runs are consecutive in the accumulator memory, in this order."""
        g = self.geo
        m_tiles, n_tiles, _ = self.run_shape(job)
        runs = []
        if g.contract == "os":
            for mt in range(m_tiles):
                for nt in range(n_tiles):
                    runs.append(((mt * n_tiles + nt) * g.R, mt * g.R, nt * g.C, g.R, nt))
        else:
            for nt in range(n_tiles):
                runs.append((nt * m_tiles, 0, nt * g.C, m_tiles, nt))
        return runs
