"""The golden device's PIM banks: their three memories and GEMV, in NumPy (docs/pim.md).

Flat host addresses are bank-major. A write to the vector words after the last bank goes to
every bank; a read there reads bank 0. Every byte of a WRITE lands as it arrives, like the
other memories'.
"""
from __future__ import annotations

import numpy as np

from ..golden.pim import gemv, gemv_bounds_ok
from ..memory.pim import GEMV_LATENCY, fmt_code
from ..numerics import Format
from .layout import Geometry, pack_words
from .protocol import Mem

__all__ = ["PimState", "pim_format"]


def pim_format(geo: Geometry, code: int) -> Format | None:
    """The bank format a GEMV's ``fmt`` byte names, or None if the banks do not decode it."""
    return next((f for f in geo.pim.formats if fmt_code(f) == code), None)


class PimState:
    def __init__(self, geo: Geometry):
        self.geo, p = geo, geo.pim
        self.p = p
        self.data = np.zeros((p.banks * p.rows, p.lanes), dtype=np.uint8)
        self.vec = np.zeros((p.banks * p.vec_words, p.lanes), dtype=np.uint8)
        self.out = np.zeros((p.banks * p.out_words, p.lanes), dtype=np.int64)

    def _words(self, mem: Mem, addr: int) -> list[np.ndarray]:
        """The row(s) that flat word ``addr`` of ``mem`` is (every bank's, for a broadcast vector word)."""
        p = self.p
        if mem == Mem.PIM:
            return [self.data[addr]]
        if mem == Mem.PIM_VEC:
            bank, local = divmod(addr, p.vec_words)
            return [self.vec[b * p.vec_words + local] for b in range(p.banks)] if bank == p.banks else [self.vec[addr]]
        return [self.out[addr]]

    def store_bytes(self, mem: Mem, addr: int, payload: bytes) -> None:
        nb, depth = self.geo.word_bytes(mem), self.geo.depth(mem)
        for i in range(-(-len(payload) // nb)):
            if addr + i < depth:
                part = np.frombuffer(payload[i * nb:(i + 1) * nb], dtype=np.uint8)
                for row in self._words(mem, addr + i):
                    row[:len(part)] = part

    def read_bytes(self, mem: Mem, addr: int, count: int) -> bytes:
        p = self.p
        if mem == Mem.PIM:
            return self.data[addr:addr + count].tobytes()
        if mem == Mem.PIM_VEC:
            idx = np.arange(addr, addr + count)
            idx = np.where(idx >= p.banks * p.vec_words, idx - p.banks * p.vec_words, idx)   # bank `banks`: bank 0
            return self.vec[idx].tobytes()
        words = self.out[addr:addr + count]
        return pack_words(words, p.acc, self.geo.word_bytes(Mem.PIM_OUT))

    def gemv(self, mode, fmt, flags, _reserved, outer, inner, base, ostride, nstride, vec_base, out_base) -> int | None:
        """Run one GEMV in every bank; its cycles, or None if its arguments are refused."""
        p = self.p
        f = pim_format(self.geo, fmt)
        if not gemv_bounds_ok(mode=mode, fmt=f, outer=outer, inner=inner, base=base, ostride=ostride,
                              nstride=nstride, vec_base=vec_base, out_base=out_base, rows=p.rows, lanes=p.lanes,
                              vec_words=p.vec_words, out_words=p.out_words):
            return None
        vec = self.vec.view(np.int8)
        for b in range(p.banks):
            out = self.out[b * p.out_words:(b + 1) * p.out_words]
            gemv(self.data[b * p.rows:(b + 1) * p.rows], vec[b * p.vec_words:(b + 1) * p.vec_words], out,
                 mode=mode, fmt=f, outer=outer, inner=inner, base=base, ostride=ostride, nstride=nstride,
                 vec_base=vec_base, out_base=out_base, acc=p.acc)
        return outer * inner + GEMV_LATENCY
