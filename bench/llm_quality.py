#!/usr/bin/env python3
"""Accuracy of the quantized decoder block against the float model, per weight scheme:
cosine similarity of each layer's output change (the block's contribution beside the
residual) over prefill and decode, on a random d=256 model (Llama-like weight statistics)
and, when given, real weights. Runs on the golden transport (bit-identical to the RTL, as
the tests show). Writes ``bench/results/llm_quality.json``.

    python bench/llm_quality.py [--weights W.safetensors] [--layers 2]
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import loads
from hwgen.llm.run import run_llm
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
HW = loads("name: quality_8x8\narray: {rows: 8, cols: 8, pe: {a: int8, w: int8, acc: 32}}\n")
SCHEMES = [("int8", 128), ("int4", 128), ("int4", 32), ("int2", 32), ("ternary", 128), ("ternary", 32)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "llm_quality.json"))
    args = ap.parse_args(argv)
    rows, results = [], []
    for scheme, group in SCHEMES:
        r = run_llm(HW, weights=Path(args.weights) if args.weights else None, layers=args.layers, prompt_len=16,
                    decode=4, transport="golden", scheme=scheme, group=group, seed=args.seed, log=lambda _: None)
        cos = [x["cosine"] for x in r["per_layer"]]
        results.append({"scheme": scheme, "group": group, "exact": r["exact"], "min_cosine": min(cos),
                        "mean_cosine": sum(cos) / len(cos), "weights": r["weights"]})
        rows.append([scheme, group if scheme != "int8" else "per channel", f"{min(cos):.4f}",
                     f"{sum(cos) / len(cos):.4f}", "yes" if r["exact"] else "NO"])
    text = table(["weights", "group", "min cosine", "mean cosine", "bit-exact vs reference"], rows, align="llrrl")
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "llm_quality", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "layers": args.layers, "results": results, "table": text}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
