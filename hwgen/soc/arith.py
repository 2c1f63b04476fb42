"""Products the accelerator's control needs (read lengths, RUN bounds), written as shifts
and adds. yosys with ``-dsp`` (the iCE40 board flow) maps any ``$mul`` of at least 2-bit
operands and an 11-bit result to an SB_MAC16, constants included: DSPs the fit plan does not
budget, taken from the engine (a 4×4 int8 × int2 iCEBreaker build needed a 9th DSP for its
READ length)."""
from __future__ import annotations

from amaranth.hdl import Const, Mux, Value

__all__ = ["times_const", "times_small"]


def times_const(x: Value, c: int) -> Value:
    """``x * c`` for a constant ``c ≥ 0``: one adder per set bit of ``c`` after the first."""
    if c < 0:
        raise ValueError(f"times_const: {c} < 0")
    terms = [x << i for i in range(c.bit_length()) if c >> i & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0)


def times_small(x: Value, y: Value) -> Value:
    """``x * y`` for a narrow unsigned ``y`` (a few bits): one adder per bit of ``y``."""
    terms = [Mux(y[i], x << i, 0) for i in range(len(y))]
    return sum(terms[1:], terms[0])
