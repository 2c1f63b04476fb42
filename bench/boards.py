#!/usr/bin/env python3
"""Every board's bundled example through ``hwgen synth`` (yosys, nextpnr, packer), side by
side: resources used/available, clock requested vs achieved, critical path, wall time.
Optionally the netlist check of each build. Writes ``bench/results/boards.json`` and the
package's copy of what the library reads of it, ``hwgen/fpga/data/boards.json`` (the clocks
``hwgen run llm`` projects onto, shipped in the wheel; commit both).

    python bench/boards.py                       # all boards
    python bench/boards.py --board icebreaker --check-netlist
    python bench/boards.py --board icebreaker --extra icebreaker=examples/small_4x4.yaml@30

Besides each board's bundled example, the ``EXTRA`` builds run too (``--extra`` adds to them).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import load
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.measured import write_packaged
from hwgen.fpga.synth import TimingNotMet, synth_board
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
#: more examples built for a board, at a clock of their own (MHz; None: the board's default)
#: with up to this many nextpnr seeds: the iCEBreaker's 4x4 int8 (all 8 DSPs) at 40.5 MHz,
#: the PLL's nearest step at or above 40 (nextpnr's result varies by ~±2 MHz with the seed)
EXTRA = [("icebreaker", "examples/icebreaker_4x4.yaml", 40.5, 4),
         # the LUT tensor cores: 1×4 (g = 4, weights of 1-4 bits) on the iCE40UP5K without DSPs,
         # a 2×8 with group dequantization (its multipliers in DSPs) on the ECP5
         ("icebreaker", "examples/icebreaker_lut.yaml", None, 1), ("ulx3s", "examples/ulx3s_lut.yaml", None, 1),
         # PIM banks beside a 4x8 int8 engine that streams its weights from them: 11 banks of
         # 4096 x 8 bytes (176 of the ECP5-85F's 208 DP16KD), up to 3 seeds for 50 MHz
         ("ulx3s", "examples/ulx3s_pim.yaml", None, 3),
         # SmolLM2-135M's engine: 1x32 uint4 x int8 (Q4_1's codes as stored), docs/llm.md
         ("ulx3s", "examples/smollm2.yaml", None, 2)]


def parse_extra(arg: str) -> tuple[str, str, float | None, int]:
    """``BOARD=CONFIG[@MHZ]`` as an ``EXTRA`` entry (one seed)."""
    name, rest = arg.split("=", 1)
    config, _, mhz = rest.partition("@")
    return name, config, float(mhz) if mhz else None, 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", action="append", choices=list(BOARDS), help="board (repeatable; default all)")
    ap.add_argument("--check-netlist", action="store_true", help="also run the netlist check of each build")
    ap.add_argument("--extra", action="append", default=[], metavar="BOARD=CONFIG[@MHZ]",
                    help="also build CONFIG for BOARD (at MHZ; repeatable)")
    ap.add_argument("--collect", action="store_true",
                    help="build nothing: take each build's report.json from the work directory (after an interrupted run)")
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "boards"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "boards.json"))
    ap.add_argument("--package-copy", default=str(ROOT / "hwgen" / "fpga" / "data" / "boards.json"),
                    help="where the package's copy goes ('' for none)")
    args = ap.parse_args(argv)
    out = Path(args.output)
    # a run of some boards keeps the others' last results
    key = lambda r: (r["board"], r["config"])  # noqa: E731
    previous = {key(r): r for r in json.loads(out.read_text())["results"]} if out.exists() else {}
    boards = args.board or list(BOARDS)
    extra = [parse_extra(e) for e in args.extra] + [e for e in EXTRA if e[0] in boards]
    for name, example, mhz, seeds in [(n, BOARDS[n].example, None, 1) for n in boards] + extra:
        b = BOARDS[name]
        cfg = load(ROOT / example)
        work = Path(args.work_dir) / (name if example == b.example else f"{name}-{cfg.name}")
        if args.collect:
            if (work / "report.json").exists():
                previous[key(json.loads((work / "report.json").read_text()))] = json.loads(
                    (work / "report.json").read_text())
            continue
        try:
            r = synth_board(cfg, Path(example), b, work, freq_mhz=mhz, seeds=seeds)
        except TimingNotMet as e:  # still a measurement: report it as such
            r = e.report
        if args.check_netlist:
            from hwgen.fpga.netlist import check_netlist
            r["netlist_check"] = check_netlist(cfg, b, work)
        previous[key(r)] = r
        print(f"[{name}] {cfg.name} done: {r['clock']['achieved_mhz']} MHz", flush=True)
    order = {n: i for i, n in enumerate(BOARDS)}
    rows, results = [], sorted(previous.values(), key=lambda r: (order.get(r["board"], 99), r["config"]))
    for r in results:
        name = r["board"]
        res = r["resources"]
        pct = lambda k: f"{res[k]['used']:,}/{res[k]['available']:,}" if k in res and res[k].get("available") else "-"
        rows.append([name, r["device"], r["array"] + (f" p{r['pipeline']}" if r.get("pipeline") else ""),
                     pct("lut4"), pct("ff"), pct("bram"), pct("dsp"),
                     f"{r['clock']['requested_mhz']:.1f}", f"{r['clock']['achieved_mhz']}",
                     "yes" if r["timing_met"] else "NO", f"{r['seconds']['total_s']:.0f}",
                     ", ".join(f"{t['seed']}: {t['achieved_mhz']}" for t in r.get("seeds_tried", [])) or str(r["seed"]),
                     ("exact" if r["netlist_check"]["ok"] else "FAIL") if "netlist_check" in r else "-"])
    text = table(["board", "device", "engine", "LUT4/LC", "FF", "BRAM", "DSP", "req MHz", "Fmax MHz", "met",
                  "wall s", "seed: MHz", "netlist"], rows, align="llllllllrrlrll")
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "boards", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "results": results, "table": text}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    if args.package_copy:
        write_packaged(doc, Path(args.package_copy))
        print(f"wrote {args.package_copy}")
    return 0 if all(r["timing_met"] and r.get("netlist_check", {"ok": True})["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
