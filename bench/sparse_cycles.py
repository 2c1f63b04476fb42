#!/usr/bin/env python3
"""Sparse-serial (OPT3/OPT4C) cycles per weight operand on normally distributed int8 weights.

For each weight spread σ, one long tile is simulated (Verilator + cocotb, bit-exact against
``hwgen.golden``) on a column of N PEs (C = 1, the paper's column-shared form) and on a
4-column engine (columns share the broadcast activations, so each step waits for its
busiest column). Measured cycles per operand are shown next to the prediction from
``hwgen.golden.encoding`` (non-zero NAF digits, at least 1), the plain bit-serial engine's
8, and the paper's 2.05. Writes ``bench/results/sparse_cycles.json``.

    python bench/sparse_cycles.py
    python bench/sparse_cycles.py --sigmas 16,25 --k 512
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
from hwgen.golden.encoding import nonzero_digits, sparse_serial_cycles
from hwgen.report import table
from hwgen.sim.bench_gemm import make_operands
from hwgen.sim.runner import sim
from hwgen.tpe import PAPER_SPARSE_CYCLES_PER_OPERAND


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sigmas", default="8,16,25,32,42", help="standard deviations of the int8 weights")
    p.add_argument("--rows", type=int, default=16, help="PEs per column (N)")
    p.add_argument("--k", type=int, default=2048, help="weights per column (one tile)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "sparse_cycles.json"))
    args = p.parse_args(argv)

    sigmas = [float(s) for s in args.sigmas.split(",")]
    rows, records = [], []
    for cols in (1, 4):
        cfg = HwgenConfig(name=f"bench_sparse_{args.rows}x{cols}", array=ArrayConfig(
            rows=args.rows, cols=cols, kind="bit_serial", pe=PEConfig(arith="sparse_serial")))
        gemms = [dict(m=args.rows, k=args.k, n=cols, w_sigma=s, note=f"sigma {s:g}") for s in sigmas]
        print(f"[{args.rows}x{cols}] simulating {len(gemms)} tiles of K = {args.k} ...", flush=True)
        res = sim(cfg, seed=args.seed, gemms=gemms, work_dir=Path("build") / "bench" / cfg.name)
        rng = np.random.default_rng([args.seed, 0])  # the bench's data stream, replayed
        for g in res.gemms:
            _, w = make_operands(rng, cfg.array, g)
            fill = args.rows + 2  # pipeline fill and the drain of the tile's R rows
            measured = (g["cycles"] - fill) / args.k
            predicted = sparse_serial_cycles(w) / args.k
            nz = float(nonzero_digits(w).mean())
            rec = dict(columns=cols, sigma=g["w_sigma"], k=args.k, cycles=g["cycles"],
                       cycles_per_operand=round(measured, 3), predicted=round(predicted, 3),
                       nonzero_digits_per_weight=round(nz, 3), bit_exact=g["ok"])
            records.append(rec)
            rows.append([f"{args.rows}x{cols}", f"{g['w_sigma']:g}", g["cycles"], f"{measured:.3f}",
                         f"{predicted:.3f}", f"{nz:.3f}", f"{8 / measured:.2f}x", "yes" if g["ok"] else "NO"])
    text = table(["engine", "σ", "cycles", "cyc/operand", "predicted", "nz digits", "vs bit-serial 8", "exact"],
                 rows, align="lrrrrrrl")
    text += f"\npaper (normal int8): {PAPER_SPARSE_CYCLES_PER_OPERAND} cycles per operand"
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "sparse_cycles", "date": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "seed": args.seed, "weights": "round(N(0, σ)) clipped to int8",
        "paper_cycles_per_operand": PAPER_SPARSE_CYCLES_PER_OPERAND, "rows": records, "table": text},
        indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(r["bit_exact"] and r["cycles_per_operand"] == r["predicted"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
