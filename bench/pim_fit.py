#!/usr/bin/env python3
"""The PIM banks alone (:class:`hwgen.memory.pim.PimBanks`) through the board flow's yosys
script (``synth_ecp5`` / ``synth_ice40 -dsp``), side by side with the fit estimate's share of
the banks (:func:`hwgen.fpga.fit.pim_logic`, the block RAM count of ``estimate``): the data
the estimate's PIM constants are calibrated on. Writes ``bench/results/pim_fit.json``.

    python bench/pim_fit.py            # ~2 minutes
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from amaranth.back import rtlil

from hwgen.config import loads
from hwgen.fpga.fit import _pim_mems, pim_dsps, pim_logic, used_from_cells
from hwgen.fpga.synth import yosys_script
from hwgen.memory.pim import PimBanks
from hwgen.report import table
from hwgen.tools import yosys_command

ROOT = Path(__file__).resolve().parent.parent
#: (family, banks, rows, lanes, vec_words, out_words, row_buffers, formats)
POINTS = [("ecp5", 1, 4096, 8, 16, 16, 2, "[int8]"), ("ecp5", 4, 512, 8, 16, 16, 2, "[int8]"),
          ("ecp5", 4, 4096, 8, 16, 16, 2, "[int8, int4]"), ("ecp5", 4, 512, 8, 64, 64, 2, "[int8]"),
          ("ecp5", 4, 512, 8, 32, 32, 2, "[int8]"), ("ecp5", 4, 512, 8, 16, 16, 1, "[int8]"),
          ("ecp5", 4, 512, 4, 16, 16, 2, "[int8]"), ("ecp5", 4, 512, 16, 16, 16, 2, "[int8]"),
          ("ice40", 1, 512, 8, 16, 16, 2, "[int8]"), ("ice40", 2, 256, 4, 16, 16, 2, "[int8]"),
          ("ice40", 4, 512, 8, 64, 64, 2, "[int8]"), ("ice40", 1, 256, 4, 16, 16, 1, "[int8]")]


def config(banks, rows, lanes, vec, out, rb, formats):
    return loads(f"name: t\narray: {{rows: 2, cols: 2}}\nsoc: {{pim: {{banks: {banks}, rows: {rows}, lanes: {lanes}, "
                 f"vec_words: {vec}, out_words: {out}, row_buffers: {rb}, formats: {formats}}}}}\n")


def measure(family: str, cfg, work: Path) -> dict:
    (work / "t.il").write_text(rtlil.convert(PimBanks(cfg.soc.pim), name="t"))
    (work / "s.ys").write_text(yosys_script(family, True, True, top="t", engine="t.none", netlist="n.v"))
    subprocess.run([*yosys_command(), "-q", "s.ys"], cwd=work, check=True, capture_output=True)
    return json.loads((work / "synth_stat.json").read_text())["design"]["num_cells_by_type"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "pim_fit.json"))
    args = ap.parse_args(argv)
    results, rows = [], []
    for family, *shape in POINTS:
        cfg = config(*shape)
        with tempfile.TemporaryDirectory() as d:
            cells = measure(family, cfg, Path(d))
        used = used_from_cells(family, cells)
        lut, ff = pim_logic(cfg, family, True)
        bram = sum(_pim_mems(cfg, family)[0].values())
        r = {"family": family, "pim": cfg.soc.pim and cfg.to_dict()["soc"]["pim"], "cells": cells, "used": used,
             "estimate": {"lut4": int(lut), "ff": int(ff), "bram": bram, "dsp": pim_dsps(cfg)}}
        results.append(r)
        p = cfg.soc.pim
        rows.append([family, f"{p.banks}x{p.rows}x{p.lanes}", f"{p.vec_words}/{p.out_words}", p.row_buffers,
                     ",".join(map(str, p.formats)), f"{used['lut4']:,}", f"{int(lut):,}", f"{used['ff']:,}",
                     f"{int(ff):,}", used["bram"], bram, used["dsp"], pim_dsps(cfg)])
        print(rows[-1], flush=True)
    text = table(["family", "banks x rows x lanes", "vec/out", "rb", "formats", "LUT4", "est", "FF", "est",
                  "BRAM", "est", "DSP", "est"], rows, align="llllrrrrrrrrr")
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "pim_fit", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "results": results, "table": text}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
