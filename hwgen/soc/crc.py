"""CRC-16/CCITT-FALSE as a one-byte-per-cycle XOR network (see ``protocol.crc16``)."""
from __future__ import annotations

from amaranth.hdl import Cat, Value

__all__ = ["crc16_update"]

_POLY = 0x1021


def _columns() -> list[tuple[set, set]]:
    """For each output bit: the CRC bits and data bits it is the XOR of (the update is
    linear over GF(2), so track each bit as a set of input bits)."""
    crc = [({i}, set()) for i in range(16)]        # bit i of the state: (crc inputs, data inputs)
    data = [(set(), {i}) for i in range(8)]
    for i in range(8):                             # crc ^= byte << 8
        c, d = crc[8 + i]
        crc[8 + i] = (c ^ data[i][0], d ^ data[i][1])
    for _ in range(8):
        top = crc[15]
        shifted = [(set(), set())] + crc[:15]
        crc = [(s[0] ^ top[0], s[1] ^ top[1]) if (_POLY >> i) & 1 else s for i, s in enumerate(shifted)]
    return crc


_COLUMNS = _columns()


def crc16_update(crc: Value, byte: Value) -> Value:
    """The CRC state after ``byte`` (16-bit ``crc``, 8-bit ``byte``)."""
    bits = []
    for cset, dset in _COLUMNS:
        terms = [crc[i] for i in sorted(cset)] + [byte[i] for i in sorted(dset)]
        v = terms[0]
        for t in terms[1:]:
            v = v ^ t
        bits.append(v)
    return Cat(*bits)
