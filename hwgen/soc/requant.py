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

__all__ = ["Requant", "SerialRequant", "ShiftAddRequant", "requant_signature", "round_clip", "relu_floor"]


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


def round_parts(q, half, sticky, fmt: Format):
    """What :func:`round_clip` decides from: the output's own bits plus the rounding
    increment (``low_sum``), whether ``q`` is in the output's range (``fits``, from its top
    bits) and its sign (``neg``). Only the output's own bits are added; no adder or
    comparator is as wide as the product."""
    b, n = fmt.bits, len(q)
    r = half & (sticky | q[0])
    low_sum = (q[:b].as_signed() if fmt.signed else q[:b]) + r
    if fmt.signed:
        top = q[b - 1:]                      # all equal to the sign bit iff q fits
        fits = (top == 0) | (top == (1 << len(top)) - 1)
    else:
        fits = (q[b:] == 0) & ~q[n - 1]
    return low_sum, fits, q[n - 1]


def clip_parts(low_sum, fits, neg, fmt: Format):
    """The clipped value from :func:`round_parts`' three results."""
    return Mux(fits, Mux(low_sum > fmt.max, fmt.max, low_sum), Mux(neg, fmt.min, fmt.max))


def round_clip(q, half, sticky, fmt: Format):
    """The rounded, clipped value of a right-shifted product ``q`` (signed) whose first
    shifted-out bit is ``half`` and whose bits below that OR to ``sticky``: above one half,
    or exactly one half with an odd kept part, rounds up."""
    return clip_parts(*round_parts(q, half, sticky, fmt), fmt)


def relu_floor(y, relu, fmt: Format):
    """ReLU after the clip == a raised floor."""
    floor = Mux(relu, max(fmt.min, 0), fmt.min)
    return Mux(y < floor, floor, y)


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
            # 3 and 4: round (half to even), clip, ReLU
            y = Signal(signed(fmt.bits + 1) if fmt.signed else unsigned(fmt.bits + 1), name=f"col{c}_y")
            stage(2, y, round_clip(q, half, sticky, fmt))
            stage(3, self.o.payload[c], relu_floor(y, relu[2], fmt))
        return m


class ShiftAddRequant(wiring.Component):
    """:class:`Requant`'s results for one column, without a multiplier or a barrel shifter:
    the product is made by shift-and-add, one accumulator bit per cycle (the scale is the
    addend, so the adder is only as wide as the scale; the sign bit's step subtracts), then
    shifted right one bit per cycle (keeping the first bit shifted out and the OR of those
    below it), then rounded and clipped like :class:`Requant` (the ReLU floor a cycle
    later). An element takes ``acc_bits + shift + 4`` cycles (:meth:`cycles`).

    For devices whose DSPs all hold the engine's multipliers (a 4×4 int8 engine on the
    iCE40UP5K's 8): the host link sends a byte in hundreds of cycles over the UART, so the
    output stage may take tens.
    """

    def __init__(self, acc_bits: int, out_fmt: Format, scale_bits: int = 16, shift_bits: int = 6):
        self._acc_bits, self._out_fmt, self._scale_bits = acc_bits, out_fmt, scale_bits
        super().__init__(requant_signature(1, acc_bits, out_fmt, scale_bits, shift_bits))

    cols = property(lambda self: 1)

    def cycles(self, shift: int) -> int:
        """Cycles from taking an element to offering its result."""
        return self._acc_bits + shift + 4

    def elaborate(self, platform):
        m = Module()
        ab, sb, fmt = self._acc_bits, self._scale_bits, self._out_fmt
        mq = Signal(ab)                                     # the accumulator's bits still to use, low first
        scale, neg_scale = Signal(signed(sb + 2)), Signal(signed(sb + 2))
        hi, lo = Signal(signed(sb + 2)), Signal(ab)         # the product is Cat(lo, hi), signed
        steps = Signal(range(ab + 1))
        left = Signal.like(self.shift)
        half, sticky, relu = Signal(), Signal(), Signal()
        clipped = Signal.like(self.o.payload[0])
        r_sum = Signal(signed(fmt.bits + 1) if fmt.signed else unsigned(fmt.bits + 1))
        r_fits, r_neg = Signal(), Signal()
        addend = Signal(signed(sb + 2))                     # the next step's: scale, -scale (sign bit) or 0
        more = Signal()                                     # left != 0, kept beside it as a flip-flop
        # ``i.ready`` (IDLE with no result waiting) as a flip-flop: it is the load enable of
        # every operand register, so it should not be logic of the state and ``o``'s handshake
        rdy = Signal(init=1)
        m.d.comb += self.i.ready.eq(rdy)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i.valid & rdy):
                    x, y = self.i.payload.acc[0], self.i.payload.scale[0]
                    m.d.sync += [mq.eq(x), scale.eq(y), neg_scale.eq(-y), hi.eq(0), lo.eq(0),
                                 addend.eq(Mux(x[0], -y if ab == 1 else y, 0)),
                                 steps.eq(ab), left.eq(self.shift), more.eq(self.shift != 0), relu.eq(self.relu),
                                 half.eq(0), sticky.eq(0), rdy.eq(0)]
                    m.next = "MUL"
                with m.Else():
                    m.d.sync += rdy.eq(~self.o.valid | self.o.ready)   # o.valid is 0 from the next cycle
            with m.State("MUL"):    # bit i of the accumulator says whether to add (``addend``, chosen a cycle ahead)
                total = Signal(signed(sb + 3))
                m.d.comb += total.eq(hi + addend)
                m.d.sync += [hi.eq(total >> 1), lo.eq(Cat(lo[1:], total[0])), mq.eq(mq >> 1), steps.eq(steps - 1),
                             addend.eq(Mux(mq[1], Mux(steps == 2, neg_scale, scale), 0))]
                with m.If(steps == 1):
                    m.next = "SHIFT"
            with m.State("SHIFT"):  # the rounding shift, one bit at a time
                prod = Cat(lo, hi).as_signed()
                with m.If(more):
                    m.d.sync += [Cat(lo, hi).eq(prod >> 1), half.eq(lo[0]), sticky.eq(sticky | half),
                                 left.eq(left - 1), more.eq(left != 1)]
                with m.Else():
                    low_sum, fits, neg = round_parts(prod, half, sticky, fmt)
                    m.d.sync += [r_sum.eq(low_sum), r_fits.eq(fits), r_neg.eq(neg)]
                    m.next = "CLIP"
            with m.State("CLIP"):   # the rounding add and range check a cycle before the clip
                m.d.sync += clipped.eq(clip_parts(r_sum, r_fits, r_neg, fmt))
                m.next = "FLOOR"
            with m.State("FLOOR"):  # ReLU's floor a cycle after the clip: none of them is one long path
                m.d.sync += [self.o.payload[0].eq(relu_floor(clipped, relu, fmt)), self.o.valid.eq(1)]
                m.next = "IDLE"
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


