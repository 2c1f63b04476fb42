#!/usr/bin/env python3
"""The same sweep on 1 and on 2 Dask workers (issue 22): wall time and speed-up.

A 12-point grid of systolic arrays (rows 2/4/8 x cols 4/8 x weights int4/int8 on
``examples/small_4x4.yaml``) through ``generate`` and yosys generic synthesis, from an empty
results directory each time (no resume cache), on a LocalCluster of N single-threaded worker
processes.

    python bench/sweep_speedup.py

Writes ``bench/results/sweep_speedup.json``.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from hwgen.dse.sweep import sweep
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
SWEEP = """name: speedup
base: {base}
axes:
  array.rows: [2, 4, 8]
  array.cols: [4, 8]
  array.pe.w: [int4, int8]
steps: [generate, generic]
limits: {{timeout_s: 900}}
"""


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="hwgen-speedup-"))
    spec = tmp / "speedup.yaml"
    spec.write_text(SWEEP.format(base=ROOT / "examples" / "small_4x4.yaml"))
    runs = {}
    for workers in (1, 2):
        out = tmp / f"out{workers}"
        t0 = time.monotonic()
        r = sweep(spec, out, workers=workers, log=lambda *_: None)
        runs[workers] = {"wall_s": round(time.monotonic() - t0, 1), "counts": r["counts"]}
        print(workers, runs[workers], flush=True)
    speedup = runs[1]["wall_s"] / runs[2]["wall_s"]
    text = table(["workers", "points", "ok", "wall s", "speed-up"],
                 [[w, 12, r["counts"]["ok"], f"{r['wall_s']:.1f}", f"{runs[1]['wall_s'] / r['wall_s']:.2f}x"]
                  for w, r in runs.items()], align="rrrrr")
    print(text)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "loadavg": [round(x, 2) for x in os.getloadavg()]},
           "points": 12, "steps": ["generate", "generic"], "runs": runs, "speedup": round(speedup, 3), "table": text}
    out = ROOT / "bench" / "results" / "sweep_speedup.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
