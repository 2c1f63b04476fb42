"""Number formats shared by the config, the golden models and the hardware.

A :class:`Format` is an integer operand format: ``intN`` (two's complement,
N = 2..16) or ``uintN`` (unsigned, N = 2..16).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Format", "FORMAT_BITS", "parse_format", "acc_range", "wrap_signed", "saturate", "LowBitFormat",
           "LOWBIT_KINDS", "parse_lowbit"]

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


# -- low-bit weight formats of table-lookup (LUT) engines ------------------------------------------
#
# A LUT engine stores a b-bit weight as b bit-planes and reads each plane's bits as table
# indices. What a plane's bit means, and so how the planes make the value, is the format:
#
#   int      two's complement: value = Σ_{i<b-1} 2^i·q_i − 2^(b-1)·q_(b-1)
#   uint     unsigned:         value = Σ 2^i·q_i (with a zero point per group: w = d·q + m)
#   bipolar  every bit ±1:     value = Σ 2^i·(2·q_i − 1) (odd values; ``binary`` is bipolar1)
#   ternary  {−1, 0, +1}, stored as int2 codes (11, 00, 01; code 10 is not a ternary value)

#: how each LUT weight kind reads its planes; the code the engine is told per RUN
LOWBIT_KINDS = {"int": 0, "uint": 1, "bipolar": 2, "ternary": 0}
LOWBIT_BITS = range(1, 9)
_LOWBIT_RE = re.compile(r"(u?int|bipolar)([0-9])")


@dataclass(frozen=True)
class LowBitFormat:
    """A LUT engine's weight format: ``kind`` (int, uint, bipolar, ternary) over ``bits`` planes.

    ``encode`` maps values to unsigned plane codes (what is stored and sent), ``decode`` the
    reverse, ``planes`` splits codes into bit-planes (plane i = bit i of every code)."""

    kind: str
    bits: int

    def __post_init__(self):
        if self.kind not in LOWBIT_KINDS:
            raise ValueError(f"LUT weight kind must be one of {', '.join(LOWBIT_KINDS)}, not {self.kind!r}")
        lo = 2 if self.kind == "int" else 1
        if self.kind == "ternary" and self.bits != 2:
            raise ValueError(f"ternary weights take 2 planes, not {self.bits!r}")
        if not isinstance(self.bits, int) or not lo <= self.bits <= LOWBIT_BITS.stop - 1:
            raise ValueError(f"{self.kind} weights take {lo}..{LOWBIT_BITS.stop - 1} bits, not {self.bits!r}")

    @property
    def name(self) -> str:
        if self.kind == "ternary":
            return "ternary"
        if self.kind == "bipolar" and self.bits == 1:
            return "binary"
        return f"{self.kind}{self.bits}"

    def __str__(self) -> str:
        return self.name

    @property
    def code(self) -> int:
        """How the engine reads the planes: 0 two's complement, 1 unsigned, 2 bipolar."""
        return LOWBIT_KINDS[self.kind]

    @property
    def min(self) -> int:
        return {"int": -(1 << (self.bits - 1)), "uint": 0, "bipolar": -(1 << self.bits) + 1, "ternary": -1}[self.kind]

    @property
    def max(self) -> int:
        return {"int": (1 << (self.bits - 1)) - 1, "uint": (1 << self.bits) - 1,
                "bipolar": (1 << self.bits) - 1, "ternary": 1}[self.kind]

    def values(self) -> np.ndarray:
        """Every value of the format, ascending."""
        if self.kind == "ternary":
            return np.array([-1, 0, 1], dtype=np.int64)
        return np.unique(self.decode(np.arange(1 << self.bits)))

    def check(self, x, what: str = "weights") -> None:
        """``ValueError`` naming the first entry (index and value) that is not a value of this format."""
        x = np.asarray(x)
        if x.dtype.kind not in "iub":
            raise ValueError(f"{what} must be integers for {self.name}, got dtype {x.dtype}")
        ok = np.isin(x, self.values())
        if not ok.all():
            idx = tuple(int(i) for i in np.argwhere(~ok)[0])
            raise ValueError(f"{what}[{', '.join(map(str, idx))}] = {int(x[idx])} is not a {self.name} value "
                             f"({self._allowed()})")

    def _allowed(self) -> str:
        if self.kind == "bipolar":
            return f"odd integers {self.min}..{self.max}"
        return f"integers {self.min}..{self.max}"

    def encode(self, x) -> np.ndarray:
        """Values → unsigned plane codes (int64); checks every value first."""
        self.check(x)
        x = np.asarray(x, dtype=np.int64)
        if self.kind == "bipolar":
            return (x + (1 << self.bits) - 1) >> 1
        return x & ((1 << self.bits) - 1)

    def decode(self, q) -> np.ndarray:
        """Unsigned plane codes → values (int64). Codes must be ``0..2**bits - 1``."""
        q = np.asarray(q, dtype=np.int64)
        if q.size and (q.min() < 0 or q.max() >= 1 << self.bits):
            raise ValueError(f"{self.name} codes must be 0..{(1 << self.bits) - 1}, got {q.min()}..{q.max()}")
        if self.kind == "uint":
            return q
        if self.kind == "bipolar":
            return 2 * q - ((1 << self.bits) - 1)
        return np.where(q >= 1 << (self.bits - 1), q - (1 << self.bits), q)

    def planes(self, q) -> np.ndarray:
        """Codes (any shape) → (bits, *shape) 0/1 planes, plane i = bit i."""
        q = np.asarray(q, dtype=np.int64)
        return ((q[None] >> np.arange(self.bits).reshape((-1,) + (1,) * q.ndim)) & 1).astype(np.int64)

    def plane_weights(self) -> np.ndarray:
        """(weight, offset) per plane as integers: value = Σ_i weight_i·q_i + offset, i.e.
        int: weights 1, 2, …, −2^(b−1); uint: 1, 2, …, 2^(b−1); bipolar: 2, 4, …, 2^b
        with offset −(2^b − 1). Used by documents and proofs; the golden model decodes."""
        w = np.array([1 << i for i in range(self.bits)], dtype=np.int64)
        if self.kind in ("int", "ternary"):
            w[-1] = -w[-1]
        if self.kind == "bipolar":
            return 2 * w, -((1 << self.bits) - 1)
        return w, 0

    def random(self, rng: np.random.Generator, shape, *, extremes: float = 0.0, zeros: float = 0.0) -> np.ndarray:
        """Uniform random values of this format (int64), with a fraction of min/max and of zeros
        (zeros where the format has them)."""
        vals = self.values()
        x = vals[rng.integers(len(vals), size=shape)]
        if extremes:
            pick = rng.random(shape) < extremes
            x[pick] = rng.choice(np.array([self.min, self.max], dtype=np.int64), size=int(pick.sum()))
        if zeros and 0 in vals:
            x[rng.random(shape) < zeros] = 0
        return x


def parse_lowbit(text: str) -> LowBitFormat:
    """``int2..int8``, ``uint1..uint8``, ``bipolar1..bipolar8``, ``binary`` (= bipolar1), ``ternary``."""
    t = str(text)
    if t == "ternary":
        return LowBitFormat("ternary", 2)
    if t == "binary":
        return LowBitFormat("bipolar", 1)
    m = _LOWBIT_RE.fullmatch(t)
    try:
        if m:
            return LowBitFormat(m.group(1), int(m.group(2)))
    except ValueError:
        pass
    raise ValueError(f"expected a LUT weight format: int2..int8, uint1..uint8, bipolar1..bipolar8, binary or "
                     f"ternary; got {text!r}")
