"""The per-PE breakdown of bench/lut_compare.py: the LUT engine's parts (and the bit-serial
and systolic PEs') synthesized alone with ``synth_ecp5 -nodsp -nowidelut``, so an engine's
LUTs split into mux (or multiplier) vs adder vs table precompute vs drain.

The parts copy the datapath of :class:`hwgen.arrays.lut.LutOS` (and of the bit-serial and
MAC PEs) from the same building blocks (:mod:`hwgen.pe.lut`); alone, synthesis cannot share
logic across their ports, so their sum is a model of the PE, which the breakdown table sets
beside the engine's own LUTs per PE.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Array, ClockDomain, ClockSignal, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hwgen.fpga.ooc import synth_ecp5
from hwgen.numerics import Format
from hwgen.pe.lut import accumulate, build_table, signed_lookup, table_size, table_step, table_width
from hwgen.report import table
from rowcache import keep_row, kept_row, row_key

__all__ = ["TablePart", "LookupPart", "AccPart", "SerialMuxPart", "MulPart", "DrainPart", "part_list",
           "measure_parts", "parts_table", "breakdown_table"]

#: the engines' accumulators (the LUT engine's hold 2·a·w: one bit more) and LUT rows
ACC = 32
LUT_ROWS = 2


def _f(x, nd=1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


class TablePart(wiring.Component):
    """One row of a LUT engine (stage 1 of :class:`hwgen.arrays.lut.LutOS`): the table of g
    activations (2^g−2 or 2^(g−1)−1 adders) into its registers, which shift once per plane."""

    def __init__(self, g: int, symmetric: bool, bits: int):
        self.g, self.sym, self.tw = g, symmetric, table_width(Format(8), g) + bits
        super().__init__({"a": In(data.ArrayLayout(signed(8), g)), "first": In(1), "dbl": In(1), "v": In(1),
                          "t": Out(data.ArrayLayout(signed(self.tw), table_size(g, symmetric)))})

    def elaborate(self, platform):
        m = Module()
        acts = [Signal(signed(8), name=f"a{d}") for d in range(self.g)]
        m.d.comb += [x.eq(self.a[d]) for d, x in enumerate(acts)]
        fresh = build_table(m, acts, Format(8), self.sym, "pre")
        with m.If(self.v):
            m.d.sync += [self.t[e].eq(table_step(f, self.t[e], self.first, self.dbl)) for e, f in enumerate(fresh)]
        return m


class LookupPart(wiring.Component):
    """One LUT PE's lookup (stage 2 of the engine): g plane bits index the row's table (a
    2^(g−1):1 or 2^g:1 mux of tw-bit entries) into the lookup register with its negation
    flag (the accumulator's XOR and carry-in, :class:`AccPart`, apply it)."""

    def __init__(self, g: int, symmetric: bool, bits: int):
        self.g, self.sym, self.tw = g, symmetric, table_width(Format(8), g) + bits
        super().__init__({"t": In(data.ArrayLayout(signed(self.tw), table_size(g, symmetric))), "idx": In(g),
                          "neg_in": In(1), "x": Out(signed(self.tw)), "n": Out(1)})

    def elaborate(self, platform):
        m = Module()
        tab = [Signal(signed(self.tw), name=f"t{e}") for e in range(table_size(self.g, self.sym))]
        m.d.comb += [t.eq(self.t[e]) for e, t in enumerate(tab)]
        val, n = signed_lookup(m, tab, self.idx, self.neg_in, self.sym, "lk")
        m.d.sync += [self.x.eq(val), self.n.eq(n)]
        return m


class AccPart(wiring.Component):
    """One accumulator, copied to its hold register on a tile's last beat and restarted: as
    the LUT engine writes it (``sync_reset``: ``acc + (x ^ n) + n``, the restart the
    flip-flops' synchronous reset), or as the bit-serial engine does (``acc + x + n``, the
    restart a select before the flip-flops)."""

    def __init__(self, xw: int, aw: int, *, sync_reset: bool = False):
        self.aw, self.sync_reset = aw, sync_reset
        super().__init__({"x": In(signed(xw)), "n": In(1), "v": In(1), "last": In(1), "hold": Out(signed(aw))})

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.aw))
        if self.sync_reset:
            nxt = accumulate(m, acc, self.x, self.n, self.aw, "acc")
            m.domains.accd = accd = ClockDomain("accd", local=True)
            m.d.comb += [accd.clk.eq(ClockSignal("sync")), accd.rst.eq(self.v & self.last)]
            with m.If(self.v):
                m.d.accd += acc.eq(nxt)
            with m.If(self.v & self.last):
                m.d.sync += self.hold.eq(nxt)
            return m
        nxt = Signal(signed(self.aw))
        m.d.comb += nxt.eq(acc + self.x + self.n)
        with m.If(self.v):
            with m.If(self.last):
                m.d.sync += [self.hold.eq(nxt), acc.eq(0)]
            with m.Else():
                m.d.sync += acc.eq(nxt)
        return m


