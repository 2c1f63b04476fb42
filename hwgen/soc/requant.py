"""The output stage: accumulators to next-layer activations (Gemmini's requantizing store).

Each beat carries one row of ``cols`` accumulators and the columns' multipliers; each
element becomes ``clip(round_half_even(acc * scale / 2**shift))``, then ReLU if enabled —
exactly :func:`hwgen.golden.requant.requantize`.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import Format

__all__ = ["Requant", "SerialRequant", "requant_signature"]


def requant_signature(cols: int, acc_bits: int, out_fmt: Format, scale_bits: int, shift_bits: int) -> dict:
    """The members of an output stage (shared by :class:`Requant` and :class:`SerialRequant`)."""
    out_shape = signed(out_fmt.bits) if out_fmt.signed else unsigned(out_fmt.bits)
    return {
        "i": In(stream.Signature(data.StructLayout({
            "acc": data.ArrayLayout(signed(acc_bits), cols),
            "scale": data.ArrayLayout(unsigned(scale_bits), cols),
        }))),
        "shift": In(shift_bits),
        "relu": In(1),
        "o": Out(stream.Signature(data.ArrayLayout(out_shape, cols))),
    }


class Requant(wiring.Component):
    """Per-column scale, rounding right shift, clip and optional ReLU, pipelined.

    Four register stages (product; shift with its rounding bits; rounded value; clipped
    result = the output stream's payload), so that no path is longer than one wide add:
    a beat taken on ``i`` at clock edge *t* is offered on ``o`` right after edge *t* + 3
    (:attr:`LATENCY` = 4 edges), one beat per cycle.
    Every stage moves when the next one is empty or being emptied, so any valid/ready
    pattern is handled without dropping or repeating a beat; ``i.ready`` depends
    combinationally on ``o.ready``.

    Parameters
    ----------
    cols : int
        Elements per beat.
    acc_bits : int
        Width of the signed accumulators, 2..64.
    out_fmt : Format
        Output format (results are clipped to its range).
    scale_bits : int
        Width of the unsigned per-column multipliers.
    shift_bits : int
        Width of the ``shift`` input (right shifts 0..2**shift_bits-1).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"acc": ArrayLayout(signed(acc_bits), cols), "scale": ArrayLayout(unsigned(scale_bits), cols)})))
    shift : In(shift_bits)
        Right shift, sampled with each beat taken on ``i``.
    relu : In(1)
        ReLU enable, sampled with each beat taken on ``i``.
    o : Out(stream.Signature(ArrayLayout(out_fmt's shape, cols)))
    """

    #: Clock edges from a beat taken on ``i`` to its result being valid on ``o``.
    LATENCY = 4

    def __init__(self, cols: int, acc_bits: int, out_fmt: Format, scale_bits: int = 16, shift_bits: int = 6):
        for name, value, lo, hi in (("cols", cols, 1, None), ("acc_bits", acc_bits, 2, 64),
                                    ("scale_bits", scale_bits, 1, None), ("shift_bits", shift_bits, 1, 8)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
                allowed = f"{lo}..{hi}" if hi is not None else f"an integer >= {lo}"
                raise ValueError(f"Requant: {name} must be {allowed}, not {value!r}")
        if not isinstance(out_fmt, Format):
            raise TypeError(f"Requant: out_fmt must be a hwgen.numerics.Format, not {out_fmt!r}")
        self._cols, self._acc_bits, self._out_fmt = cols, acc_bits, out_fmt
        self._scale_bits, self._shift_bits = scale_bits, shift_bits
        super().__init__(requant_signature(cols, acc_bits, out_fmt, scale_bits, shift_bits))

    cols = property(lambda self: self._cols)
    acc_bits = property(lambda self: self._acc_bits)
    out_fmt = property(lambda self: self._out_fmt)
    scale_bits = property(lambda self: self._scale_bits)
    shift_bits = property(lambda self: self._shift_bits)

    def elaborate(self, platform):
        m = Module()
        C, n = self._cols, self._acc_bits + self._scale_bits  # exact: |acc| <= 2**(a-1), scale < 2**s
        fmt = self._out_fmt

        # Four stages, each a register with a valid bit; a stage loads when the one after it
        # is empty or being emptied (``en[k]``), so stalls never drop or repeat a beat.
        valid = [Signal(name=f"s{k}_valid") for k in range(3)] + [self.o.valid]
        en = [Signal(name=f"s{k}_en") for k in range(4)]
        m.d.comb += en[3].eq(~self.o.valid | self.o.ready)
        for k in (2, 1, 0):
            m.d.comb += en[k].eq(~valid[k] | en[k + 1])
        m.d.comb += self.i.ready.eq(en[0])
        for k in range(4):
            with m.If(en[k]):
                m.d.sync += valid[k].eq(self.i.valid if k == 0 else valid[k - 1])

        def stage(k, sig, value):
            with m.If(en[k]):
                m.d.sync += sig.eq(value)

        shift = Signal(self._shift_bits, name="s0_shift")
        relu = [Signal(name=f"s{k}_relu") for k in range(3)]
        for k in range(3):
            stage(k, relu[k], self.relu if k == 0 else relu[k - 1])
        stage(0, shift, self.shift)
        for c in range(C):
            # 1: the product (a DSP where there is one)
            prod = Signal(signed(n), name=f"prod{c}")
            stage(0, prod, self.i.payload.acc[c] * self.i.payload.scale[c])
            # 2: the arithmetic shift, the first bit shifted out (half) and any below it (sticky)
            q = Signal(signed(n), name=f"col{c}_q")
            half, sticky = Signal(name=f"col{c}_half"), Signal(name=f"col{c}_sticky")
            s = shift
            stage(1, q, prod >> s)
            stage(1, half, ((prod << 1) >> s)[0])
            # Bits k < shift - 1 are below the half bit. Past the top of p they are copies of
            # the sign bit, which is itself below the half bit once shift > n, so p's own
            # bits suffice.
            stage(1, sticky, Cat(prod[j] & (s > j + 1) for j in range(n)).any())
            # 3: above one half, or exactly one half with an odd kept part: round up. Only the
            # output's own bits are added; whether q is in range comes from its top bits, so
            # no adder or comparator is as wide as the product.
            b = fmt.bits
            r = half & (sticky | q[0])
            y = Signal(signed(b + 1) if fmt.signed else unsigned(b + 1), name=f"col{c}_y")
            low_sum = (q[:b].as_signed() if fmt.signed else q[:b]) + r
            if fmt.signed:
                top = q[b - 1:]                      # all equal to the sign bit iff q fits
                fits, neg = (top == 0) | (top == (1 << len(top)) - 1), q[n - 1]
            else:
                top = q[b:]
                fits, neg = (top == 0) & ~q[n - 1], q[n - 1]
            stage(2, y, Mux(fits, Mux(low_sum > fmt.max, fmt.max, low_sum), Mux(neg, fmt.min, fmt.max)))
            # 4: ReLU after the clip == a raised floor
            floor = Mux(relu[2], max(fmt.min, 0), fmt.min)
            stage(3, self.o.payload[c], Mux(y < floor, floor, y))
        return m


class SerialRequant(wiring.Component):
    """:class:`Requant`'s interface and results, one column per cycle through one
    single-column :class:`Requant`: a beat of ``cols`` elements takes ``cols`` cycles.

    The host link sends a requantized row as ``cols`` bytes or more, one byte per cycle at
    best, so a column-serial output stage costs a small FPGA ``cols - 1`` multipliers and
    rounders less while the link keeps the same pace. A new beat is taken once the previous
    result has left ``o``.
    """

    def __init__(self, cols: int, acc_bits: int, out_fmt: Format, scale_bits: int = 16, shift_bits: int = 6):
        self.core = Requant(1, acc_bits, out_fmt, scale_bits, shift_bits)
        self._cols, self._acc_bits, self._scale_bits = cols, acc_bits, scale_bits
        self._out_bits = out_fmt.bits
        super().__init__(requant_signature(cols, acc_bits, out_fmt, scale_bits, shift_bits))

    cols = property(lambda self: self._cols)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        C, ab, sb, ob = self._cols, self._acc_bits, self._scale_bits, self._out_bits
        accs, scales = Signal(C * ab), Signal(C * sb)      # columns still to feed, shifted out at the bottom
        res = Signal(C * ob)                               # results, shifted in at the top
        shift, relu = Signal.like(self.shift), Signal()
        to_feed = Signal(range(C + 1))
        to_take = Signal(range(C + 1))

        m.d.comb += self.i.ready.eq((to_take == 0) & ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [accs.eq(self.i.payload.acc.as_value()), scales.eq(self.i.payload.scale.as_value()),
                         shift.eq(self.shift), relu.eq(self.relu), to_feed.eq(C), to_take.eq(C)]

        m.d.comb += [core.i.valid.eq(to_feed != 0), core.i.payload.acc[0].eq(accs[:ab]),
                     core.i.payload.scale[0].eq(scales[:sb]), core.shift.eq(shift), core.relu.eq(relu)]
        with m.If(core.i.valid & core.i.ready):
            m.d.sync += [accs.eq(accs >> ab), scales.eq(scales >> sb), to_feed.eq(to_feed - 1)]

        m.d.comb += core.o.ready.eq(to_take != 0)
        with m.If(core.o.valid & core.o.ready):
            m.d.sync += [res.eq(Cat(res[ob:], core.o.payload.as_value())), to_take.eq(to_take - 1)]
            with m.If(to_take == 1):
                m.d.sync += self.o.valid.eq(1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.comb += self.o.payload.as_value().eq(res)
        return m
