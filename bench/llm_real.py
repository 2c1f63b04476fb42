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
* **The LUT engine at 4 bits** (with ``--verilator``): one decode step's projections of
  block 0 on the Verilated ``examples/ulx3s_lut.yaml`` (group scales in hardware) and
  ``examples/icebreaker_lut.yaml`` (plain), cycles per weight and column from the RTL's own
  counter next to the golden model's estimate. Data-independent: one bit-plane of g weights
  per column a cycle.
* **Quality of the LUT engine's arithmetic**: with ``dequant: group`` the engine applies each
  block's scale and minimum itself (16-bit fixed point) and the activations are int8 per
  token (the engine sums the blocks, so a block cannot have its own activation scale).
* **Boards**: the prompt and ``--board-tokens`` decode steps on each board's synthesized
  config that can run the model (``hwgen/fpga/data/boards.json``), golden transport, cycles
  and link bytes projected at its clock: tokens/s with compute and UART time apart.

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
from hwgen.llm.layers import LutReferenceLinear, ReferenceLinear, fixed_scales
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "bench" / "data" / "quality_text.txt"
PROMPT = "The capital of France is"
#: board → configs built for it that can run SmolLM2's Q4_1 layers (engine holds the codes)
BOARD_CONFIGS = [("ulx3s", "smollm2.yaml"), ("ulx3s", "ulx3s_lut.yaml"), ("icebreaker", "icebreaker_lut.yaml"),
                 ("orangecrab", "small_4x4.yaml")]


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


class PerTokenLinear:
    """The ablation between the two recipes: exact sums per block with float scales on the host
    (as :class:`ReferenceLinear`), but int8 activations per token, as the group-scaled LUT
    engine needs them."""

    def __init__(self, qweights):
        self.q = qweights

    def __call__(self, name, x):
        from hwgen.golden import gemm
        from hwgen.llm.quant import combine, group_partials, quantize_activations
        qw = self.q[name]
        xq, xs = quantize_activations(x)
        parts = group_partials(lambda a, w: gemm(a.astype(np.int64), w.astype(np.int64), acc_bits=32), xq, qw)
        return combine(parts, xs, qw, xq)


def quality(m, ids: list[int]) -> tuple[dict, str]:
    """Top-1 agreement with the float model and perplexity of each arithmetic on ``ids``."""
    res = {}
    arith = (("float", [None] * len(m.layers)),
             ("hardware", [ReferenceLinear(lw.proj, 32) for lw in m.layers]),
             ("per_token", [PerTokenLinear(lw.proj) for lw in m.layers]),
             ("lut_group", [LutReferenceLinear(fixed_scales(lw.proj), 48) for lw in m.layers]))
    pids = m.tokenizer.encode(PROMPT, add_special_tokens=False).ids
    for label, lins in arith:
        t0 = time.monotonic()
        tm = TextModel(m, lins, len(ids) + 16)
        logits = tm.logits(tm.forward(ids))
        res[label] = {"logits": logits, "nll": nll(logits, ids), "wall_s": round(time.monotonic() - t0, 1)}
        g = greedy(TextModel(m, lins, len(pids) + 16), pids, 12)
        res[label]["greedy"] = {"ids": g, "text": m.tokenizer.decode(g)}
        print(f"{label}: ppl {np.exp(res[label]['nll'].mean()):.3f} ({res[label]['wall_s']} s); "
              f"greedy {res[label]['greedy']['text']!r}", flush=True)
    top = {k: np.argmax(v["logits"][:-1], 1) for k, v in res.items()}
    ppl = {k: float(np.exp(v["nll"].mean())) for k, v in res.items()}
    agree = {k: float(np.mean(top[k] == top["float"])) for k in res if k != "float"}
    q = {"tokens": len(ids), "top1_agreement": agree["hardware"], "ppl_float": ppl["float"],
         "ppl_hardware": ppl["hardware"], "ppl_ratio": ppl["hardware"] / ppl["float"],
         **{k: {"top1_agreement": agree[k], "ppl": ppl[k], "ppl_ratio": ppl[k] / ppl["float"]}
            for k in ("per_token", "lut_group")},
         "greedy": {k: res[k]["greedy"] for k in res}}
    rows = [["float (weights dequantized, fp32 activations)", "", f"{ppl['float']:.3f}", ""],
            ["exact sums per block, scales on the host; int8 per token and block", f"{agree['hardware']:.1%}",
             f"{ppl['hardware']:.3f}", f"{ppl['hardware'] / ppl['float']:.4f}x"],
            ["(ablation) float scales on the host; int8 per token", f"{agree['per_token']:.1%}",
             f"{ppl['per_token']:.3f}", f"{ppl['per_token'] / ppl['float']:.4f}x"],
            ["LUT dequant: group, 16-bit scales in the engine; int8 per token", f"{agree['lut_group']:.1%}",
             f"{ppl['lut_group']:.3f}", f"{ppl['lut_group'] / ppl['float']:.4f}x"]]
    text = table([f"arithmetic ({len(ids)} tokens of bench/data/quality_text.txt)", "top-1 vs float", "perplexity",
                  "ratio"], rows, align="lrrr")
    return q, text + "\ngoal: agreement >= 90%, perplexity <= 1.05x float"


