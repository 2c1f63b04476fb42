#!/usr/bin/env python3
"""Measured GEMM cycles on the systolic arrays vs. the ideal M·N·K ÷ (R·C).

Every GEMM is simulated (Verilator + cocotb, no stalls) and checked bit-exactly against
``hwgen.golden`` in the same run; cycles run from the first input handshake to the last
output handshake. Prints one table and writes ``bench/results/gemm_cycles.json``.

    python bench/gemm_cycles.py                    # 4×4, 8×8, 16×16 × OS, WS
    python bench/gemm_cycles.py --sizes 8 --dataflows output_stationary
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
from hwgen.report import table
from hwgen.sim.runner import sim

SHAPES = {"64^3": (64, 64, 64), "128x256x96": (128, 256, 96)}
SHORT = {"output_stationary": "OS", "weight_stationary": "WS"}


def one_tile(R: int, C: int, dataflow: str) -> tuple[int, int, int]:
    """A single tile long enough to show the pipeline cost: K = 256 (OS) or M = 256 (WS)."""
    return (R, 256, C) if dataflow == "output_stationary" else (256, R, C)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="4,8,16", help="square array sizes, comma-separated")
    p.add_argument("--dataflows", default="output_stationary,weight_stationary")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gemm_cycles.json"))
    args = p.parse_args(argv)

    rows, records = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        for dataflow in args.dataflows.split(","):
            cfg = HwgenConfig(name=f"bench_{SHORT[dataflow].lower()}_{size}x{size}",
                              array=ArrayConfig(rows=size, cols=size, dataflow=dataflow, pe=PEConfig()))
            shapes = {"one tile": one_tile(size, size, dataflow), **SHAPES}
            gemms = [dict(m=m, k=k, n=n, note=label) for label, (m, k, n) in shapes.items()]
            print(f"[{size}x{size} {SHORT[dataflow]}] simulating {len(gemms)} GEMMs ...", flush=True)
            t0 = time.time()
            res = sim(cfg, seed=args.seed, gemms=gemms, work_dir=Path("build") / "bench" / cfg.name)
            wall = time.time() - t0
            sim_cycles = sum(g["cycles"] for g in res.gemms)
            for g in res.gemms:
                rec = dict(array=f"{size}x{size}", dataflow=dataflow, gemm=f"{g['m']}x{g['k']}x{g['n']}",
                           case=g["note"], tiles=g["tiles"], cycles=g["cycles"], ideal=g["ideal"],
                           utilization=round(g["utilization"], 4), cycles_over_ideal=round(g["cycles"] / g["ideal"], 4),
                           bit_exact=g["ok"])
                records.append(rec)
                rows.append([rec["array"], SHORT[dataflow], rec["gemm"], rec["case"], rec["tiles"], rec["cycles"],
                             rec["ideal"], g["utilization"], f"{rec['cycles_over_ideal']:.3f}",
                             "yes" if rec["bit_exact"] else "NO"])
            print(f"    {sim_cycles:,} cycles in {wall:.1f} s wall (incl. build{' (cached)' if res.cached_build else ''})")

    text = table(["array", "flow", "GEMM MxKxN", "case", "tiles", "cycles", "ideal", "util", "cyc/ideal", "exact"],
                 rows, align="lllrrrrrrl")
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "gemm_cycles",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(), "python": sys.version.split()[0],
        "pe": "int8 x int8 -> acc32 wrap", "seed": args.seed,
        "cycles_definition": "first input handshake to last output handshake, no stalls",
        "rows": records, "table": text,
    }, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(r["bit_exact"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
