"""Bit-serial engines (``array.kind: bit_serial``): the weight is processed serially.

Why the weight: in quantized LLM and CNN inference the weights are the operand whose
precision varies (int8 down to int4/int2/ternary, per layer) and the operand with
bit-level sparsity known ahead of time, while activations stay int8. Serializing the
weight makes the cycles scale with *its* precision, chosen at run time per tile.

An R×C output-stationary tile. Each step takes one A column (R values, broadcast along
the rows) and one W row (C values, one per column) and spends several cycles on it:

* ``arith: mac`` — plain bit-serial: one weight bit per cycle, LSB first, for ``prec + 1``
  cycles, where ``prec`` comes with each ``a`` beat (0..bits-1, i.e. 1..bits-bit weights;
  a signed weight's top bit weighs ``-2**prec``). Row r keeps one shifted copy of its
  activation shared by its C PEs; a PE adds it when its column's bit is set.
* ``arith: sparse_serial`` (OPT3, column-shared OPT4C) — each column encodes its weight
  into canonical signed digits (non-adjacent form: the fewest non-zero ±2^i digits) and
  spends one cycle per *non-zero* digit (one cycle for a zero weight). The encoder and the
  zero-skipping digit sequencer are shared by the column's R PEs; a PE adds ±(a << i).
  A step lasts as long as its busiest column (columns share the broadcast activations).

Stream contracts (``R = rows``, ``C = cols``), one R×C tile per ``last``:
    ``a``   R-vector: column k of the A tile; ``last`` on the final k; ``prec`` (``mac`` only).
    ``w``   C-vector: row k of the W tile. Paired beat-for-beat with ``a``.
    ``out`` C-vector: rows 0..R-1 of the result tile, R beats per tile.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..numerics import Format
from ..pe.compress import extend
from ..pe.mac import acc_layout, operand_shape
from .common import TileSpacing, drain_rows, stallable, vec_stream

__all__ = ["BitSerialOS", "naf_masks", "digit_positions"]


def digit_positions(fmt: Format) -> int:
    """Digit positions of a weight's non-adjacent form: n for intN, n + 1 for uintN."""
    return fmt.bits + (0 if fmt.signed else 1)


def naf_masks(m: Module, w, fmt: Format, name: str):
    """(positive, negative) digit masks of ``w``'s non-adjacent form: w = pos - neg.

    With h = 3w, the digits sit where h and w differ (one position up): positive where h
    has the bit, negative where w has it.
    """
    n = digit_positions(fmt)
    width = fmt.bits + 3
    x = Signal(width, name=f"{name}_x")
    h = Signal(width, name=f"{name}_h")
    m.d.comb += [x.eq(extend(w, fmt, width)), h.eq((x + Cat(Const(0, 1), x))[:width])]
    diff = x ^ h
    return (diff & h)[1:n + 1], (diff & x)[1:n + 1]


