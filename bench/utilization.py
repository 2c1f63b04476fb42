#!/usr/bin/env python3
"""Accelerator utilization: GEMMs through the host driver on the Verilated accelerator
(8×8 and 16×16 systolic arrays, output- and weight-stationary, int8 → int32), against the ideal
M·N·K ÷ (R·C) and against SCALE-Sim's model of the same array and dataflow, in one run.

Compute cycles are the device's own count over its RUN commands (the sequencer streaming
scratchpads through the engine into the accumulator memory); host-link traffic is
reported separately, as bytes and as time per transport (stream PHY: 1 byte per cycle;
UART: 10 bits per byte at ``soc.baud``). Every result is checked bit-exactly.
Writes ``bench/results/utilization.json``.

    python bench/utilization.py
    python bench/utilization.py --sizes 8 --shapes 64x64x64
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from scalesim_adapter import scalesim_cycles  # noqa: E402

from hwgen import golden  # noqa: E402
from hwgen.config import ArrayConfig, HwgenConfig, SocConfig  # noqa: E402
from hwgen.driver import Accelerator  # noqa: E402
from hwgen.report import table  # noqa: E402

SHAPES = "64x64x64,256x256x256,128x512x64,32x768x768"  # M x K x N


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="8,16")
    p.add_argument("--dataflows", default="output_stationary,weight_stationary")
    p.add_argument("--shapes", default=SHAPES, help="MxKxN, comma-separated")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "utilization.json"))
    args = p.parse_args(argv)

    rows, records = [], []
    combos = [(int(s), f) for s in args.sizes.split(",") for f in args.dataflows.split(",")]
    for size, flow in combos:
        soc = SocConfig(a_words=4096, w_words=4096, acc_words=4096, scale_words=64)
        tag = "os" if flow == "output_stationary" else "ws"
        cfg = HwgenConfig(name=f"bench_acc_{tag}_{size}x{size}",
                          array=ArrayConfig(rows=size, cols=size, dataflow=flow), soc=soc)
        print(f"[{size}x{size} {tag.upper()}] opening the Verilated accelerator ...", flush=True)
        with Accelerator.open(cfg, "verilator", log=print) as dev:
            for shape in args.shapes.split(","):
                m, k, n = (int(x) for x in shape.split("x"))
                rng = np.random.default_rng([args.seed, m, k, n])
                a = rng.integers(-128, 128, (m, k))
                w = rng.integers(-128, 128, (k, n))
                dev.reset()
                t0 = time.monotonic()
                got = dev.gemm(a, w)
                wall = time.monotonic() - t0
                st = dev.stats_dict()
                ok = bool(np.array_equal(got, golden.gemm(a, w, acc_bits=32)))
                ideal = -(-m * n * k // (size * size))
                ss = scalesim_cycles(size, size, flow, m, k, n, fast=True)
                link = st["link_bytes_out"] + st["link_bytes_in"]
                rec = dict(array=f"{size}x{size}", dataflow=tag.upper(), gemm=f"{m}x{k}x{n}", compute_cycles=st["gemm_cycles"],
                           ideal=ideal, utilization=round(ideal / st["gemm_cycles"], 4),
                           scalesim_cycles=ss["total_cycles"], ours_vs_scalesim=round(st["gemm_cycles"] / ss["total_cycles"], 4),
                           runs=st["regs"]["runs"], link_bytes=link, link_cycles_stream=link,
                           link_seconds_uart_1M=round(link * 10 / 1e6, 3), retries=st["retries"],
                           device_cycles=st["regs"]["cycles"], wall_seconds=round(wall, 2), bit_exact=ok,
                           scalesim_version=ss["version"])
                records.append(rec)
                rows.append([rec["array"], rec["dataflow"], rec["gemm"], rec["compute_cycles"], ideal, f"{rec['utilization']:.1%}",
                             ss["total_cycles"], f"{rec['ours_vs_scalesim']:.3f}", rec["runs"], link,
                             f"{rec['link_seconds_uart_1M']:.2f}", "yes" if ok else "NO"])
                print(f"    {shape}: {rec['compute_cycles']:,} compute cycles ({rec['utilization']:.1%}), "
                      f"SCALE-Sim {ss['total_cycles']:,}, {wall:.1f} s wall", flush=True)
    text = table(["array", "flow", "GEMM MxKxN", "compute cyc", "ideal", "util", "SCALE-Sim", "ours/SS", "RUNs",
                  "link bytes", "UART 1M s", "exact"], rows, align="lllrrrrrrrrl")
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "utilization", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": "systolic, int8 x int8 -> int32 wrap", "seed": args.seed,
        "compute_cycles": "device cycles inside RUN commands (sum over the driver's chunks)",
        "scalesim": "COMPUTE_REPORT Total Cycles, same array and dataflow (no tile overlap in its model)",
        "link": "request + response bytes; stream PHY moves 1 byte per cycle, UART 10 bits per byte",
        "rows": records, "table": text}, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(r["bit_exact"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
