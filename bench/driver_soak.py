#!/usr/bin/env python3
"""Driver soak: thousands of random GEMMs through ``Accelerator.gemm`` on the Verilated
accelerator, with faults injected on the link (:mod:`hwgen.driver.faults`).

Every GEMM has a random shape (1..24 per side, many past the memories so K is chunked),
operands with extremes, and half of them a random requantization (scale, shift, ReLU) on
the engines that have an output stage. Each result is compared with the golden model;
a GEMM either returns exactly the golden result or raises (the driver reported the
fault it could not get past). Nothing else is allowed: a wrong number, another exception
or a GEMM that takes unbounded time fails the soak.

    python bench/driver_soak.py                     # 10,000 GEMMs over two engines
    python bench/driver_soak.py --gemms 200 --seed 5

Writes ``bench/results/driver_soak.json``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hwgen import golden
from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, SocConfig
from hwgen.driver import Accelerator, DeviceError, Requant
from hwgen.driver.faults import FaultyTransport, random_plan
from hwgen.driver.transports import open_transport
from hwgen.golden.requant import requantize
from hwgen.numerics import parse_format
from hwgen.report import table

# memories small enough that most shapes need several chunks (K accumulated across RUNs)
SOC = SocConfig(a_words=96, w_words=80, acc_words=64, scale_words=4)
ENGINES = {
    "systolic_os_int8": HwgenConfig(name="soak_os", array=ArrayConfig(rows=3, cols=2), soc=SOC),
    "adder_tree_int4_ws": HwgenConfig(name="soak_tree", array=ArrayConfig(
        rows=4, cols=2, kind="adder_tree", dataflow="weight_stationary",
        pe=PEConfig(a=parse_format("int4"), w=parse_format("uint4"), acc=16, arith="compressor_tree")), soc=SOC),
}


def soak(cfg: HwgenConfig, gemms: int, seed: int, rate: float, log) -> dict:
    rng = np.random.default_rng(seed)
    transport = FaultyTransport(open_transport("verilator", cfg, log=log), random_plan(
        np.random.default_rng([seed, 1]), rate), seed=seed)
    dev = Accelerator(cfg, transport, retries=6, timeout=0.5)
    pe = cfg.array.pe
    outcome, slowest, wrong = Counter(), 0.0, []
    t0 = time.perf_counter()
    for i in range(gemms):
        m, k, n = (int(x) for x in rng.integers(1, 25, 3))
        a = pe.a.random(rng, (m, k), extremes=0.2)
        w = pe.w.random(rng, (k, n), extremes=0.2)
        rq = None
        if rng.random() < 0.5 and not dev.geo.transposed:
            rq = Requant(scale=rng.integers(0, 1 << 16, n), shift=int(rng.integers(0, 24)),
                         relu=bool(rng.random() < 0.5))
        want = golden.gemm(a, w, acc_bits=pe.acc, overflow=pe.overflow, group=cfg.array.group)
        if rq is not None:
            want = requantize(want, rq.scale, rq.shift, relu=rq.relu, out_fmt=cfg.soc.out)
        start = time.perf_counter()
        try:
            got = dev.gemm(a, w, requant=rq)
        except DeviceError as e:
            outcome["reported"] += 1
            log(f"  GEMM {i} ({m}x{k}x{n}): reported: {e}")
            _recover(dev)
        else:
            if np.array_equal(got, want):
                outcome["exact"] += 1
            else:
                outcome["WRONG"] += 1
                wrong.append({"gemm": i, "shape": [m, k, n], "requant": rq is not None})
        slowest = max(slowest, time.perf_counter() - start)
    wall = time.perf_counter() - t0
    dev.close()
    return {"engine": cfg.name, "gemms": gemms, "seed": seed, "fault_rate": rate,
            "exact": outcome["exact"], "reported": outcome["reported"], "wrong": outcome["WRONG"],
            "wrong_cases": wrong, "exchanges": transport.n, "faults": dict(transport.injected),
            "faults_total": sum(transport.injected.values()), "retries": dev.stats.retries,
            "faults_retried": dict(transport.retried), "faults_absorbed": dict(transport.absorbed),
            "slowest_gemm_ms": round(1000 * slowest), "wall_s": round(wall, 1)}


def _recover(dev: Accelerator) -> None:
    """After a reported failure: let a RUN still executing finish, as a user would."""
    try:
        dev.wait()
    except DeviceError:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gemms", type=int, default=10_000, help="GEMMs in all, split over the engines")
    ap.add_argument("--rate", type=float, default=0.1, help="fraction of exchanges damaged")
    ap.add_argument("--seed", type=int, default=None, help="random unless given; always printed")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "driver_soak.json"))
    args = ap.parse_args(argv)
    seed = random.randrange(2**31) if args.seed is None else args.seed
    print(f"driver soak: {args.gemms} GEMMs, fault rate {args.rate}, seed {seed} (replay: --seed {seed})")
    rows = []
    for idx, (label, cfg) in enumerate(ENGINES.items()):
        share = args.gemms // len(ENGINES) + (idx < args.gemms % len(ENGINES))
        r = soak(cfg, share, seed + idx, args.rate, print)
        r["label"] = label
        rows.append(r)
        print(f"{label}: {r['exact']} exact, {r['reported']} reported, {r['wrong']} wrong; "
              f"{r['faults_total']} faults in {r['exchanges']} exchanges, {r['retries']} retries; {r['wall_s']} s",
              flush=True)
    print()
    print(table(["engine", "fault", "injected", "retried", "absorbed (no harm)"],
                [[r["label"], f, n, r["faults_retried"].get(f, 0), r["faults_absorbed"].get(f, 0)]
                 for r in rows for f, n in sorted(r["faults"].items())], align="llrrr"))
    print()
    print(table(["engine", "GEMMs", "exact", "reported", "wrong", "exchanges", "faults", "retries", "slowest ms", "wall s"],
                [[r["label"], r["gemms"], r["exact"], r["reported"], r["wrong"], r["exchanges"], r["faults_total"],
                  r["retries"], r["slowest_gemm_ms"], f"{r['wall_s']:.1f}"] for r in rows], align="lrrrrrrrrr"))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": seed,
                               "results": rows}, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 1 if any(r["wrong"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