def lut_rtl(m) -> tuple[dict, str]:
    """Block 0's projections for one token (M = 1) on the Verilated LUT engines: RUN cycles from
    the RTL's counter and the golden model's, and cycles per weight and column."""
    from hwgen.driver import Accelerator, GroupScales
    from hwgen.llm.quant import quantize_activations
    x = np.random.default_rng(0).normal(size=(1, m.cfg.dim)).astype(np.float32)
    xq, _ = quantize_activations(x)
    out, rows = {}, []
    for name in ("ulx3s_lut.yaml", "icebreaker_lut.yaml"):
        hw = load(ROOT / "examples" / name)
        grouped = hw.array.dequant == "group"
        per = {}
        for transport in ("verilator", "golden"):
            t0 = time.monotonic()
            with Accelerator.open(hw, transport, log=lambda *_: None) as acc:
                acc.reset()
                cyc = weights = 0
                for pname, qw in m.layers[0].proj.items():
                    n, k = qw.shape
                    a = xq if k == m.cfg.dim else np.random.default_rng(1).integers(-127, 128, (1, k))
                    before = acc.stats.gemm_cycles
                    gs = None
                    if grouped:
                        f = fixed_scales({pname: qw})[pname]
                        gs = GroupScales(qw.group, f.d, f.z)
                    acc.gemm(a.astype(np.int64), qw.q.T.astype(np.int64), w_fmt="uint4", groups=gs)
                    cyc += acc.stats.gemm_cycles - before
                    weights += n * k
            per[transport] = {"run_cycles": cyc, "wall_s": round(time.monotonic() - t0, 1)}
        c = hw.array.cols
        cpw = per["verilator"]["run_cycles"] * c / weights
        out[hw.name] = {"engine": f"lut {hw.array.rows}x{c}x{hw.array.depth}", "grouped": grouped, "weights": weights,
                        **{f"{t}_{k}": v for t, d in per.items() for k, v in d.items()},
                        "cycles_per_weight_per_column": cpw}
        rows.append([hw.name, out[hw.name]["engine"] + (" group" if grouped else ""), f"{weights:,}",
                     f"{per['verilator']['run_cycles']:,}", f"{per['golden']['run_cycles']:,}", f"{cpw:.3f}",
                     f"{per['verilator']['wall_s']:.0f}"])
        print(rows[-1], flush=True)
    return out, table(["config", "engine", "weights", "RTL RUN cycles", "golden estimate", "cycles/weight/column",
                       "RTL wall s"], rows, align="llrrrrr") + \
        "\nblock 0's seven projections for one token, Q4_1 codes as uint4 planes (ideal: bits / depth = 1.0)"


