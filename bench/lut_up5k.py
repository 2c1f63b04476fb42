#!/usr/bin/env python3
"""The LUT engine against hwgen's MAC engines on the iCE40UP5K (iCEBreaker), issue 18: the
board where LUTs matter most (5,280 logic cells, 8 DSPs). Equal MACs per cycle per weight
precision W, as ``bench/lut_compare.py`` does on the ECP5, but as real board builds:

* LUT 1×4, g = 4, symmetric table, 4 planes stored (the iCEBreaker example's engine):
  R·C·g/W = 16, 8, 4 MACs/cycle at W1, W2, W4;
* systolic int8 × int2 4×4 (16 MACs/cycle, the W1 match: there are no 1-bit int weights)
  and 2×4 (8, the W2 match), int8 × int4 2×2 (4, the W4 match), each with its multipliers
  in SB_MAC16 DSPs (``pipeline: 2``, two 8×8 products per DSP) and in logic (``pipeline: 0``);
* bit-serial int8 × int2 2×8 (R·C/W = 16 at 1-bit steps, 8 at W2) and int8 × int4 2×8 (4).

Each engine is measured twice: **alone** (``synth_ice40`` with the board build's own script:
logic cells = SB_LUT4, SB_CARRY, flip-flops, SB_MAC16), and **as the whole accelerator**
(``hwgen synth --board icebreaker``: UART link, scratchpads, sequencer, output stage;
nextpnr's logic cells, block RAM and the clock it reaches, seed 1). Cycles come from
cocotb + Verilator (bit-exact against ``hwgen.golden``) on a 4-tile K = 256 GEMM.
Compute density = MACs/cycle × the board build's Fmax per engine LUT4 (a DSP counted as
nothing, and as the LUT4s its multiplier costs in logic: the two systolic builds' engine
LUT4 difference per DSP).

    python bench/lut_up5k.py            # 9 board builds (~15-30 min on one core)
    python bench/lut_up5k.py --no-board # engines alone + cycles only (~2 min)

Writes ``bench/results/lut_up5k.json``; each engine's row is kept in
``<work-dir>/<name>/row.json`` (keyed by its RTL and settings), so a run resumes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from amaranth.back import rtlil

from hwgen.arrays import build_array
from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, load
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.synth import TimingNotMet, synth_board, yosys_script
from hwgen.numerics import Format
from hwgen.pe.mul import DspTarget
from hwgen.report import table
from hwgen.tools import ToolError, run_tool, yosys_command
from rowcache import keep_row, kept_row, row_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lut_compare import LUT_WFMT, Engine, machine, measure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BOARD = "icebreaker"
ACC = 20          # the iCEBreaker example's accumulator (K up to 2^20 / (127·8) products exact)
#: the accelerator around every engine: the iCEBreaker LUT example's scratchpads and link
SOC_FROM = ROOT / "examples" / "icebreaker_lut.yaml"


def _cfg(name: str, array: ArrayConfig) -> HwgenConfig:
    return dataclasses.replace(load(SOC_FROM), name=name, array=array)


def _pe(w_bits: int, **kw) -> PEConfig:
    return PEConfig(a=Format(8), w=Format(w_bits), acc=ACC, **kw)


def engines() -> list[tuple[Engine, tuple[int, ...]]]:
    """(engine, the weight precisions it is compared at)."""
    lut = ArrayConfig(kind="lut", rows=1, cols=4, depth=4, table="symmetric", pe=_pe(4))
    out = [(Engine("lut", _cfg("up_lut_1x4_g4s_b4", lut)), (1, 2, 4))]
    # W1 has no 1-bit int weights: int8 x int2 systolic stands in (16 MACs/cycle), and the
    # bit-serial int2 engine runs 1-bit steps
    for w, bits, (r, c) in ((1, 2, (4, 4)), (2, 2, (2, 4)), (4, 4, (2, 2))):
        for dsp in (True, False):
            a = ArrayConfig(kind="systolic", rows=r, cols=c, pe=_pe(bits, pipeline=2 if dsp else 0))
            out.append((Engine("systolic", _cfg(f"up_sys_{r}x{c}_b{bits}{'_dsp' if dsp else ''}", a), dsp=dsp), (w,)))
    for runs, bits in (((1, 2), 2), ((4,), 4)):
        a = ArrayConfig(kind="bit_serial", rows=2, cols=8, pe=_pe(bits))
        out.append((Engine("bit_serial", _cfg(f"up_bs_2x8_b{bits}", a)), runs))
    return out


def engine_cells(engine: Engine, work: Path) -> dict:
    """The engine alone through the board build's yosys script for the iCE40UP5K: cell counts."""
    work.mkdir(parents=True, exist_ok=True)
    name = engine.name
    plat = DspTarget("ice40") if engine.dsp else None
    (work / f"{name}.il").write_text(rtlil.convert(build_array(engine.config.array), name=name, platform=plat))
    script = yosys_script("ice40", engine.dsp, engine.dsp, top=name, engine=name, netlist=f"{name}_netlist.v",
                          speed=BOARDS[BOARD].capacity.speed)
    (work / "synth.ys").write_text(script)
    run_tool([*yosys_command(), "-q", "-s", "synth.ys"], work / "yosys.log", what=f"yosys {name}", cwd=work)
    stat = json.loads((work / "synth_stat.json").read_text())
    cells = next(iter(stat["modules"].values())).get("num_cells_by_type", {})
    return {"lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
            "ff": sum(v for k, v in cells.items() if k.startswith("SB_DFF")), "dsp": cells.get("SB_MAC16", 0),
            "bram": cells.get("SB_RAM40_4K", 0)}


