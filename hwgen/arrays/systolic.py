"""R×C systolic arrays, output- and weight-stationary, with stream edges.

Both arrays take *unskewed* operand vectors and skew them internally, and return one
C-wide result row per output beat. The whole grid advances under one enable that drops
only while the output holds a beat nobody takes, so input stalls become bubbles that
travel with their valid bit and output stalls freeze everything: any stall pattern on
any edge leaves results exact.

Stream contracts (``R = rows``, ``C = cols``):

Output-stationary (:class:`SystolicOS`), one R×C output tile per ``last``:
    ``a``   R-vector: column k of the A tile (A[m0:m0+R, k]); ``last`` on the final k.
    ``w``   C-vector: row k of the W tile (W[k, n0:n0+C]). Paired beat-for-beat with ``a``.
    ``out`` C-vector: rows 0..R-1 of the result tile, R beats per tile.

Weight-stationary (:class:`SystolicWS`), one R×C weight tile per ``last``:
    ``w``   C-vector: rows 0..R-1 of the weight tile, R beats per tile (loads overlap compute).
    ``a``   R-vector: row m of the A tile (A[m, k0:k0+R]); ``last`` on the final m.
    ``c``   C-vector: initial accumulator for row m (zeros, a bias, or the previous K tile's
            result). Paired beat-for-beat with ``a``.
    ``out`` C-vector: c[m] + A[m, k0:k0+R] @ W_tile, one beat per ``a`` beat.

Input-stationary (the same :class:`SystolicWS` grid, operands exchanged: C^T = W^T A^T):
    ``a``   C-vector: rows 0..R-1 of the stationary A^T tile (A[m0:m0+C, k0+r]), R beats.
    ``w``   R-vector: column n of the W tile (W[k0:k0+R, n]); ``last`` on the final n.
    ``c``   C-vector: initial accumulator for column n of the result. Paired with ``w``.
    ``out`` C-vector: c[n] + (A_tile @ W[k0:k0+R, n]) over the tile's C rows of A.
"""
from __future__ import annotations

import dataclasses

from amaranth.hdl import Cat, Const, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..pe.mac import OSMacPE, WSMacPE, acc_layout, hold_delay, operand_shape, resolve, words
from ..pe.mul import DualMul
from .common import delay as _delay
from .common import stallable as _stallable
from .common import stallable_registered as _stallable_registered
from .common import vec_stream as _vec_stream
from .common import weight_banks

__all__ = ["SystolicOS", "SystolicWS", "os_min_tile_k", "os_tile_gap", "os_extra_latency", "paired_multipliers", "registered_enable", "ws_view"]


def registered_enable(cfg: ArrayConfig) -> bool:
    """``pipeline: 3`` is the Fmax mode: the stall enable is a flip-flop behind an output
    buffer (:func:`~hwgen.arrays.common.stallable_registered`). ``pipeline: 2`` keeps the
    combinational enable and no buffer (3·C·acc flip-flops fewer: the small-FPGA mode)."""
    return cfg.pe.pipeline >= 3


def paired_multipliers(cfg: ArrayConfig) -> bool:
    """Neighbouring PEs of a row share a :class:`~hwgen.pe.mul.DualMul` (one iCE40 SB_MAC16
    in 8×8 mode): output-stationary systolic arrays with ``pipeline >= 2``."""
    return cfg.kind == "systolic" and cfg.dataflow == "output_stationary" and cfg.pe.pipeline >= 2


def os_extra_latency(cfg: ArrayConfig) -> int:
    """Cycles an OS tile takes beyond K + R + C + 1: the PE's pipeline registers, the
    output buffer behind a registered stall enable, and ``pipeline: 2``'s hold step."""
    return cfg.pe.pipeline + int(registered_enable(cfg)) + hold_delay(cfg.pe) + (
        cfg.rows - 1 if cfg.drain == "shift" else 0)


def os_tile_gap(cfg: ArrayConfig) -> int:
    """Bubbles after a tile's last beat: 1 for ``drain: shift`` with ``pipeline: 2`` (the
    step in which each PE's accumulator is cleared, :meth:`OSMacPE._restart_by_clear`)."""
    return int(cfg.drain == "shift" and cfg.pe.pipeline == 2)


def os_min_tile_k(cfg: ArrayConfig) -> int:
    """Fewest steps between two OS tiles' last beats; shorter tiles are spaced by bubbles.
    ``drain: shift``: the next tile's first finished value (top-left PE) may replace its
    hold register only after the bottom row has shifted past it."""
    if cfg.drain == "shift":
        return 2 * cfg.rows + cfg.cols - 1
    return max(cfg.rows, cfg.cols)


