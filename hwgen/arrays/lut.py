"""Table-lookup engine (``array.kind: lut``): low-bit weights × int8 activations by lookups.

An R×C output-stationary tile, elongated: few activation rows R, many weight columns C.
Each beat brings, for a group of g = ``depth`` input channels, the R×g activation block and
*one bit-plane* of the g×C weight block. Row r turns its g activations into a table of their
signed sums (:mod:`hwgen.pe.lut`, built once per group, on the group's first plane, and
shared by all C columns); column j's g plane bits index it. Planes come LSB first, one per
beat, so a b-bit weight takes b beats and the cycles grow linearly with the bits; the
precision (``prec`` = b − 1) and the weight kind (``wfmt``) come with each beat, so one
engine serves every LUT weight format of up to ``pe.w.bits`` bits at run time.

How the planes make the product. With Tᵣ the ±1 table of row r's group, Sᵣ = Σ aᵢ and
plane i's bits pᵢⱼ of column j (cᵢ·2^i the plane's weight, :meth:`LowBitFormat.plane_weights`):

* {0,1} planes (``int``, ``uint``, ternary): a·w = Σᵢ cᵢ2^i(Tᵣ[pᵢⱼ] + Sᵣ)/2, so the engine
  accumulates 2·a·w = Xᵣⱼ + Oᵣ with Xᵣⱼ = Σᵢ cᵢ2^i Tᵣ[pᵢⱼ] per output and one *offset
  column* per row, Oᵣ = Σᵢ cᵢ2^i Sᵣ (Sᵣ is the table's all-ones entry), and halves on the way
  out. cᵢ = −1 only for the sign plane of ``int``.
* bipolar planes (``bipolar``, binary): a·w = Σᵢ 2^i Tᵣ[pᵢⱼ]; the table is taken doubled and
  the offset column is off, so the same halving applies.

The table register shifts left by one per plane (the plane weight 2^i costs no shifter per
output); a lookup's negation (symmetric table) and the sign plane's fold into the
accumulator's carry-in. The accumulators are ``acc + 1`` bits wide and wrap; the result,
(X + O) >> 1, is the exact product modulo 2^acc.

Stream contracts, one R×C tile per ``last``:
    ``a``   R×g block ``data[r][d] = A[m0 + r, k0 + d]``, with ``plane`` (0..prec, in
            order), ``prec`` and ``wfmt`` (0 int/ternary, 1 uint, 2 bipolar/binary);
            ``last`` on the tile's final beat (final group, plane ``prec``).
    ``w``   g×C bits ``[d][j]`` = bit ``plane`` of the code of W[k0 + d, n0 + j]. Paired
            beat-for-beat with ``a``.
    ``out`` C-vector: rows 0..R−1 of the result tile, R beats per tile.

A tile of G groups at b bits takes G·b beats; its rows leave from 4 cycles after its last
beat (input, table, lookup and accumulator registers), and tiles follow without a gap when
G·b ≥ R. With ``dequant: group`` a tile is one weight group; its rows are rescaled in two
more registered stages (the multipliers' operand and product registers) and group tiles are
at least max(R + 1, 4) cycles apart.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, ClockDomain, ClockSignal, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..pe.lut import accumulate, build_table, signed_lookup, sum_entry, table_step, table_width
from ..config import GROUP_LOG2_MAX
from ..pe.mac import operand_shape
from .common import TileSpacing, stallable, vec_stream

__all__ = ["LutOS", "WFMT_INT", "WFMT_UINT", "WFMT_BIPOLAR", "SCALE_LANE", "ROW_LATENCY", "partial_bits",
           "rowsum_bits"]

#: the ``wfmt`` codes (:attr:`hwgen.numerics.LowBitFormat.code`)
WFMT_INT, WFMT_UINT, WFMT_BIPOLAR = 0, 1, 2
#: a group's scale and zero point, per column: signed 16-bit fixed-point integers
SCALE_LANE = data.StructLayout({"d": signed(16), "m": signed(16)})
#: cycles from a tile's last beat being taken to its ``load`` (accumulators to the holds,
#: the scale buffer freed): the input, table and lookup registers
LOAD_DELAY = 3
#: a tile whose last beat is taken on cycle t has its first row valid on ``out`` on cycle
#: t + ROW_LATENCY, without ``dequant: group`` and without back-pressure: the input, table,
#: lookup, accumulator (hold) and output registers, so the rows leave after 4 cycles in
#: between. Proved exact, not only an upper bound, by :mod:`hwgen.formal.lut_engine`.
ROW_LATENCY = LOAD_DELAY + 2


def partial_bits(cfg: ArrayConfig) -> int:
    """Signed width of a group's exact partial dot product (:attr:`ArrayConfig.lut_partial_bits`)."""
    return cfg.lut_partial_bits


