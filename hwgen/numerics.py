"""Number formats shared by the config, the golden models and the hardware.

A :class:`Format` is an integer operand format: ``intN`` (two's complement,
N = 2..16) or ``uintN`` (unsigned, N = 2..16).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Format", "FORMAT_BITS", "parse_format", "acc_range", "wrap_signed", "saturate"]

#: Allowed operand widths.
FORMAT_BITS = range(2, 17)
_FORMAT_RE = re.compile(r"^(u?)int(\d+)$")


@dataclass(frozen=True)
class Format:
    """An integer operand format.

    Parameters
    ----------
    bits : int
        Width in bits, 2..16.
    signed : bool
        Two's complement if true, unsigned otherwise.
    """

    bits: int
    signed: bool = True

    def __post_init__(self):
        if not isinstance(self.bits, int) or self.bits not in FORMAT_BITS:
            raise ValueError(f"format width must be {FORMAT_BITS.start}..{FORMAT_BITS.stop - 1}, not {self.bits!r}")

    @property
    def name(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.bits}"

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def random(self, rng: np.random.Generator, shape, *, extremes: float = 0.0, zeros: float = 0.0) -> np.ndarray:
        """Uniform random values of this format as int64.

        A fraction ``extremes`` of entries is replaced by ``min``/``max`` and a fraction
        ``zeros`` by zero, so corner cases appear in every random test.
        """
        x = rng.integers(self.min, self.max, size=shape, endpoint=True, dtype=np.int64)
        if extremes:
            pick = rng.random(shape) < extremes
            x[pick] = rng.choice(np.array([self.min, self.max], dtype=np.int64), size=int(pick.sum()))
        if zeros:
            x[rng.random(shape) < zeros] = 0
        return x

    def check(self, x: np.ndarray, what: str = "value") -> None:
        """Raise ``ValueError`` if any entry of ``x`` is outside this format."""
        x = np.asarray(x)
        if x.size and (x.min() < self.min or x.max() > self.max):
            raise ValueError(f"{what} has entries outside {self.name} [{self.min}, {self.max}]: "
                             f"min {x.min()}, max {x.max()}")

    def __str__(self) -> str:
        return self.name


def parse_format(text: str) -> Format:
    """Parse ``"int8"`` / ``"uint4"`` into a :class:`Format`; ``ValueError`` otherwise."""
    m = _FORMAT_RE.match(str(text))
    if not m or int(m.group(2)) not in FORMAT_BITS:
        raise ValueError(f"expected intN or uintN with N = {FORMAT_BITS.start}..{FORMAT_BITS.stop - 1}, got {text!r}")
    return Format(int(m.group(2)), signed=not m.group(1))


def acc_range(bits: int) -> tuple[int, int]:
    """The (min, max) of a signed ``bits``-wide accumulator."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Reduce integers modulo 2**bits into the signed range, as a register of that width does."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << np.int64(bits - 1)
    mask = (np.int64(1) << np.int64(bits)) - 1 if bits < 64 else np.int64(-1)
    return ((x + half) & mask) - half


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp integers into the signed ``bits``-wide range."""
    lo, hi = acc_range(bits)
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)