class SystolicOS(wiring.Component):
    """Output-stationary R×C systolic array (see module docstring for the streams).

    One tile of K steps takes K + R + C + 1 cycles from first input to last output when
    nothing stalls; back-to-back tiles overlap fully when K ≥ max(R, C).
    """

    def __init__(self, cfg: ArrayConfig):
        self.cfg = cfg
        pe = cfg.pe
        super().__init__({
            "a": In(_vec_stream(operand_shape(pe.a), cfg.rows, last=True)),
            "w": In(_vec_stream(operand_shape(pe.w), cfg.cols)),
            "out": Out(_vec_stream(signed(pe.acc), cfg.cols)),
        })

    def elaborate(self, platform):
        R, C, cfg = self.cfg.rows, self.cfg.cols, self.cfg
        if registered_enable(cfg):
            m, fab, en, out = _stallable_registered(self.out)
        else:
            (m, fab, en), out = _stallable(self.out), self.out

        # A tile's last beat waits until the previous one is at least L steps old, so
        # its hold registers are read out before being overwritten.
        L = os_min_tile_k(cfg)
        since = Signal(range(L + 1), init=L)
        ok = ~self.a.payload.last | (since >= L)
        if os_tile_gap(cfg):   # no beat in the step after a last one
            ok = ok & (since != 1)
        fire = Signal()
        m.d.comb += [
            fire.eq(en & self.a.valid & self.w.valid & ok),
            self.a.ready.eq(en & self.w.valid & ok),
            self.w.ready.eq(en & self.a.valid & ok),
        ]
        with fab.If(fire & self.a.payload.last):
            fab.d.sync += since.eq(1)
        with fab.Elif(since < L):
            fab.d.sync += since.eq(since + 1)

        # Input registers, then the skew: row r waits r steps, column j waits j steps.
        v0, l0 = Signal(), Signal()
        a0 = [Signal(operand_shape(cfg.pe.a), name=f"a_in{r}") for r in range(R)]
        w0 = [Signal(operand_shape(cfg.pe.w), name=f"w_in{j}") for j in range(C)]
        fab.d.sync += [v0.eq(fire), l0.eq(self.a.payload.last)]
        fab.d.sync += [a0[r].eq(self.a.payload.data[r]) for r in range(R)]
        fab.d.sync += [w0[j].eq(self.w.payload[j]) for j in range(C)]

        muls = [[None] * C for _ in range(R)]
        if paired_multipliers(cfg):
            for r in range(R):
                for j in range(0, C - 1, 2):
                    fab.submodules[f"mul_{r}_{j}"] = dual = DualMul(operand_shape(cfg.pe.a), operand_shape(cfg.pe.w),
                                                                   stages=cfg.pe.pipeline, enable=en)
                    muls[r][j], muls[r][j + 1] = dual.halves
        shift = cfg.drain == "shift"
        pes = [[OSMacPE(cfg.pe, enable=en, mul=muls[r][j], shift_hold=shift) for j in range(C)] for r in range(R)]
        for r in range(R):
            for j in range(C):
                fab.submodules[f"pe_{r}_{j}"] = p = pes[r][j]
                if j == 0:  # operand, valid and last share one delay line per row
                    ab = cfg.pe.a.bits
                    row = _delay(fab, Cat(a0[r], v0, l0), r, f"skew_a{r}")
                    fab.d.comb += [p.a_in.eq(row[:ab]), p.v_in.eq(row[ab]), p.l_in.eq(row[ab + 1])]
                else:
                    west = pes[r][j - 1]
                    fab.d.comb += [p.a_in.eq(west.a_out), p.v_in.eq(west.v_out), p.l_in.eq(west.l_out)]
                north_w = _delay(fab, w0[j], j, f"skew_w{j}") if r == 0 else pes[r - 1][j].w_out
                fab.d.comb += p.w_in.eq(north_w)

        # A row is complete when its last-marked operand leaves the east edge; rows of a
        # tile complete on consecutive steps, so a one-hot AND-OR mux picks the row.
        done = [Signal(name=f"row_done{r}") for r in range(R)]
        # with a pipelined PE the holds are written `pipeline` steps after last passes: read as much later
        if shift:
            self._drain_by_shift(fab, out, pes, done)
            return m
        for r in range(R):
            fab.d.comb += done[r].eq(_delay(fab, pes[r][C - 1].v_out & pes[r][C - 1].l_out,
                                            cfg.pe.pipeline + hold_delay(cfg.pe), f"row_done{r}"))
        fab.d.sync += out.valid.eq(Cat(*done).any())
        width = words(cfg.pe) * cfg.pe.acc
        for j in range(C):
            sel = 0
            for r in range(R):
                sel = sel | (pes[r][j].hold.as_value() & done[r].replicate(width))
            fab.d.sync += out.payload[j].eq(resolve(cfg.pe, data.View(acc_layout(cfg.pe), sel)))
        return m

    def _drain_by_shift(self, fab, out, pes, done):
        """``drain: shift``: once the bottom row's last hold register has its value, every
        hold register is full; for R beats the top row is the output and each column's
        hold registers move up one (the top row's leave). No row multiplexer."""
        R, C, cfg = self.cfg.rows, self.cfg.cols, self.cfg
        last = pes[R - 1][C - 1]
        fab.d.comb += done[R - 1].eq(_delay(fab, last.v_out & last.l_out, cfg.pe.pipeline + hold_delay(cfg.pe),
                                            "tile_done"))
        left = Signal(range(R + 1), name="drain_left")   # top rows still to send
        sending = Signal(name="drain_on")                 # left != 0, as a flip-flop: it is out.valid
        with fab.If(done[R - 1]):
            fab.d.sync += [left.eq(R), sending.eq(1)]
        with fab.Elif(sending):
            fab.d.sync += [left.eq(left - 1), sending.eq(left != 1)]
        fab.d.comb += out.valid.eq(sending)
        for r in range(R):
            for j in range(C):
                p = pes[r][j]
                fab.d.comb += [p.shift.eq(out.valid),
                               p.hold_in.eq(pes[r + 1][j].hold if r + 1 < R else 0)]
        fab.d.comb += [out.payload[j].eq(resolve(cfg.pe, pes[0][j].hold)) for j in range(C)]