def board_build(engine: Engine, work: Path) -> dict:
    """The whole accelerator built for the iCEBreaker at its default clock, nextpnr seed 1;
    timing not met is a result (the clock reached), not an error."""
    try:
        rep = synth_board(engine.config, None, BOARDS[BOARD], work, allow_timing_fail=True, log=lambda *a: None)
    except TimingNotMet as e:      # pragma: no cover (allow_timing_fail)
        rep = e.report
    except ToolError as e:
        return {"built": False, "error": str(e)}
    res = rep["resources"]
    return {"built": True, "lc": res["lut4"]["used"], "lc_available": res["lut4"]["available"],
            "ff": res["ff"]["used"], "bram": res["bram"]["used"], "dsp": res["dsp"]["used"],
            "fmax_mhz": rep["clock"]["achieved_mhz"], "requested_mhz": rep["clock"]["requested_mhz"],
            "timing_met": rep["timing_met"], "critical_path": rep.get("critical_path"),
            "seconds": rep["seconds"]["total_s"], "logs": str(work)}


def why_not(error: str) -> str:
    """A failed build's reason in a table cell: what did not fit, or the first words."""
    m = re.search(r"([\d,]+) ICESTORM_LC of", error)
    if m:
        return f"no fit: {m.group(1)} LC"
    m = re.search(r"needs (\d+) (DSPs|EBRs)", error)
    if m:
        return f"no fit: {m.group(1)} {'DSP' if m.group(2) == 'DSPs' else 'BRAM'}"
    return error.split(":")[0][:40]


