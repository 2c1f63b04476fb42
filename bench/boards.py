#!/usr/bin/env python3
"""Every board's bundled example through ``hwgen synth`` (yosys, nextpnr, packer), side by
side: resources used/available, clock requested vs achieved, critical path, wall time.
Optionally the netlist check of each build. Writes ``bench/results/boards.json``.

    python bench/boards.py                       # all boards
    python bench/boards.py --board icebreaker --check-netlist
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import load
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.synth import TimingNotMet, synth_board
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", action="append", choices=list(BOARDS), help="board (repeatable; default all)")
    ap.add_argument("--check-netlist", action="store_true", help="also run the netlist check of each build")
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "boards"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "boards.json"))
    args = ap.parse_args(argv)
    out = Path(args.output)
    # a run of some boards keeps the others' last results
    previous = {r["board"]: r for r in json.loads(out.read_text())["results"]} if out.exists() else {}
    for name in args.board or list(BOARDS):
        b = BOARDS[name]
        cfg = load(ROOT / b.example)
        try:
            r = synth_board(cfg, Path(b.example), b, Path(args.work_dir) / name)
        except TimingNotMet as e:  # still a measurement: report it as such
            r = e.report
        if args.check_netlist:
            from hwgen.fpga.netlist import check_netlist
            r["netlist_check"] = check_netlist(cfg, b, Path(args.work_dir) / name)
        previous[name] = r
        print(f"[{name}] done: {r['clock']['achieved_mhz']} MHz", flush=True)
    rows, results = [], [previous[n] for n in BOARDS if n in previous]
    for r in results:
        name = r["board"]
        res = r["resources"]
        pct = lambda k: f"{res[k]['used']:,}/{res[k]['available']:,}" if k in res and res[k].get("available") else "-"
        rows.append([name, r["device"], r["array"], pct("lut4"), pct("ff"), pct("bram"), pct("dsp"),
                     f"{r['clock']['requested_mhz']:.1f}", f"{r['clock']['achieved_mhz']}",
                     "yes" if r["timing_met"] else "NO", f"{r['seconds']['total_s']:.0f}",
                     ("exact" if r["netlist_check"]["ok"] else "FAIL") if "netlist_check" in r else "-"])
    text = table(["board", "device", "engine", "LUT4/LC", "FF", "BRAM", "DSP", "req MHz", "Fmax MHz", "met",
                  "wall s", "netlist"], rows, align="llllllllrrlrl")
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "boards", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "results": results, "table": text}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["timing_met"] and r.get("netlist_check", {"ok": True})["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
