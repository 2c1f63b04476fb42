#!/usr/bin/env python3
"""Differential link fuzzing at length: random request streams (every command, random and
out-of-range fields, damaged bytes, garbage, truncation) fed to the Verilated accelerator
top of seven engines and to the golden device, compared byte for byte (cycle counts aside),
with :func:`hwgen.sim.linkfuzz.fuzz_link`.

    python bench/link_fuzz.py                          # 100,000 frames per engine
    python bench/link_fuzz.py --frames 5000 --seed 3 --engines systolic_os,cube

Writes ``bench/results/link_fuzz.json``. Exits non-zero at the first mismatch (the message
names the engine, the seed and the chunk; ``--seed`` replays it).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, SocConfig
from hwgen.numerics import parse_format as fmt
from hwgen.report import table
from hwgen.sim.linkfuzz import LinkMismatch, fuzz_link

SOC = SocConfig(a_words=32, w_words=32, acc_words=32, scale_words=4)
ENGINES = {
    "systolic_os": HwgenConfig(name="fz_os", array=ArrayConfig(rows=2, cols=3), soc=SOC),
    "systolic_ws": HwgenConfig(name="fz_ws", array=ArrayConfig(rows=3, cols=2, dataflow="weight_stationary"),
                               soc=SocConfig(a_words=64, w_words=64, acc_words=32, scale_words=4)),
    "systolic_is_sat": HwgenConfig(name="fz_is", array=ArrayConfig(
        rows=2, cols=2, dataflow="input_stationary", pe=PEConfig(overflow="saturate", acc=18)), soc=SOC),
    "adder_tree_int4": HwgenConfig(name="fz_tree", array=ArrayConfig(
        rows=4, cols=2, kind="adder_tree", dataflow="weight_stationary",
        pe=PEConfig(a=fmt("int4"), w=fmt("uint4"), acc=16)), soc=SOC),
    "cube_ct": HwgenConfig(name="fz_cube", array=ArrayConfig(rows=2, cols=2, depth=2, kind="cube",
                                                            pe=PEConfig(arith="compressor_tree")), soc=SOC),
    "matrix2d_u8xi3": HwgenConfig(name="fz_m2d", array=ArrayConfig(
        rows=2, cols=3, depth=2, kind="matrix2d", pe=PEConfig(a=fmt("uint8"), w=fmt("int3"), acc=20)), soc=SOC),
    "bit_serial_sparse": HwgenConfig(name="fz_bs", array=ArrayConfig(rows=2, cols=2, kind="bit_serial",
                                                                    pe=PEConfig(arith="sparse_serial")), soc=SOC),
    "lut_int3": HwgenConfig(name="fz_lut", array=ArrayConfig(rows=2, cols=4, kind="lut", depth=3,
                                                            pe=PEConfig(w=fmt("int3"), acc=24)),
                            soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=4)),
    "lut_grouped": HwgenConfig(name="fz_lut_grp", array=ArrayConfig(rows=2, cols=3, kind="lut", dequant="group",
                                                                    pe=PEConfig(w=fmt("int4"), acc=40)),
                               soc=SocConfig(a_words=32, w_words=64, acc_words=32, scale_words=16)),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100_000, help="request frames per engine")
    ap.add_argument("--seed", type=int, default=None, help="random unless given; always printed")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of: " + ", ".join(ENGINES))
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "link_fuzz.json"))
    args = ap.parse_args(argv)
    seed = random.randrange(2**31) if args.seed is None else args.seed
    names = args.engines.split(",")
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        ap.error(f"unknown engine {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    print(f"link fuzz: {args.frames} frames per engine, seed {seed} (replay: --seed {seed})", flush=True)
    rows, failed = [], None
    for name in names:
        t0 = time.perf_counter()
        try:
            st = fuzz_link(ENGINES[name], seed=seed, frames=args.frames, log=print)
        except LinkMismatch as e:
            print(f"{name}: MISMATCH\n{e}", flush=True)
            failed = name
            rows.append({"engine": name, "seed": seed, "mismatch": str(e)})
            break
        wall = time.perf_counter() - t0
        rows.append({"engine": name, "seed": seed, **st.as_dict(), "wall_s": round(wall, 1)})
        print(f"{name}: {st.frames} frames, {st.responses} answers compared, 0 mismatches, {wall:.1f} s", flush=True)
    done = [r for r in rows if "frames" in r]
    print()
    print(table(["engine", "frames", "answers", "OK", "errors", "bytes", "mismatches", "frames/s"],
                [[r["engine"], r["frames"], r["responses"], r["statuses"].get("OK", 0),
                  r["responses"] - r["statuses"].get("OK", 0), r["bytes"], 0, round(r["frames"] / r["wall_s"])]
                 for r in done], align="lrrrrrrr"))
    print(f"total: {sum(r['frames'] for r in done)} frames, {sum(r['responses'] for r in done)} answers compared"
          + (f"; MISMATCH on {failed}" if failed else ", 0 mismatches"))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": seed,
                               "frames_per_engine": args.frames, "results": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