class SerialRequant(wiring.Component):
    """:class:`Requant`'s interface and results, one column at a time through a
    single-column core: :class:`Requant` (``core="pipelined"``, one column per cycle, a
    multiplier) or :class:`ShiftAddRequant` (``core="shift_add"``, no multiplier).

    The host link sends a requantized row as ``cols`` bytes or more, one byte per cycle at
    best, so a column-serial output stage costs a small FPGA ``cols - 1`` multipliers and
    rounders less while the link keeps the same pace. The columns are read from ``i``'s
    payload, which stays put while it is offered (through one operand register in front of
    the core); the beat is taken
    when its last column's result is, and the row is offered on ``o`` the cycle after.
    """

    CORES = ("pipelined", "shift_add")

    def __init__(self, cols: int, acc_bits: int, out_fmt: Format, scale_bits: int = 16, shift_bits: int = 6,
                 *, core: str = "pipelined"):
        if core not in self.CORES:
            raise ValueError(f"SerialRequant: core must be one of {', '.join(self.CORES)}, not {core!r}")
        self.core = (Requant(1, acc_bits, out_fmt, scale_bits, shift_bits) if core == "pipelined"
                     else ShiftAddRequant(acc_bits, out_fmt, scale_bits, shift_bits))
        self._cols, self._out_bits = cols, out_fmt.bits
        super().__init__(requant_signature(cols, acc_bits, out_fmt, scale_bits, shift_bits))

    cols = property(lambda self: self._cols)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        C, ob = self._cols, self._out_bits
        res = Signal(C * ob)                               # results, shifted in at the top
        fed = Signal(range(C + 1))                         # columns handed to the core
        took = Signal(range(C))                            # results taken from it

        want = self.i.valid & (fed != C) & ~self.o.valid
        m.d.comb += [core.shift.eq(self.shift), core.relu.eq(self.relu)]
        # the selected column waits in a register: the column select (a memory's read data)
        # and the core (a multiplier, or the shift-and-add core's operand registers and
        # their load enable) are not one path
        sel = Signal.like(core.i.payload)
        sel_valid = Signal()
        with m.If(~sel_valid | core.i.ready):
            m.d.sync += sel_valid.eq(want)
            with m.If(want):
                m.d.sync += [sel.acc[0].eq(self.i.payload.acc[fed]), sel.scale[0].eq(self.i.payload.scale[fed]),
                             fed.eq(fed + 1)]
        m.d.comb += [core.i.valid.eq(sel_valid), core.i.payload.eq(sel)]

        m.d.comb += core.o.ready.eq(~self.o.valid)
        with m.If(core.o.valid & core.o.ready):
            m.d.sync += [res.eq(Cat(res[ob:], core.o.payload.as_value())), took.eq(took + 1)]
            with m.If(took == C - 1):
                m.d.comb += self.i.ready.eq(1)
                m.d.sync += [self.o.valid.eq(1), fed.eq(0), took.eq(0)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.comb += self.o.payload.as_value().eq(res)
        return m
