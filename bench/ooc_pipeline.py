#!/usr/bin/env python3
"""The 8×8 int8 output-stationary array out of context on the ECP5-85F, multipliers in
DSPs, at each ``pe.pipeline`` depth side by side: resources, Fmax over several nextpnr
seeds (placement varies by ±10%), critical path, cycles per tile, and ratios to the
unpipelined array. Writes ``bench/results/ooc_pipeline.json``.

    python bench/ooc_pipeline.py                      # depths 0-3, seeds 1-3
    python bench/ooc_pipeline.py --depth 3 --seeds 5

One yosys run per depth; nextpnr once per seed on the same netlist.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from datetime import datetime, timezone
from pathlib import Path

from hwgen.arrays.systolic import os_extra_latency
from hwgen.config import load
from hwgen.fpga.ooc import place_ooc
from hwgen.fpga.synth import synth_ooc
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent


def measure(depth: int, seeds: int, work: Path) -> dict:
    base = load(ROOT / "examples" / "systolic_8x8.yaml")
    cfg = dataclasses.replace(base, name=f"ooc_p{depth}", array=dataclasses.replace(
        base.array, pe=dataclasses.replace(base.array.pe, pipeline=depth)))
    print(f"[pipeline {depth}] synth_ecp5 + nextpnr seed 1 ({work})", flush=True)
    r = synth_ooc(cfg, None, "ecp5-85k", work, dsp=True, seed=1, log=lambda _: None)
    fmax = [r["fmax_mhz"]]
    for seed in range(2, seeds + 1):
        print(f"[pipeline {depth}] nextpnr seed {seed}", flush=True)
        fmax.append(round(place_ooc(work / f"{cfg.name}.json", seed=seed, suffix=f"_{seed}"), 1))
    a = cfg.array
    return {"pipeline": depth, "lut4": r["lut4"], "ccu2c": r["carry_ccu2c"], "ff": r["ff"], "dsp": r["dsp_mult18"],
            "fmax_by_seed": fmax, "fmax_min": min(fmax), "fmax_median": statistics.median(fmax),
            "critical_seed1": f"{r['critical_path']['from']} -> {r['critical_path']['to']}",
            "tile_cycles_k64": 64 + a.rows + a.cols + 1 + os_extra_latency(a), "logs": str(work)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, action="append", choices=[0, 1, 2, 3], help="pipeline depth (repeatable)")
    ap.add_argument("--seeds", type=int, default=3, help="nextpnr seeds per depth (default 3)")
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "ooc_pipeline"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "ooc_pipeline.json"))
    args = ap.parse_args(argv)
    out = Path(args.output)
    # a run of some depths keeps the others' last results
    kept = {r["pipeline"]: r for r in json.loads(out.read_text())["results"]} if out.exists() else {}
    for d in sorted(args.depth or [0, 1, 2, 3]):
        kept[d] = measure(d, args.seeds, Path(args.work_dir) / f"p{d}")
    rows = [kept[d] for d in sorted(kept)]
    base = next((r for r in rows if r["pipeline"] == 0), None)
    lines = []
    for r in rows:
        ratio = f"{r['fmax_median'] / base['fmax_median']:.2f}x" if base else "-"
        lines.append([r["pipeline"], f"{r['lut4']:,}", f"{r['ccu2c']:,}", f"{r['ff']:,}", r["dsp"],
                      " / ".join(f"{f:.1f}" for f in r["fmax_by_seed"]), f"{r['fmax_min']:.1f}", ratio,
                      r["tile_cycles_k64"]])
    text = table(["pipeline", "LUT4", "CCU2C", "FF", "MULT18X18D", "Fmax MHz by seed", "min", "median vs 0",
                  "cycles/tile (K=64)"], lines, align="lrrrrrrrr")
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "ooc_pipeline", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "design": "examples/systolic_8x8.yaml (8x8 int8 OS, acc 32) with pe.pipeline = depth",
        "flow": "synth_ecp5 (DSPs) + nextpnr-ecp5 --85k --out-of-context --freq 200",
        "results": rows, "table": text}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