class BitSerialOS(wiring.Component):
    """Output-stationary R×C bit-serial (or sparse-digit-serial) engine."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        pe = cfg.pe
        self.sparse = pe.arith == "sparse_serial"
        extra = {} if self.sparse else {"prec": range(pe.w.bits)}
        super().__init__({
            "a": In(vec_stream(operand_shape(pe.a), cfg.rows, last=True, extra=extra)),
            "w": In(vec_stream(operand_shape(pe.w), cfg.cols)),
            "out": Out(vec_stream(signed(pe.acc), cfg.cols)),
        })

    def elaborate(self, platform):
        cfg, pe = self.cfg, self.cfg.pe
        R, C = cfg.rows, cfg.cols
        m, fab, en = stallable(self.out)

        busy, finishing, last_cur = Signal(), Signal(), Signal()
        # Steps last a data-dependent number of cycles, so space the result *loads*: a last
        # beat waits until the previous load is R - 1 cycles old and no last step is in flight.
        space = TileSpacing(m, fab, R - 1, self.a.payload.last, blocked=busy & last_cur)
        load = Signal()
        m.d.comb += [load.eq(busy & finishing & last_cur), space.mark.eq(load)]
        take = Signal()
        can = en & (~busy | finishing) & space.ok
        m.d.comb += [
            take.eq(can & self.a.valid & self.w.valid),
            self.a.ready.eq(can & self.w.valid),
            self.w.ready.eq(can & self.a.valid),
        ]
        with fab.If(take):
            fab.d.sync += [busy.eq(1), last_cur.eq(self.a.payload.last)]
        with fab.Elif(finishing):
            fab.d.sync += busy.eq(0)

        # Per-cycle contribution x[r][j] (already shifted) and its sign, from the operands.
        if self.sparse:
            xs, negs = self._sparse_digits(m, fab, take, busy, finishing)
        else:
            xs, negs = self._plain_bits(m, fab, take, busy, finishing)

        holds = [[Signal(acc_layout(pe), name=f"hold_{r}_{j}") for j in range(C)] for r in range(R)]
        for r in range(R):
            for j in range(C):
                acc = Signal(acc_layout(pe), name=f"acc_{r}_{j}")
                xe = Signal(signed(pe.acc), name=f"xe_{r}_{j}")
                x = Signal(pe.acc, name=f"x_{r}_{j}")
                fab.d.comb += [xe.eq(xs[r][j]), x.eq(xe ^ negs[j].replicate(pe.acc))]
                nxt = Signal(signed(pe.acc), name=f"nxt_{r}_{j}")
                fab.d.comb += nxt.eq(acc[0] + x + negs[j])
                with fab.If(busy):
                    with fab.If(load):
                        fab.d.sync += [holds[r][j][0].eq(nxt), acc[0].eq(0)]
                    with fab.Else():
                        fab.d.sync += acc[0].eq(nxt)
        drain_rows(fab, self.out, pe, holds, load)
        return m

    def _plain_bits(self, m, fab, take, busy, finishing):
        """One weight bit per cycle; returns (x[r][j], neg[j])."""
        pe, R, C = self.cfg.pe, self.cfg.rows, self.cfg.cols
        nb = pe.w.bits
        t = Signal(range(nb), name="bit")
        prec = Signal(range(nb), name="prec")
        ash = [Signal(signed(pe.a.bits + nb + 1), name=f"ash{r}") for r in range(R)]  # a << t
        wsh = [Signal(nb, name=f"wsh{j}") for j in range(C)]  # w >> t
        m.d.comb += finishing.eq(busy & (t == prec))
        with fab.If(take):
            fab.d.sync += [t.eq(0), prec.eq(self.a.payload.prec)]
            fab.d.sync += [ash[r].eq(extend(self.a.payload.data[r], pe.a, len(ash[r]))) for r in range(R)]
            fab.d.sync += [wsh[j].eq(self.w.payload[j]) for j in range(C)]
        with fab.Elif(busy):
            fab.d.sync += t.eq(t + 1)
            fab.d.sync += [ash[r].eq(Cat(Const(0, 1), ash[r])[:len(ash[r])]) for r in range(R)]
            fab.d.sync += [wsh[j].eq(wsh[j][1:]) for j in range(C)]
        top = Signal(name="sign_bit")
        m.d.comb += top.eq(Const(int(pe.w.signed), 1) & (t == prec))
        negs, bits = [], []
        for j in range(C):
            b, n = Signal(name=f"wbit{j}"), Signal(name=f"neg{j}")
            m.d.comb += [b.eq(busy & wsh[j][0]), n.eq(b & top)]
            bits.append(b)
            negs.append(n)
        xs = [[Mux(bits[j], ash[r], 0).as_signed() for j in range(C)] for r in range(R)]
        return xs, negs

    def _sparse_digits(self, m, fab, take, busy, finishing):
        """One non-zero canonical signed digit per cycle per column; returns (x[r][j], neg[j])."""
        pe, R, C = self.cfg.pe, self.cfg.rows, self.cfg.cols
        n = digit_positions(pe.w)
        a_cur = [Signal(operand_shape(pe.a), name=f"a_cur{r}") for r in range(R)]
        pos = [Signal(n, name=f"pos{j}") for j in range(C)]
        neg = [Signal(n, name=f"negm{j}") for j in range(C)]
        done = []
        sel, negs = [], []
        for j in range(C):
            rem = pos[j] | neg[j]
            low = Signal(n, name=f"digit{j}")  # the lowest remaining digit, one-hot
            m.d.comb += low.eq(rem & (~rem + 1))
            left = Signal(name=f"more{j}")
            m.d.comb += left.eq((rem & ~low).any())
            s = Signal(name=f"neg{j}")
            m.d.comb += s.eq(busy & (neg[j] & low).any())
            sel.append(low)
            negs.append(s)
            done.append(~left)
            with fab.If(busy):
                fab.d.sync += [pos[j].eq(pos[j] & ~low), neg[j].eq(neg[j] & ~low)]
        m.d.comb += finishing.eq(busy & Cat(*done).all())
        with fab.If(take):
            fab.d.sync += [a_cur[r].eq(self.a.payload.data[r]) for r in range(R)]
            for j in range(C):
                p, q = naf_masks(m, self.w.payload[j], pe.w, f"enc{j}")
                fab.d.sync += [pos[j].eq(p), neg[j].eq(q)]
        width = pe.a.bits + n
        xs = []
        for r in range(R):
            ax = extend(a_cur[r], pe.a, width)
            row = []
            for j in range(C):
                x = Signal(signed(width), name=f"shift_{r}_{j}")
                terms = [Mux(sel[j][i], Cat(Const(0, i), ax)[:width] if i else ax, 0) for i in range(n)]
                acc = terms[0]
                for t in terms[1:]:
                    acc = acc | t
                m.d.comb += x.eq(Mux(busy, acc, 0))
                row.append(x)
            xs.append(row)
        return xs, negs