def boards(tokens: int) -> tuple[dict, str]:
    """The prompt and ``tokens`` - 1 decode steps on each board's config, projected at its clock."""
    out, rows = {}, []
    for board, name in BOARD_CONFIGS:
        hw = load(ROOT / "examples" / name)
        t0 = time.monotonic()
        r = run_generate(hw, model="smollm2", prompt=PROMPT, max_tokens=tokens, transport="golden",
                         log=lambda *_: None, stream=lambda s: None)
        pr = {p["phase"]: p for p in r["projection"]["phases"]}
        dec, pre = pr.get("decode", pr["prefill"]), pr["prefill"]
        out[f"{board}/{hw.name}"] = {"board": board, "config": hw.name, "clock": r["projection"]["clock"],
                                     "mhz": r["projection"]["mhz"], "exact": r["exact"], "text": r["text"],
                                     "phases": r["phases"], "projection": r["projection"],
                                     "wall_s": round(time.monotonic() - t0, 1)}
        a = hw.array
        eng = f"{a.kind} {a.rows}x{a.cols}" + (f"x{a.depth}" if a.kind == "lut" else "") + \
            (" group" if a.dequant == "group" else "") + f" {a.pe.a}x{a.pe.w}"
        rows.append([board, hw.name, eng, f"{r['projection']['mhz']:g}", f"{r['phases']['prefill']['utilization']:.2f}",
                     f"{pre['tokens_per_s_compute_only']:.2f}", f"{dec['tokens_per_s_compute_only']:.2f}",
                     f"{dec['link_s'] / dec['tokens']:.0f}", f"{dec['tokens_per_s']:.4f}", "yes" if r["exact"] else "NO"])
        print(rows[-1], flush=True)
    return out, table(["board", "config", "engine", "MHz", "prefill util", "prefill tok/s compute",
                       "decode tok/s compute", "UART s/token", "tok/s (UART-bound)", "exact"], rows,
                      align="lllrrrrrrl") + "\nUART 1 Mbaud 8N1; the weights cross it for every token (no room on chip)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verilator", action="store_true", help="also one token of the whole model on the RTL (slow) "
                    "and the LUT engines' cycles per weight on the RTL")
    ap.add_argument("--tokens", type=int, default=8, help="tokens generated on the golden transport")
    ap.add_argument("--board-tokens", type=int, default=3, help="tokens generated per board config")
    ap.add_argument("--only", choices=["quality", "sparse", "lut", "boards", "speed"], action="append",
                    help="run only these parts (repeatable); the others keep their values from --output")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "llm_real.json"))
    args = ap.parse_args(argv)
    parts = set(args.only or ["quality", "sparse", "boards", "speed"] + (["lut"] if args.verilator else []))
    outp = Path(args.output)
    doc = json.loads(outp.read_text()) if outp.is_file() else {}
    tables = doc.get("tables", {})
    m = load_gguf("smollm2")
    if "quality" in parts:
        ids = m.tokenizer.encode(TEXT.read_text(), add_special_tokens=False).ids
        doc["quality"], tables["quality"] = quality(m, ids)
        print(tables["quality"], flush=True)
    if "sparse" in parts:
        stats = sparse_stats(m)
        srows = [[k, f"{v['weights']:,}", f"{v['cycles_per_weight_c1']:.3f}", f"{v['cycles_per_weight_c4']:.3f}"]
                 for k, v in stats.items()]
        doc["sparse_serial"] = stats
        tables["sparse"] = table(["SmolLM2-135M weights", "weights", "cycles/weight C=1", "C=4"], srows, align="lrrr") + \
            "\nsparse bit-serial engine (1 cycle per non-zero NAF digit, >= 1); bit-serial int8: 8; paper (normal int8): 2.05"
        print(tables["sparse"], flush=True)
    if "lut" in parts:
        doc["lut_rtl"], tables["lut"] = lut_rtl(m)
        print(tables["lut"], flush=True)
    if "boards" in parts:
        doc["boards"], tables["boards"] = boards(args.board_tokens)
        print(tables["boards"], flush=True)
    if "speed" in parts:
        hw = load(ROOT / "examples" / "smollm2.yaml")
        speed = doc.get("speed", {})
        for transport, n in (("golden", args.tokens),) + ((("verilator", 1),) if args.verilator else ()):
            t0 = time.monotonic()
            r = run_generate(hw, model="smollm2", prompt=PROMPT, max_tokens=n, transport=transport,
                             log=lambda *_: None, stream=lambda s: None)
            wall = time.monotonic() - t0
            dec = r["phases"].get("decode", {})
            speed[transport] = {"tokens": len(r["ids"]), "text": r["text"], "exact": r["exact"], "wall_s": round(wall, 1),
                                "prefill_wall_s": round(r["phases"]["prefill"]["wall_s"], 1),
                                "decode_s_per_token": round(dec["wall_s"] / dec["tokens"], 2) if dec else None,
                                "phases": r["phases"], "projection": r["projection"]}
            print(f"{transport}: {len(r['ids'])} tokens {r['text']!r} in {wall:.1f} s, exact {r['exact']}", flush=True)
        doc["speed"] = speed
    doc.update({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                            "loadavg": [round(x, 2) for x in os.getloadavg()]},
                "model": m.name, "file": m.path.name, "tables": tables})
    doc.pop("table", None)
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {outp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
