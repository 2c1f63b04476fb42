"""The STORE unit (accelerators with PIM banks, docs/pim.md): accumulator words requantized
on chip, with a pair mix for rotary embeddings, written into bank words: the new K/V rows of
a decode step go from the engine's accumulators into the KV caches without crossing the link.

Exactly :mod:`hwgen.golden.store`. A store is checked before it writes: the unit first computes
each stream's last (largest: the strides are unsigned) address ``base + (n1−1)·s1 + (n2−1)·s2``
by shift-and-add, 16 cycles a product, and refuses the whole store if any leaves its memory;
then it walks the steps one word at a time: the
accumulator word and its coefficient words are read, the ``C`` lanes go one per cycle through
a pipeline (two products, their sum, the rounding shift, the clip) and the word is written.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..golden.store import STORE_PAIR
from ..numerics import Format
from .layout import Geometry
from .protocol import STORE_FORMAT, Mem
from .requant import clip_parts, round_parts

__all__ = ["StoreArgs", "KvStore", "store_cycles", "PIPE"]

#: STORE_FORMAT's fields as a layout (the link's argument register, little-endian)
StoreArgs = data.StructLayout({
    "flags": 8, "shift": 8, "n1": 16, "n2": 16, "src": 16, "src1": 16, "src2": 16,
    "dst": 32, "dst1": 32, "dst2": 32, "coef": 16, "coef1": 16, "coef2": 16})
assert StoreArgs.size == 8 * STORE_FORMAT.size

#: the lane pipeline's register stages (select, products, sum, shift, round; the clip goes
#: straight into the word)
PIPE = 5


#: cycles of the check: two products of 16 steps each, and the decision
CHECK_CYCLES = 2 * 16 + 2


def store_cycles(steps: int, cols: int) -> int:
    """Cycles of an accepted store of ``steps`` words of ``cols`` lanes, as the link counts
    them: the check, then per word three cycles of reads, ``cols`` lanes into the pipeline,
    its drain and the write."""
    return CHECK_CYCLES + 1 + steps * (cols + PIPE + 4)


class _Walk:
    """One address stream of the walk: ``base + i1·s1 + i2·s2`` in ``W`` bits, with a sticky
    flag once it (or a stride) passes ``2**W`` (then it is out of any memory here)."""

    def __init__(self, m: Module, name: str, W: int, base, s1, s2):
        self.m, self.W, self.base, self.s1, self.s2 = m, W, base, s1, s2
        self.cur, self.row = Signal(W, name=f"{name}_cur"), Signal(W, name=f"{name}_row")
        self.over, self.row_over = Signal(name=f"{name}_over"), Signal(name=f"{name}_row_over")

    def start(self):
        hi = self.base[self.W:] != 0 if len(self.base) > self.W else Const(0)
        self.m.d.sync += [self.cur.eq(self.base[:self.W]), self.row.eq(self.base[:self.W]), self.over.eq(hi),
                          self.row_over.eq(hi)]

    def _big(self, s):
        return s[self.W:] != 0 if len(s) > self.W else Const(0)

    def inner(self):
        t = self.cur + self.s1[:self.W]
        self.m.d.sync += [self.cur.eq(t[:self.W]), self.over.eq(self.over | t[self.W] | self._big(self.s1))]

    def outer(self):
        t = self.row + self.s2[:self.W]
        o = self.row_over | t[self.W] | self._big(self.s2)
        self.m.d.sync += [self.row.eq(t[:self.W]), self.cur.eq(t[:self.W]), self.row_over.eq(o), self.over.eq(o)]

    # -- the check: the last address, base + (n1−1)·s1 + (n2−1)·s2, by shift-and-add
    def check_start(self):
        self.m.d.sync += [self.cur.eq(self.base[:self.W]), self.over.eq(self._big(self.base))]

    def check_load(self, second):
        """Take the stride of the next product (``second``: s2) into the multiplicand."""
        s = Mux(second, self.s2, self.s1)
        if not hasattr(self, "mx"):
            self.mx, self.mx_big = Signal(self.W, name=f"{self.cur.name}_mx"), Signal(name=f"{self.cur.name}_mxbig")
        self.m.d.sync += [self.mx.eq(s[:self.W]), self.mx_big.eq(self._big(s))]

    def check_step(self, bit):
        """One multiplier bit (``bit``: add the multiplicand), then the multiplicand doubles."""
        t = self.cur + self.mx
        with self.m.If(bit):
            self.m.d.sync += [self.cur.eq(t[:self.W]), self.over.eq(self.over | t[self.W] | self.mx_big)]
        self.m.d.sync += [self.mx.eq(self.mx << 1), self.mx_big.eq(self.mx_big | self.mx[-1])]

    def inside(self, limit):
        return ~self.over & (self.cur < limit)


class KvStore(wiring.Component):
    """Executes STOREs. ``start`` (ignored while ``busy``) takes ``args``; ``busy`` is high
    from the next cycle until the store is done or refused; ``bad`` then says which (it is
    valid while ``busy`` is low). While busy the unit owns the accumulator and scale memories'
    read ports and the banks' host write port (the caller's muxes)."""

    def __init__(self, geo: Geometry):
        if not geo.pim_store:
            raise ValueError(f"{geo.cfg.name}: STORE needs PIM banks whose lanes equal the engine's columns")
        self.geo = geo
        self.depths = {mm: geo.depth(mm) for mm in (Mem.ACC, Mem.SCALE, Mem.PIM)}
        self.abits = {mm: max(1, (d - 1).bit_length()) for mm, d in self.depths.items()}
        C, L = geo.C, geo.pim.lanes
        super().__init__({
            "start": In(1), "args": In(StoreArgs), "busy": Out(1), "bad": Out(1),
            "acc_rd_addr": Out(self.abits[Mem.ACC]), "acc_rd_en": Out(1),
            "acc_rd_data": In(geo.word_bits(Mem.ACC)),
            "sc_rd_addr": Out(self.abits[Mem.SCALE]), "sc_rd_en": Out(1),
            "sc_rd_data": In(geo.word_bits(Mem.SCALE)),
            "pim_wr_addr": Out(self.abits[Mem.PIM]), "pim_wr_data": Out(8 * L), "pim_wr_en": Out(L),
        })

    def elaborate(self, platform):
        m = Module()
        geo, a = self.geo, Signal(StoreArgs)
        C, A = geo.C, geo.cfg.array.pe.acc
        fmt = Format(8)
        walks = {mm: _Walk(m, mm.name.lower(), d.bit_length(), *(getattr(a, f"{k}{s}") for s in ("", "1", "2")))
                 for mm, d, k in ((Mem.ACC, self.depths[Mem.ACC], "src"), (Mem.SCALE, self.depths[Mem.SCALE], "coef"),
                                  (Mem.PIM, self.depths[Mem.PIM], "dst"))}
        pair = a.flags[0]
        i1, i2 = Signal(16), Signal(16)
        second, bits, k = Signal(), Signal(16), Signal(4)   # the check's product, multiplier bits, step
        last1, last2 = i1 == a.n1 - 1, i2 == a.n2 - 1

        def start_walk():
            m.d.sync += [i1.eq(0), i2.eq(0)]
            for w in walks.values():
                w.start()

        def step():
            """On to the next step (the callers know it is not the last)."""
            with m.If(last1):
                m.d.sync += [i1.eq(0), i2.eq(i2 + 1)]
                for w in walks.values():
                    w.outer()
            with m.Else():
                m.d.sync += i1.eq(i1 + 1)
                for w in walks.values():
                    w.inner()

        sc_limit = Mux(pair, self.depths[Mem.SCALE] - 1, self.depths[Mem.SCALE])
        inside = (walks[Mem.ACC].inside(self.depths[Mem.ACC]) & walks[Mem.SCALE].inside(sc_limit)
                  & walks[Mem.PIM].inside(self.depths[Mem.PIM]))

        # -- the words of a step, and the lanes' pipeline
        acc_w, a_w, b_w = Signal(C * A), Signal(16 * C), Signal(16 * C)
        col, got = Signal(range(C)), Signal(range(C))
        feed = Signal()
        res = Signal(8 * C)
        valid = [Signal(name=f"lane_v{k}") for k in range(PIPE)]
        m.d.sync += [valid[0].eq(feed), *(valid[k].eq(valid[k - 1]) for k in range(1, PIPE))]
        n = A + 17
        x, y = Signal(signed(A)), Signal(signed(A))
        ca, cb = Signal(signed(16)), Signal(signed(16))
        p1, p2 = Signal(signed(A + 16)), Signal(signed(A + 16))
        total = Signal(signed(n))
        q, half, sticky = Signal(signed(n)), Signal(), Signal()
        r_sum = Signal(signed(fmt.bits + 1))
        r_fits, r_neg = Signal(), Signal()
        shift = a.shift[:6]
        m.d.sync += [x.eq(acc_w.word_select(col, A)), y.eq(acc_w.word_select(col ^ 1, A)),
                     ca.eq(a_w.word_select(col, 16)), cb.eq(Mux(pair, b_w.word_select(col, 16), 0)),
                     p1.eq(x * ca), p2.eq(y * cb), total.eq(p1 + p2),
                     q.eq(total >> shift), half.eq(((total << 1) >> shift)[0]),
                     sticky.eq(Cat(total[j] & (shift > j + 1) for j in range(n)).any())]
        low_sum, fits, neg = round_parts(q, half, sticky, fmt)
        m.d.sync += [r_sum.eq(low_sum), r_fits.eq(fits), r_neg.eq(neg)]
        with m.If(valid[PIPE - 1]):   # the lane's clipped value, shifted in at the top
            m.d.sync += [res.eq(Cat(res[8:], clip_parts(r_sum, r_fits, r_neg, fmt)[:8])), got.eq(got + 1)]

        m.d.comb += [self.acc_rd_addr.eq(walks[Mem.ACC].cur), self.pim_wr_addr.eq(walks[Mem.PIM].cur),
                     self.pim_wr_data.eq(res)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [a.eq(self.args), self.busy.eq(1), self.bad.eq(0)]
                    m.next = "BEGIN"
            with m.State("BEGIN"):   # the arguments are latched
                m.d.sync += [self.bad.eq((a.n1 == 0) | (a.n2 == 0) | (a.flags[1:] != 0) | (a.shift > 63)),
                             second.eq(0), bits.eq(a.n1 - 1), k.eq(0)]
                for w in walks.values():
                    w.check_start()
                    w.check_load(0)
                m.next = "CHECK"
            with m.State("CHECK"):   # (n1−1)·s1, then (n2−1)·s2, added to each base; nothing read or written
                for w in walks.values():
                    w.check_step(bits[0])
                m.d.sync += [bits.eq(bits >> 1), k.eq(k + 1)]
                with m.If(k == 15):
                    with m.If(second):
                        m.next = "VERDICT"
                    with m.Else():
                        m.d.sync += [second.eq(1), bits.eq(a.n2 - 1)]
                        for w in walks.values():
                            w.check_load(1)
            with m.State("VERDICT"):
                with m.If(~inside):
                    m.d.sync += self.bad.eq(1)
                m.next = "DECIDE"
            with m.State("DECIDE"):
                start_walk()
                with m.If(self.bad):
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "RD_A"
            with m.State("RD_A"):    # the accumulator word and the a coefficients
                m.d.comb += [self.acc_rd_en.eq(1), self.sc_rd_en.eq(1), self.sc_rd_addr.eq(walks[Mem.SCALE].cur)]
                m.next = "RD_B"
            with m.State("RD_B"):    # ... on the ports now; the b coefficients next
                m.d.sync += [acc_w.eq(self.acc_rd_data), a_w.eq(self.sc_rd_data), col.eq(0), got.eq(0)]
                m.d.comb += [self.sc_rd_en.eq(1), self.sc_rd_addr.eq(walks[Mem.SCALE].cur + 1)]
                m.next = "B"
            with m.State("B"):
                m.d.sync += b_w.eq(self.sc_rd_data)
                m.next = "MIX"
            with m.State("MIX"):     # a lane a cycle into the pipeline
                m.d.comb += feed.eq(1)
                m.d.sync += col.eq(col + 1)
                with m.If(col == C - 1):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(valid[PIPE - 1] & (got == C - 1)):
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.pim_wr_en.eq((1 << geo.pim.lanes) - 1)
                with m.If(last1 & last2):
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    step()
                    m.next = "RD_A"
        return m
