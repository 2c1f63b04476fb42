"""Pieces of the host link (:mod:`hwgen.soc.link`): the memory port signature, which
commands and counters an accelerator has, and small selection helpers."""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .layout import Geometry
from .protocol import RUN_FORMAT, Cmd, Reg

__all__ = ["MemPort", "COUNTED", "PIM_COUNTED", "counted", "commands"]

#: the registers that count events, in the order of their counters (:class:`~hwgen.soc.counters.CounterFile`)
COUNTED = (Reg.CYCLES, Reg.BUSY, Reg.ARRAY, Reg.BYTES_IN, Reg.BYTES_OUT, Reg.FRAMES_BAD, Reg.GARBAGE, Reg.RUNS)
PIM_COUNTED = (Reg.PIM_BUSY, Reg.PIM_ISSUE, Reg.PIM_STALL, Reg.OVERLAP, Reg.STORE_BUSY)

_ARG_BYTES = RUN_FORMAT.size  # the longest argument payload


def counted(geo: Geometry) -> tuple[Reg, ...]:
    """The counting registers of ``geo``'s accelerator (with PIM banks, four more)."""
    return COUNTED + (PIM_COUNTED if geo.pim is not None else ())


def commands(geo: Geometry) -> tuple[Cmd, ...]:
    """The commands ``geo``'s accelerator knows (GEMV only with PIM banks, STORE only where an
    accumulator word is a bank word: :attr:`~hwgen.soc.layout.Geometry.pim_store`)."""
    return tuple(c for c in Cmd if (geo.pim is not None or c != Cmd.GEMV) and (geo.pim_store or c != Cmd.STORE))


def _bytes(value):
    """``value`` zero-extended to whole bytes (a byte is selected from it by index)."""
    return Cat(value, Const(0, -len(value) % 8))


def _any(values):
    """The OR of ``values``."""
    values = list(values)
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


def _by_mem(mem, values: dict):
    """The value for memory ``mem`` (a frame's field) out of one per memory (the last one's
    for any other id)."""
    keys = list(values)
    out = values[keys[-1]]
    for mm in reversed(keys[:-1]):
        out = Mux(mem == mm, values[mm], out)
    return out


def MemPort(addr_bits: int, data_bits: int) -> wiring.Signature:
    """The link's access to one memory: a write port of byte lanes (``wr_en`` has a bit per
    byte of the word, the byte is on every lane of ``wr_data``) and a 1-cycle-latency read port."""
    lanes = -(-data_bits // 8)
    return wiring.Signature({
        "wr_addr": Out(addr_bits), "wr_data": Out(8 * lanes), "wr_en": Out(lanes),
        "rd_addr": Out(addr_bits), "rd_en": Out(1), "rd_data": In(data_bits),
    })