class SystolicWS(wiring.Component):
    """Weight-stationary R×C systolic array (see module docstring for the streams).

    Two weight banks: the next tile's R weight rows load while the current tile computes,
    so tiles with M ≥ R follow each other without a gap.
    """

    def __init__(self, cfg: ArrayConfig, *, stationary: str = "w", streamed: str = "a"):
        self.cfg = cfg
        self._names = (stationary, streamed)
        pe = cfg.pe
        super().__init__({
            stationary: In(_vec_stream(operand_shape(pe.w), cfg.cols)),
            streamed: In(_vec_stream(operand_shape(pe.a), cfg.rows, last=True)),
            "c": In(_vec_stream(signed(pe.acc), cfg.cols)),
            "out": Out(_vec_stream(signed(pe.acc), cfg.cols)),
        })

    def elaborate(self, platform):
        R, C, cfg = self.cfg.rows, self.cfg.cols, self.cfg
        m, fab, en = _stallable(self.out)
        st, sm = (getattr(self, n) for n in self._names)  # stationary and streamed operands

        # A bank drains for R + C - 1 steps after its tile's last activation (crossing the grid).
        banks = weight_banks(m, fab, en, st, sm, self.c, R, R + C - 1)
        a_fire, use_bank = banks.a_fire, banks.use_bank

        # Input registers and skew: row r's activation waits r steps, column j's psum j steps.
        v0, s0 = Signal(), Signal()
        a0 = [Signal(operand_shape(cfg.pe.a), name=f"a_in{r}") for r in range(R)]
        c0 = [Signal(signed(cfg.pe.acc), name=f"c_in{j}") for j in range(C)]
        fab.d.sync += [v0.eq(a_fire), s0.eq(use_bank)]
        fab.d.sync += [a0[r].eq(sm.payload.data[r]) for r in range(R)]
        fab.d.sync += [c0[j].eq(self.c.payload[j]) for j in range(C)]

        load = banks.load
        pes = [[WSMacPE(cfg.pe) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for j in range(C):
                fab.submodules[f"pe_{r}_{j}"] = p = pes[r][j]
                if j == 0:  # activation and bank select share one delay line per row
                    ab = cfg.pe.a.bits
                    row = _delay(fab, Cat(a0[r], s0), r, f"skew_a{r}")
                    fab.d.comb += [p.a_in.eq(row[:ab]), p.s_in.eq(row[ab])]
                else:
                    fab.d.comb += [p.a_in.eq(pes[r][j - 1].a_out), p.s_in.eq(pes[r][j - 1].s_out)]
                if r == 0:  # the initial accumulator enters as one word (plus zero carry word)
                    north = Cat(_delay(fab, c0[j], j, f"skew_c{j}"), Const(0, cfg.pe.acc * (words(cfg.pe) - 1)))
                else:
                    north = pes[r - 1][j].p_out
                fab.d.comb += p.p_in.eq(north)
                # weight chain enters at the bottom row and shifts north
                if r == R - 1:
                    fab.d.comb += [p.wl0_in.eq(st.payload[j]), p.wl1_in.eq(st.payload[j])]
                else:
                    fab.d.comb += [p.wl0_in.eq(pes[r + 1][j].wl0_out), p.wl1_in.eq(pes[r + 1][j].wl1_out)]
                fab.d.comb += p.load.eq(load)

        # De-skew: column j's bottom output waits C-1-j steps so a row leaves at once.
        vout = _delay(fab, v0, R + C - 1, "valid")
        fab.d.sync += self.out.valid.eq(vout)
        for j in range(C):
            bottom = Signal(signed(cfg.pe.acc), name=f"bottom{j}")
            fab.d.comb += bottom.eq(resolve(cfg.pe, pes[R - 1][j].p_out))
            fab.d.sync += self.out.payload[j].eq(_delay(fab, bottom, C - 1 - j, f"deskew{j}"))
        return m


def ws_view(cfg: ArrayConfig) -> ArrayConfig:
    """The weight-stationary array an input-stationary config runs on: C^T = W^T A^T, so the
    activations are the stationary operand and the weights stream (formats swapped)."""
    if cfg.dataflow != "input_stationary":
        return cfg
    pe = dataclasses.replace(cfg.pe, a=cfg.pe.w, w=cfg.pe.a)
    return dataclasses.replace(cfg, dataflow="weight_stationary", pe=pe)
