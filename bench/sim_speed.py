#!/usr/bin/env python3
"""Simulation speed of the accelerator top, three ways, on the same design and traffic:

* **bare harness** — every request frame of a GEMM queued at once and run in the C++ loop
  of the native harness (no Python until the end); also the idle clock rate;
* **driver** — ``Accelerator.gemm`` over the ``verilator`` transport: Python builds each
  frame, the native harness runs it (one ctypes call per command);
* **cocotb** — the same request bytes replayed by a cocotb bench on a Verilator build of
  the same Verilog (Python per clock cycle).

Reports simulated cycles per wall second and the ratios. Writes
``bench/results/sim_speed.json``.

    python bench/sim_speed.py
    python bench/sim_speed.py --size 4 --gemm 32x64x32
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hwgen.config import ArrayConfig, HwgenConfig
from hwgen.driver import Accelerator
from hwgen.driver.transports import GoldenTransport, Transport
from hwgen.report import table
from hwgen.sim.native import NativeSim, build_native, top_verilog
from hwgen.sim.runner import build_verilog
from hwgen.tools import verilator_env


class Recorder(Transport):
    """Records the request bytes a GEMM sends (against the golden device) and the
    response bytes it expects."""
    name = "recorder"

    def __init__(self, cfg):
        self.inner = GoldenTransport(cfg)
        self.requests, self.response_bytes, self.frames = bytearray(), 0, 0

    def exchange(self, request, *, timeout):
        out = self.inner.exchange(request, timeout=timeout)
        self.requests += request
        self.response_bytes += len(out)
        self.frames += 1
        return out


def cocotb_speed(cfg, requests: bytes, response_bytes: int, log) -> dict:
    from cocotb_tools.runner import get_runner
    name, text = top_verilog(cfg)
    build_dir, _ = build_verilog(name, text, log=log)
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.json"
        res = Path(tmp) / "res.json"
        plan.write_text(json.dumps({"requests": requests.hex(), "response_bytes": response_bytes,
                                    "max_cycles": 50_000_000, "results_path": str(res)}))
        with verilator_env():
            get_runner("verilator").test(test_module="hwgen.sim.bench_top", hdl_toplevel=name,
                                         hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=tmp,
                                         extra_env={"HWGEN_TOP_PLAN": str(plan)}, log_file=Path(tmp) / "sim.log")
        return json.loads(res.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=8)
    p.add_argument("--gemm", default="64x256x64", help="MxKxN")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "sim_speed.json"))
    args = p.parse_args(argv)

    m, k, n = (int(x) for x in args.gemm.split("x"))
    cfg = HwgenConfig(name=f"speed_{args.size}x{args.size}", array=ArrayConfig(rows=args.size, cols=args.size))
    rng = np.random.default_rng(args.seed)
    a, w = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))

    rec = Recorder(cfg)
    want = Accelerator(cfg, rec).gemm(a, w)
    requests = bytes(rec.requests)
    lib = build_native(cfg, log=print)
    results = {}

    sim = NativeSim(lib)  # bare: all frames in one C++ run
    t0 = time.perf_counter()
    c0 = sim.cycles
    out = sim.xfer(requests, frames=rec.frames, max_cycles=10**9, out_cap=len(requests) + rec.response_bytes + 4096)
    results["bare harness"] = (sim.cycles - c0, time.perf_counter() - t0)
    assert len(out) == rec.response_bytes, "bare run lost response bytes"
    t0, c0 = time.perf_counter(), sim.cycles
    sim.idle(2_000_000)
    results["bare harness, idle clock"] = (sim.cycles - c0, time.perf_counter() - t0)
    sim.close()

    with Accelerator.open(cfg, "verilator") as dev:  # the driver path
        c0, t0 = dev.transport.cycles, time.perf_counter()
        got = dev.gemm(a, w)
        results["driver (verilator transport)"] = (dev.transport.cycles - c0, time.perf_counter() - t0)
    exact = bool(np.array_equal(got, want))

    print("running the cocotb bench on the same design and bytes ...", flush=True)
    cc = cocotb_speed(cfg, requests, rec.response_bytes, print)
    results["cocotb bench"] = (cc["cycles"], cc["seconds"])

    bare = results["bare harness"][0] / results["bare harness"][1]
    rows, records = [], []
    for label, (cycles, secs) in results.items():
        rate = cycles / secs
        records.append(dict(path=label, cycles=cycles, seconds=round(secs, 3), cycles_per_second=round(rate),
                            vs_bare=round(rate / bare, 3)))
        rows.append([label, f"{cycles:,}", f"{secs:.2f}", f"{rate:,.0f}", f"{rate / bare:.1%}"])
    text = table(["path", "cycles", "seconds", "cycles/s", "vs bare"], rows, align="lrrrr")
    print()
    print(f"accelerator {args.size}x{args.size} OS, GEMM {args.gemm}: driver result bit-exact: {exact}")
    print(text)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({
        "benchmark": "sim_speed", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "design": f"accelerator top, {args.size}x{args.size} systolic OS, stream PHY", "gemm": args.gemm,
        "request_bytes": len(requests), "response_bytes": rec.response_bytes, "frames": rec.frames,
        "bit_exact": exact, "rows": records, "table": text}, indent=1) + "\n")
    print(f"\nwrote {out_path}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
