#!/usr/bin/env python3
"""SmolLM2-135M-Instruct from its GGUF on the generated hardware (issue 20): quality of the
hardware's arithmetic against the float model, and generation speed.

* **Quality**: the bundled text (``bench/data/quality_text.txt``, 413 tokens) through the
  whole model in one causal pass, twice: the float model (the file's weights dequantized,
  float32 activations, float LM head) and the hardware's arithmetic (the weights as stored,
  int8 activations per token, exact integer sums per block of 32; NumPy, bit-identical to
  the accelerator: ``hwgen run llm --model`` checks that at every step). Next-token top-1
  agreement and perplexity of each. Goal: agreement ≥ 90%, perplexity ≤ 1.05× float.
* **Greedy text**: "The capital of France is" continued by both, 12 tokens.
* **Speed**: generation on the golden transport (``examples/smollm2.yaml``), and with
  ``--verilator`` one token of the whole model on the Verilated accelerator, wall times.
* **Real weights for the engines**: the sparse bit-serial engine's cycles per weight
  (OPT3/OPT4C: one cycle per non-zero signed digit, at least one; ``hwgen.golden.encoding``,
  which ``bench/sparse_cycles.py`` shows equals the RTL's count) on SmolLM2's weights,
  requantized to int8 per channel and as Q4_1's codes, in the column-shared form (C = 1) and
  with 4 columns waiting for the busiest; the seed paper's 2.05 was on normal data.

    python bench/llm_real.py [--verilator]

Writes ``bench/results/llm_real.json``.
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

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy: see hwgen.cli.main
import numpy as np  # noqa: E402

from hwgen.config import load
from hwgen.golden.encoding import nonzero_digits
from hwgen.llm.quant import quantize_weight
from hwgen.llm.generate import TextModel, run_generate
from hwgen.llm.gguf import load_gguf
from hwgen.llm.layers import ReferenceLinear
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "bench" / "data" / "quality_text.txt"
PROMPT = "The capital of France is"


def nll(logits: np.ndarray, ids: list[int]) -> np.ndarray:
    """Negative log-likelihood of each next token (float64)."""
    lg = logits[:-1].astype(np.float64)
    lg = lg - lg.max(axis=1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(ids) - 1), ids[1:]]


def greedy(model: TextModel, ids: list[int], n: int) -> list[int]:
    out, step = [], ids
    for _ in range(n):
        nxt = int(np.argmax(model.logits(model.forward(step)[-1:])[0]))
        out.append(nxt)
        step = [nxt]
    return out


def sparse_stats(m) -> dict:
    """Cycles per weight of the sparse bit-serial engine over every linear layer of ``m``."""
    tot = {"int8 per channel": [0, 0, 0], "q4_1 codes": [0, 0, 0]}     # weights, cycles C = 1, C = 4
    for lw in m.layers:
        for qw in lw.proj.values():
            for label, q in (("int8 per channel", quantize_weight(qw.dequantize(), "int8").q), ("q4_1 codes", qw.q)):
                per = np.maximum(nonzero_digits(q.astype(np.int64).T), 1)    # (K, N): a column per output
                k, n = per.shape
                n4 = n - n % 4
                t = tot[label]
                t[0] += per.size
                t[1] += int(per.sum())
                t[2] += int(per[:, :n4].reshape(k, n4 // 4, 4).max(axis=2).sum()) * 4 + int(per[:, n4:].sum())
    return {k: {"weights": n, "cycles_per_weight_c1": c1 / n, "cycles_per_weight_c4": c4 / n}
            for k, (n, c1, c4) in tot.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verilator", action="store_true", help="also one token of the whole model on the RTL (slow)")
    ap.add_argument("--tokens", type=int, default=8, help="tokens generated on the golden transport")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "llm_real.json"))
    args = ap.parse_args(argv)
    m = load_gguf("smollm2")
    ids = m.tokenizer.encode(TEXT.read_text(), add_special_tokens=False).ids
    T = len(ids)
    res = {}
    for label, lins in (("float", [None] * len(m.layers)),
                        ("hardware", [ReferenceLinear(lw.proj, 32) for lw in m.layers])):
        t0 = time.monotonic()
        tm = TextModel(m, lins, T + 16)
        logits = tm.logits(tm.forward(ids))
        res[label] = {"logits": logits, "nll": nll(logits, ids), "wall_s": round(time.monotonic() - t0, 1)}
        pids = m.tokenizer.encode(PROMPT, add_special_tokens=False).ids
        g = greedy(TextModel(m, lins, len(pids) + 16), pids, 12)
        res[label]["greedy"] = {"ids": g, "text": m.tokenizer.decode(g)}
        print(f"{label}: ppl {np.exp(res[label]['nll'].mean()):.3f} ({res[label]['wall_s']} s); "
              f"greedy {res[label]['greedy']['text']!r}", flush=True)
    agree = float(np.mean(np.argmax(res["float"]["logits"][:-1], 1) == np.argmax(res["hardware"]["logits"][:-1], 1)))
    ppl = {k: float(np.exp(res[k]["nll"].mean())) for k in res}
    quality = {"tokens": T, "top1_agreement": agree, "ppl_float": ppl["float"], "ppl_hardware": ppl["hardware"],
               "ppl_ratio": ppl["hardware"] / ppl["float"],
               "greedy": {k: res[k]["greedy"] for k in res}}
    rows = [["top-1 agreement (hardware vs float)", f"{agree:.1%}", ">= 90%"],
            ["perplexity, float model", f"{ppl['float']:.3f}", ""],
            ["perplexity, hardware arithmetic", f"{ppl['hardware']:.3f}", ""],
            ["ratio", f"{ppl['hardware'] / ppl['float']:.4f}x", "<= 1.05x"]]
    text = table(["quality on bench/data/quality_text.txt (" + f"{T} tokens)", "measured", "goal"], rows, align="lrr")
    print(text)
    stats = sparse_stats(m)
    srows = [[k, f"{v['weights']:,}", f"{v['cycles_per_weight_c1']:.3f}", f"{v['cycles_per_weight_c4']:.3f}"]
             for k, v in stats.items()]
    stext = table(["SmolLM2-135M weights", "weights", "cycles/weight C=1", "C=4"], srows, align="lrrr")
    stext += "\nsparse bit-serial engine (1 cycle per non-zero NAF digit, >= 1); bit-serial int8: 8; paper (normal int8): 2.05"
    print(stext, flush=True)
    text += "\n\n" + stext
    hw = load(ROOT / "examples" / "smollm2.yaml")
    speed = {}
    for transport, n in (("golden", args.tokens),) + ((("verilator", 1),) if args.verilator else ()):
        t0 = time.monotonic()
        r = run_generate(hw, model="smollm2", prompt=PROMPT, max_tokens=n, transport=transport, log=lambda *_: None,
                         stream=lambda s: None)
        wall = time.monotonic() - t0
        dec = r["phases"].get("decode", {})
        speed[transport] = {"tokens": len(r["ids"]), "text": r["text"], "exact": r["exact"], "wall_s": round(wall, 1),
                            "prefill_wall_s": round(r["phases"]["prefill"]["wall_s"], 1),
                            "decode_s_per_token": round(dec["wall_s"] / dec["tokens"], 2) if dec else None,
                            "phases": r["phases"], "projection": r["projection"]}
        print(f"{transport}: {len(r['ids'])} tokens {r['text']!r} in {wall:.1f} s, exact {r['exact']}", flush=True)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "loadavg": [round(x, 2) for x in os.getloadavg()]},
           "model": m.name, "file": m.path.name, "quality": quality, "sparse_serial": stats, "speed": speed,
           "table": text}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
