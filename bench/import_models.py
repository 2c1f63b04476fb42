#!/usr/bin/env python3
"""Models through hls4ml on the generated accelerator (issue 21): bit-exactness against hls4ml's
own C-simulation and speed on every board.

* **Exactness**: every bundled QONNX example (``examples/models``) × two hls4ml
  implementations (Latency / ReuseFactor 1 / io_parallel and Resource / ReuseFactor 4 /
  io_stream) × the golden and the Verilated accelerator (``examples/systolic_8x8.yaml``),
  ``--inputs`` random inputs each (default 1,000): mismatching rows must be 0.
* **Boards**: each example on each board's synthesized int8 config (golden transport):
  cycles per inference, utilization, and inferences/s at the board's clock with compute and
  UART time apart.

    python bench/import_models.py [--inputs N]

Writes ``bench/results/import_models.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hwgen.config import load  # noqa: E402
from hwgen.frontends.run import run_model  # noqa: E402
from hwgen.report import table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["jet_mlp", "ids_mlp", "small_cnn"]
SETTINGS = [("Latency", 1, "io_parallel"), ("Resource", 4, "io_stream")]
BOARDS = [("ulx3s", "systolic_8x8.yaml"), ("orangecrab", "small_4x4.yaml"), ("icebreaker", "icebreaker_4x4.yaml")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "import_models.json"))
    args = ap.parse_args(argv)
    hw = load(ROOT / "examples" / "systolic_8x8.yaml")
    exact, erows = [], []
    for name in MODELS:
        path = ROOT / "examples" / "models" / f"{name}.onnx"
        for strategy, rf, io in SETTINGS:
            for transport in ("golden", "verilator"):
                t0 = time.monotonic()
                r = run_model(hw, path, inputs=args.inputs, transport=transport, seed=args.seed, strategy=strategy,
                              reuse_factor=rf, io_type=io, log=lambda *_: None)
                exact.append({k: r[k] for k in ("name", "transport", "settings", "inputs", "exact", "mismatches",
                                                "reference_equals_hls4ml", "run_cycles", "cycles_per_inference")}
                             | {"wall_s": round(time.monotonic() - t0, 1)})
                erows.append([name, f"{strategy}/RF{rf}/{io}", transport, r["inputs"], r["mismatches"],
                              "yes" if r["exact"] else "NO", f"{r['cycles_per_inference']:.1f}",
                              f"{time.monotonic() - t0:.1f}"])
                print(erows[-1], flush=True)
    etab = table(["model", "hls4ml implementation", "accelerator", "inputs", "mismatching rows", "bit-exact",
                  "cycles/inference", "wall s"], erows, align="lllrrlrr")
    boards, brows = [], []
    for board, cfg_name in BOARDS:
        bhw = load(ROOT / "examples" / cfg_name)
        for name in MODELS:
            r = run_model(bhw, ROOT / "examples" / "models" / f"{name}.onnx", inputs=args.inputs, transport="golden",
                          seed=args.seed, log=lambda *_: None)
            pr = r["projection"]
            boards.append({"board": board, "config": bhw.name, "model": name, "exact": r["exact"],
                           "macs_per_inference": r["macs_per_inference"], "cycles_per_inference": r["cycles_per_inference"],
                           "utilization": r["utilization"], "link_bytes": r["bytes_out"] + r["bytes_in"],
                           "projection": pr})
            a = bhw.array
            brows.append([board, f"{bhw.name} ({a.rows}x{a.cols})", name, f"{pr['mhz']:g}", f"{r['macs_per_inference']:,}",
                          f"{r['cycles_per_inference']:.1f}", f"{r['utilization']:.2f}",
                          f"{pr['inferences_per_s_compute_only']:,.0f}",
                          f"{pr['link_s'] / r['inputs'] * 1e3:.2f}", f"{pr['inferences_per_s']:,.1f}"])
            print(brows[-1], flush=True)
    btab = table(["board", "config", "model", "MHz", "MACs/inference", "cycles/inference", "util",
                  "inferences/s compute", "UART ms/inference", "inferences/s (UART-bound)"], brows,
                 align="lllrrrrrrr") + f"\nbatches of {args.inputs} inputs; UART 1 Mbaud 8N1 carries the inputs, " \
        "every layer's weights once per batch and the results"
    print(etab + "\n\n" + btab)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "loadavg": [round(x, 2) for x in os.getloadavg()]},
           "inputs": args.inputs, "seed": args.seed, "exactness": exact, "boards": boards,
           "tables": {"exactness": etab, "boards": btab}}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {args.output}")
    return 0 if all(e["exact"] for e in exact) and all(b["exact"] for b in boards) else 1


if __name__ == "__main__":
    sys.exit(main())