class SerialMuxPart(wiring.Component):
    """One plain bit-serial PE's operand: the row's shifted activation if the column's weight
    bit is set, conditionally negated (the sign plane)."""

    def __init__(self, bits: int):
        self.xw = 8 + bits + 1
        super().__init__({"ash": In(signed(self.xw)), "bit": In(1), "neg": In(1), "x": Out(signed(self.xw))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.x.eq(Mux(self.bit, self.ash, 0) ^ self.neg.replicate(self.xw))
        return m


class MulPart(wiring.Component):
    """A systolic PE's int8 × intW product, registered (the PE's ``pipeline`` stages)."""

    def __init__(self, bits: int):
        super().__init__({"a": In(signed(8)), "w": In(signed(bits)), "p": Out(signed(8 + bits))})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.p.eq(self.a * self.w)
        return m


class DrainPart(wiring.Component):
    """A LUT engine's per-column output: the row's hold (an R:1 mux) plus the row's offset, halved."""

    def __init__(self, rows: int, aw: int):
        self.rows, self.aw = rows, aw
        super().__init__({"holds": In(data.ArrayLayout(signed(aw), rows)), "off": In(signed(aw)),
                          "row": In(range(rows)), "out": Out(signed(aw - 1))})

    def elaborate(self, platform):
        m = Module()
        holds = [Signal(signed(self.aw), name=f"h{r}") for r in range(self.rows)]
        m.d.comb += [h.eq(self.holds[r]) for r, h in enumerate(holds)]
        total = Signal(signed(self.aw))
        m.d.comb += total.eq(Array(holds)[self.row] + self.off)
        m.d.sync += self.out.eq(total[1:])
        return m


def part_list() -> list[tuple[str, str, Callable[[], wiring.Component]]]:
    """(name, what, a function making the component) of every part measured: the LUT PE's
    lookup and accumulator and its row's table (g 2..4 × symmetric/full with 2 planes stored; g 4 symmetric with 3
    and 4), its column's drain; the bit-serial PE's operand mux and accumulator; the
    systolic PE's int8 × intW multiplier and accumulator."""
    out = []
    for bits, groups, tables in ((2, (2, 3, 4), (True, False)), (3, (4,), (True,)), (4, (4,), (True,))):
        for g in groups:
            for sym in tables:
                t, kind = ("s", "sym") if sym else ("f", "full")
                out.append((f"lut_table_g{g}{t}_b{bits}", f"per row: table g{g} {kind}, B{bits}",
                            partial(TablePart, g, sym, bits)))
                out.append((f"lut_lookup_g{g}{t}_b{bits}", f"per PE: lookup g{g} {kind}, B{bits}",
                            partial(LookupPart, g, sym, bits)))
            tw = table_width(Format(8), g) + bits
            out.append((f"lut_acc_g{g}_b{bits}", f"per PE: accumulator {ACC + 1} bits += {tw}",
                        partial(AccPart, tw, ACC + 1, sync_reset=True)))
    out.append((f"lut_drain_r{LUT_ROWS}", f"per column: drain ({LUT_ROWS}:1 + offset, {ACC + 1} bits)",
                partial(DrainPart, LUT_ROWS, ACC + 1)))
    for b in (2, 3, 4):
        out.append((f"bs_mux_b{b}", f"per PE: bit-serial operand int{b}", partial(SerialMuxPart, b)))
        out.append((f"bs_acc_b{b}", f"per PE: bit-serial accumulator {ACC} bits += {8 + b + 1}",
                    partial(AccPart, 8 + b + 1, ACC)))
    for b in (2, 3, 4, 8):
        out.append((f"mul_b{b}", f"per PE: int8 x int{b} multiplier (registered)", partial(MulPart, b)))
        out.append((f"sys_acc_b{b}", f"per PE: systolic accumulator {ACC} bits += {8 + b}",
                    partial(AccPart, 8 + b, ACC)))
    return out


def measure_parts(work: Path, *, log=print) -> dict[str, dict]:
    """Each part through ``synth_ecp5 -nodsp -nowidelut`` alone (yosys only): its LUT4, CCU2C, FF."""
    out = {}
    for name, what, make in part_list():
        text = verilog.convert(make(), name=name, emit_src=False)
        pdir = work / "parts" / name
        src = pdir / f"{name}.v"
        key = row_key(text, "nowidelut")
        row = kept_row(pdir / "row.json", key)
        if row is None:
            pdir.mkdir(parents=True, exist_ok=True)
            src.write_text(text)
            log(f"  part {name}: synth_ecp5")
            c = synth_ecp5(src, name, pdir, dsp=False, widelut=False)
            row = {"what": what, "lut4": c.get("LUT4", 0), "carry_ccu2c": c.get("CCU2C", 0),
                   "ff": c.get("TRELLIS_FF", 0), "lut4_equiv": c.get("LUT4", 0) + 2 * c.get("CCU2C", 0)}
            keep_row(pdir / "row.json", key, row)
        out[name] = row
    return out


def parts_table(parts: dict) -> str:
    return table(["part", "what", "LUT4", "CCU2C", "FF", "LUT4eq"],
                 [[n, p["what"], p["lut4"], p["carry_ccu2c"], p["ff"], p["lut4_equiv"]] for n, p in parts.items()],
                 align="llrrrr")


def breakdown_table(parts: dict, rows: dict, entries: list[Entry]) -> tuple[str, list[dict]]:
    """Per PE, in LUT4-equivalents: each engine's parts synthesized alone (the per-row table
    shared by the C columns, the per-column drain by the R rows) against the engine's own
    total ÷ PEs (the rest: control, operand and pipeline registers' enables, the systolic
    drain, and what synthesis does differently in context); and per MAC/cycle at the
    entry's W, which is what a density compares."""
    lines, recs = [], []
    for e in entries:
        eng = e.engine
        if eng.dsp or not (e.role.startswith("equal") or e.bits == 8):
            continue
        r = rows[eng.name]
        a = eng.config.array
        b, pes = a.pe.w.bits, a.rows * a.cols
        if eng.family == "lut":
            key = f"g{a.depth}{'s' if a.table == 'symmetric' else 'f'}_b{b}"
            got = [parts.get(n) for n in (f"lut_lookup_{key}", f"lut_acc_g{a.depth}_b{b}", f"lut_table_{key}",
                                          f"lut_drain_r{a.rows}")]
            if not all(got):
                continue
            split = {"mux": got[0]["lut4_equiv"], "adder": got[1]["lut4_equiv"], "table": got[2]["lut4_equiv"] / a.cols,
                     "drain": got[3]["lut4_equiv"] / a.rows}
        else:
            mx, acc = (parts.get(f"bs_mux_b{b}"), parts.get(f"bs_acc_b{b}")) if eng.family == "bit_serial" else \
                      (parts.get(f"mul_b{b}"), parts.get(f"sys_acc_b{b}"))
            if not (mx and acc):
                continue
            split = {"mux": mx["lut4_equiv"], "adder": acc["lut4_equiv"], "table": 0.0, "drain": 0.0}
        parts_pe = sum(split.values())
        engine_pe = r["ecp5"]["lut4_equiv"] / pes
        per_pe_macs = eng.peak(e.bits) / pes
        rec = {"engine": r["label"], "name": r["name"], "w": e.bits, **{k: round(v, 1) for k, v in split.items()},
               "parts_per_pe": round(parts_pe, 1), "engine_per_pe": round(engine_pe, 1),
               "rest_per_pe": round(engine_pe - parts_pe, 1), "macs_per_pe_per_cycle": per_pe_macs,
               "parts_per_mac_cycle": round(parts_pe / per_pe_macs, 1),
               "engine_per_mac_cycle": round(engine_pe / per_pe_macs, 1)}
        recs.append(rec)
        lines.append([f"W{e.bits}", r["label"], "mult" if eng.family == "systolic" else "mux", _f(split["mux"], 0),
                      _f(split["adder"], 0), _f(split["table"], 1), _f(split["drain"], 1), _f(parts_pe, 0),
                      _f(engine_pe, 0), _f(engine_pe - parts_pe, 0), f"{per_pe_macs:.2f}",
                      _f(rec["parts_per_mac_cycle"], 0), _f(rec["engine_per_mac_cycle"], 0)])
    text = table(["W", "engine", "", "mux/mult", "adder", "table/C", "drain/R", "parts/PE", "engine/PE", "rest",
                  "MAC/cyc per PE", "parts per MAC/cyc", "engine per MAC/cyc"], lines, align="lllrrrrrrrrrr")
    return text, recs