def rowsum_bits(cfg: ArrayConfig) -> int:
    """Signed width of a group's activation sum Σ a (what a zero point multiplies)."""
    return (2 ** GROUP_LOG2_MAX * cfg.depth * max(-cfg.pe.a.min, cfg.pe.a.max)).bit_length() + 1


class LutOS(wiring.Component):
    """R×C output-stationary table-lookup engine over bit-planes of g-wide weight groups."""

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        pe, R, C, g = cfg.pe, cfg.rows, cfg.cols, cfg.depth
        B = pe.w.bits
        self.grouped = cfg.dequant == "group"
        extra = {"plane": range(B), "prec": range(B), "wfmt": 2, **({"scaled": 1} if self.grouped else {})}
        super().__init__({
            "a": In(vec_stream(data.ArrayLayout(operand_shape(pe.a), g), R, last=True, extra=extra)),
            "w": In(vec_stream(data.ArrayLayout(1, C), g)),
            **({"s": In(vec_stream(SCALE_LANE, C))} if self.grouped else {}),
            "out": Out(vec_stream(signed(pe.acc), C)),
        })

    def elaborate(self, platform):
        cfg, pe = self.cfg, self.cfg.pe
        R, C, g, B = cfg.rows, cfg.cols, cfg.depth, pe.w.bits
        sym = cfg.table == "symmetric"
        aw = pe.acc + 1                                   # the accumulators hold 2·a·w
        tw = table_width(pe.a, g) + B                     # a table entry shifted by up to B
        m, fab, en = stallable(self.out)

        # group tiles: their scales are held until the last row has left the two-stage
        # multiply (R + 1), and a tile's last beat may check the scale buffer only after the
        # tile before it has freed it at its load (LOAD_DELAY + 1; one less let a tile take
        # the previous tile's scales: seed 919072352). That also keeps the rows accumulating
        # onto the same result words ≥ 3 cycles apart.
        space = TileSpacing(m, fab, max(R + 1, LOAD_DELAY + 1) if self.grouped else R, self.a.payload.last)
        fire = Signal()
        # a scaled tile's last beat goes in only with its scales in the buffer (used at its load)
        s_full = Signal(name="s_full")
        s_ok = (~(self.a.payload.last & self.a.payload.scaled) | s_full) if self.grouped else 1
        m.d.comb += [
            fire.eq(en & self.a.valid & self.w.valid & space.ok & s_ok),
            self.a.ready.eq(en & self.w.valid & space.ok & s_ok),
            self.w.ready.eq(en & self.a.valid & space.ok & s_ok),
            space.mark.eq(fire & self.a.payload.last),
        ]

        # -- stage 0: input registers
        p = self.a.payload
        v0, l0, first0, neg0, off0, dbl0 = (Signal(name=n) for n in ("v0", "last0", "first0", "neg0", "off0", "dbl0"))
        a0 = [[Signal(operand_shape(pe.a), name=f"a_{r}_{d}") for d in range(g)] for r in range(R)]
        w0 = Signal(g * C, name="plane0")
        fab.d.sync += [v0.eq(fire), l0.eq(p.last), first0.eq(p.plane == 0),
                       neg0.eq((p.wfmt == WFMT_INT) & (p.plane == p.prec)),
                       off0.eq(p.wfmt != WFMT_BIPOLAR), dbl0.eq(p.wfmt == WFMT_BIPOLAR),
                       w0.eq(self.w.payload.as_value())]
        fab.d.sync += [a0[r][d].eq(p.data[r][d]) for r in range(R) for d in range(g)]
        sc0, sc1, sc2 = Signal(name="scaled0"), Signal(name="scaled1"), Signal(name="scaled2")
        if self.grouped:
            fab.d.sync += [sc0.eq(p.scaled), sc1.eq(sc0), sc2.eq(sc1)]

        # -- stage 1: the tables (precompute on a group's first plane, then shift per plane)
        v1, l1, neg1, off1 = (Signal(name=n) for n in ("v1", "last1", "neg1", "off1"))
        w1 = Signal(g * C, name="plane1")
        fab.d.sync += [v1.eq(v0), l1.eq(l0), neg1.eq(neg0), off1.eq(off0), w1.eq(w0)]
        tabs, fresh_sums = [], []
        for r in range(R):
            fresh = build_table(fab, a0[r], pe.a, sym, f"pre{r}")
            fresh_sums.append(sum_entry(fresh, sym))
            held = [Signal(signed(tw), name=f"tab_{r}_{e}") for e in range(len(fresh))]
            with fab.If(v0):
                fab.d.sync += [t.eq(table_step(f, t, first0, dbl0)) for t, f in zip(held, fresh)]
            tabs.append(held)

        # -- stage 2: the lookups, registered (the table's fan-out to every column and the
        # lookup mux are one cycle, the accumulators' carry chains the next)
        v2 = Signal(name="v2")
        end2 = Signal(init=1, name="end2")   # a tile's last beat (1 in reset: clears the accumulators)
        fab.d.sync += [v2.eq(v1), end2.eq(v1 & l1)]
        looked = [[None] * C for _ in range(R)]
        for r in range(R):
            for j in range(C):
                idx = Cat(*(w1[d * C + j] for d in range(g)))
                val, n = signed_lookup(fab, tabs[r], idx, neg1, sym, f"lk_{r}_{j}")
                rv, rn = Signal(signed(tw), name=f"lkv_{r}_{j}"), Signal(name=f"lkn_{r}_{j}")
                fab.d.sync += [rv.eq(val), rn.eq(n)]
                looked[r][j] = (rv, rn)
        sums = []
        for r in range(R):   # the offset column: the all-ones entry S, only for {0,1} planes
            sv, sn = Signal(signed(tw), name=f"sum_{r}"), Signal(name=f"sumn_{r}")
            fab.d.sync += [sv.eq(Mux(off1, sum_entry(tabs[r], sym), 0)), sn.eq(neg1 & off1)]
            sums.append((sv, sn))

        # -- stage 3: the accumulators; a tile's last beat moves them to the holds. Their
        # restart from zero is the flip-flops' synchronous reset (a local domain on the same
        # clock), not a select between adder and flip-flop.
        load = Signal(name="load")
        m.d.comb += load.eq(v2 & end2)
        step, stop = Signal(name="acc_step"), Signal(name="acc_stop")
        m.domains.accd = accd = ClockDomain("accd", local=True)
        m.d.comb += [step.eq(en & v2), stop.eq(en & end2), accd.clk.eq(ClockSignal("sync")), accd.rst.eq(stop)]
        holds = [[Signal(signed(aw), name=f"hold_{r}_{j}") for j in range(C)] for r in range(R)]
        offs = [Signal(signed(aw), name=f"offhold_{r}") for r in range(R)]

        def acc_cell(hold, x, n, name):
            acc = Signal(signed(aw), name=name)
            nxt = accumulate(fab, acc, x, n, aw, f"{name}_s")
            with m.If(step):
                m.d.accd += acc.eq(nxt)
            with fab.If(load):
                fab.d.sync += hold.eq(nxt)

        for r in range(R):
            for j in range(C):
                acc_cell(holds[r][j], *looked[r][j], f"acc_{r}_{j}")
            acc_cell(offs[r], *sums[r], f"off_{r}")

        # -- drain: row by row, (X + O) >> 1 (C adders, shared by the rows)
        draining = Signal(name="draining")
        row = Signal(range(R), name="drain_row")
        with fab.If(load):
            fab.d.sync += [draining.eq(1), row.eq(0)]
        with fab.Elif(draining):
            fab.d.sync += row.eq(row + 1)
            with fab.If(row == R - 1):
                fab.d.sync += [draining.eq(0), row.eq(0)]
        if not self.grouped:
            fab.d.sync += self.out.valid.eq(draining)
        off_row = Signal(signed(aw), name="off_row")
        fab.d.comb += off_row.eq(Array(offs)[row])
        deq = self._dequant(m, fab, en, load, row, fresh_sums, v0, first0, sc2, s_full) if self.grouped else None
        totals = []
        for j in range(C):
            total = Signal(signed(aw), name=f"total{j}")
            totals.append(total)
            fab.d.comb += total.eq(Array(holds[r][j] for r in range(R))[row] + off_row)
            if deq is None:
                fab.d.sync += self.out.payload[j].eq(total[1:])
        if deq is not None:
            self._rescale(fab, deq, draining, [t[1:] for t in totals])
        return m

    def _rescale(self, fab, deq, draining, results):
        """The drain's rescaling in two registered stages (operands, then the DSPs' products),
        then the sum: ``scale·partial + zero·Σa`` per column, or the plain result when the
        RUN is not group-quantized."""
        cfg, C, acc = self.cfg, self.cfg.cols, self.cfg.pe.acc
        scaled_h, dh, mh, y_row = deq
        pw, yw = partial_bits(cfg), rowsum_bits(cfg)
        va, vb, sa, sb = (Signal(name=n) for n in ("resc_va", "resc_vb", "resc_sa", "resc_sb"))
        ya = Signal(signed(yw), name="resc_y")
        fab.d.sync += [va.eq(draining), vb.eq(va), sa.eq(scaled_h), sb.eq(sa), ya.eq(y_row),
                       self.out.valid.eq(vb)]
        for j in range(C):
            pa, ra, rb = Signal(signed(pw), name=f"resc_p{j}"), Signal(acc, name=f"resc_ra{j}"), Signal(acc, name=f"resc_rb{j}")
            prod_d, prod_m = Signal(signed(16 + pw), name=f"resc_d{j}"), Signal(signed(16 + yw), name=f"resc_m{j}")
            fab.d.sync += [pa.eq(results[j][:pw]), ra.eq(results[j]), rb.eq(ra),
                           prod_d.eq(dh[j] * pa), prod_m.eq(mh[j] * ya)]
            fab.d.sync += self.out.payload[j].eq(Mux(sb, prod_d + prod_m, rb))

    def _dequant(self, m, fab, en, load, row, fresh_sums, v0, first0, sc2, s_full):
        """The group dequantization: each row's activation sum over the tile (for the zero
        points), and the tile's scales held while its rows drain. Returns (scaled, d[j], m[j], Σa of the row)."""
        cfg, C, R = self.cfg, self.cfg.cols, self.cfg.rows
        yw = rowsum_bits(cfg)
        ysum = [Signal(signed(yw), name=f"ysum{r}") for r in range(R)]
        yh = [Signal(signed(yw), name=f"yhold{r}") for r in range(R)]
        for r in range(R):
            # each beat's group of g, once (its first plane), one stage late as the lookups are
            add = Signal(signed(yw), name=f"yadd{r}")
            fab.d.sync += add.eq(Mux(v0 & first0, fresh_sums[r], 0))
            with fab.If(load):
                fab.d.sync += [yh[r].eq(ysum[r]), ysum[r].eq(add)]
            with fab.Else():
                fab.d.sync += ysum[r].eq(ysum[r] + add)
        scaled_h = Signal(name="scaled_h")
        dh = [Signal(signed(16), name=f"dhold{j}") for j in range(C)]
        mh = [Signal(signed(16), name=f"mhold{j}") for j in range(C)]
        # one tile's scales wait in a buffer (taken whenever it is free, or freed at this load)
        s_buf = Signal(self.s.payload.shape(), name="s_buf")
        consume = Signal(name="s_consume")
        m.d.comb += [consume.eq(load & sc2), self.s.ready.eq(en & (~s_full | consume))]
        with fab.If(self.s.valid & self.s.ready):
            fab.d.sync += [s_buf.eq(self.s.payload), s_full.eq(1)]
        with fab.Elif(consume):
            fab.d.sync += s_full.eq(0)
        with fab.If(load):
            fab.d.sync += scaled_h.eq(sc2)
            with fab.If(sc2):
                fab.d.sync += [dh[j].eq(s_buf[j].d) for j in range(C)]
                fab.d.sync += [mh[j].eq(s_buf[j].m) for j in range(C)]
        y_row = Signal(signed(yw), name="y_row")
        fab.d.comb += y_row.eq(Array(yh)[row])
        return scaled_h, dh, mh, y_row