def measure_up5k(engine: Engine, runs: tuple[int, ...], work: Path, *, board: bool, log=print) -> dict:
    wdir = work / engine.name
    key = row_key(engine.config.to_dict(), engine.dsp, runs, board, "up5k-2")
    saved = wdir / "row.json"
    row = kept_row(saved, key)
    if row is not None and (row.get("board") or not board):
        log(f"  {engine.name}: measured before ({saved})")
        return row
    row = {"name": engine.name, "family": engine.family, "label": engine.label, "dsp": engine.dsp,
           "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    log(f"  {engine.name}: the engine alone through synth_ice40")
    t0 = time.time()
    row["engine"] = engine_cells(engine, wdir / "engine")
    row["engine"]["seconds"] = round(time.time() - t0, 1)
    log(f"  {engine.name}: simulating (W{', W'.join(map(str, runs))})")
    row["runs"] = measure(engine, runs, wdir / "sim", hw="none", log=lambda *a: None)["runs"]
    if board:
        log(f"  {engine.name}: board build for the {BOARD}")
        row["board"] = board_build(engine, wdir / "board")
    keep_row(saved, key, row)
    return row


def dsp_lut4(rows: dict) -> dict[int, float]:
    """LUT4s a DSP stands for, per weight precision: (engine LUT4 without DSPs − with) / DSPs."""
    out = {}
    for r in rows.values():
        if r["family"] == "systolic" and r["dsp"]:
            twin = rows[r["name"].removesuffix("_dsp")]
            bits = int(r["name"].split("_b")[-1].removesuffix("_dsp"))
            if r["engine"]["dsp"] and bits not in out:   # the first (largest) array of those bits
                out[bits] = round((twin["engine"]["lut4"] - r["engine"]["lut4"]) / r["engine"]["dsp"], 1)
    return out


def comparison(rows: dict, plan) -> tuple[str, list[dict]]:
    per_dsp = dsp_lut4(rows)
    recs = []
    for engine, runs in plan:
        r = rows[engine.name]
        for b in runs:
            run = r["runs"][str(b)]
            e, bd = r["engine"], r.get("board") or {}
            f = bd.get("fmax_mhz")
            mps = run["macs_per_cycle"] * f if f else None
            eq = e["lut4"] + e["dsp"] * per_dsp.get(max(b, 2), 0.0)
            recs.append({"w": b, "engine": r["label"], "name": r["name"], "engine_lut4": e["lut4"],
                         "engine_carry": e["carry"], "engine_ff": e["ff"], "engine_dsp": e["dsp"],
                         "board_lc": bd.get("lc"), "board_bram": bd.get("bram"), "board_dsp": bd.get("dsp"),
                         "board_fits": bd.get("built"), "board_note": why_not(bd["error"]) if bd.get("error") else None,
                         "fmax_mhz": f, "timing_met_24": bd.get("timing_met"),
                         "peak_macs_per_cycle": run["peak_macs_per_cycle"], "macs_per_cycle": run["macs_per_cycle"],
                         "bit_exact": run["bit_exact"],
                         "density_dsp_free": round(mps / e["lut4"] * 1e3, 1) if mps and e["lut4"] else None,
                         "density_dsp_as_lut4": round(mps / eq * 1e3, 1) if mps and eq else None})
    recs.sort(key=lambda x: (x["w"], x["name"]))
    head = ["W", "engine", "engine LUT4", "carry", "FF", "DSP", "board LC", "BRAM", "Fmax MHz",
            "MAC/cyc peak", "meas", "exact", "kMAC/s per LUT4 (DSP free)", "(DSP as LUT4)"]
    body = [[f"W{x['w']}", x["engine"], f"{x['engine_lut4']:,}", x["engine_carry"], x["engine_ff"], x["engine_dsp"],
             f"{x['board_lc']:,}" if x["board_lc"] else (x["board_note"] or "-"), x["board_bram"] if x["board_bram"] is not None else "-",
             x["fmax_mhz"] or "-", x["peak_macs_per_cycle"], x["macs_per_cycle"], "yes" if x["bit_exact"] else "NO",
             x["density_dsp_free"] or "-", x["density_dsp_as_lut4"] or "-"] for x in recs]
    return table(head, body), recs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-board", action="store_true", help="engines alone and cycles, no board builds")
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "lut_up5k"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "lut_up5k.json"))
    args = ap.parse_args(argv)
    work = Path(args.work_dir)
    plan = engines()
    t0 = time.time()
    rows = {e.name: measure_up5k(e, runs, work, board=not args.no_board) for e, runs in plan}
    text, recs = comparison(rows, plan)
    print(text)
    doc = {"benchmark": "lut_up5k", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "board": BOARD, "machine": machine(), "seconds": round(time.time() - t0, 1),
           "dsp_lut4": dsp_lut4(rows), "table": text, "comparison": recs, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
