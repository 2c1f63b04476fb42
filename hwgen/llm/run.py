"""``hwgen run llm``: decoder layers on the accelerator — prefill, then decode steps — each
checked bit for bit against the NumPy reference with the same quantization and compared
with the float model, with per-layer cycles, utilization, host-link bytes and a projection
of tokens/s on a synthesized board (compute time vs UART time).
"""
from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import numpy as np

from ..config import HwgenConfig
from ..driver import Accelerator
from ..fpga.measured import board_clock, load_results, packaged
from ..report import table
from ..numerics import parse_lowbit
from .layers import (LUT_FORMATS, AcceleratorLinear, LutLinear, LutReferenceLinear, ReferenceLinear, fixed_scales,
                     quantize_layer)
from .model import DecoderBlock, KVCache, LlamaConfig, LLMError, random_weights

__all__ = ["run_llm", "format_llm", "projection", "check_counts", "model_weights"]

def check_counts(**counts: tuple) -> None:
    """Each ``name=(value, lowest)`` an integer ≥ lowest, else :class:`LLMError` naming it."""
    for name, (value, lo) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise LLMError(f"{name} must be an integer >= {lo}, got {value!r}")


def model_weights(weights: Path | None, layers: int, seed: int, model: LlamaConfig | None):
    """(config, layer weights, where they came from): ``weights`` read, or a random model from ``seed``."""
    if weights is not None:
        from .weights import load_llama
        cfg, lw = load_llama(weights, layers)
        return cfg, lw, str(weights)
    cfg = model or LlamaConfig()
    return cfg, random_weights(cfg, seed, layers), f"random (seed {seed})"


def projection(phases: dict, mhz: float, baud: int) -> list[dict]:
    """Time per phase on the board: compute = RUN cycles at ``mhz``, link = bytes · 10 / baud
    (8N1). Double buffering overlaps them at best, so the bound is the larger one."""
    rows = []
    for name, p in phases.items():
        compute = p["run_cycles"] / (mhz * 1e6)
        link = (p["bytes_out"] + p["bytes_in"]) * 10 / baud
        rows.append({"phase": name, "tokens": p["tokens"], "compute_s": compute, "link_s": link,
                     "bound": "link" if link > compute else "compute",
                     "tokens_per_s": p["tokens"] / max(compute, link),
                     "tokens_per_s_compute_only": p["tokens"] / compute if compute else None})
    return rows


def run_llm(hw: HwgenConfig, *, weights: Path | None = None, layers: int = 1, prompt_len: int = 16, decode: int = 4,
            transport: str = "verilator", scheme: str = "int8", group: int = 128, seed: int | None = None,
            model: LlamaConfig | None = None, boards: Path | None = None, log=print) -> dict:
    """Run ``layers`` decoder layers of ``weights`` (a random model from ``seed`` when None) on the
    accelerator ``hw``. The tokens/s projection uses the clock of a timing-met board build of ``hw``
    from ``boards`` (a results file, see :mod:`hwgen.fpga.measured`), else from the builds shipped
    with hwgen, else ``hw.soc.clock_hz``."""
    check_counts(layers=(layers, 1), prompt_len=(prompt_len, 1), decode=(decode, 0), group=(group, 1))
    seed = random.randrange(2**31) if seed is None else seed
    cfg, lw, source = model_weights(weights, layers, seed, model)
    if prompt_len + decode > cfg.max_seq:
        raise LLMError(f"prompt-len + decode = {prompt_len + decode} exceeds the model's max_seq {cfg.max_seq}")
    # board results first: a bad --boards file is reported before minutes of simulation
    results = load_results(boards) if boards is not None else packaged()
    blocks = [DecoderBlock(cfg, w) for w in lw]
    qws = [quantize_layer(w, scheme, group) for w in lw]
    x = np.random.default_rng(seed + 1).normal(size=(prompt_len + decode, cfg.dim)).astype(np.float32)
    log(f"model: d={cfg.dim}, {cfg.n_heads} heads, {cfg.n_kv_heads} KV heads, MLP {cfg.hidden}, {len(lw)} layer(s), "
        f"weights {source}, {scheme}" + (f" (group {group})" if scheme != "int8" else "") + " × int8 per token")
    # caches as long as this run (config.json's max_position_embeddings may be 131072 or more)
    run_cfg = dataclasses.replace(cfg, max_seq=prompt_len + decode)
    caches = {k: [KVCache(run_cfg) for _ in blocks] for k in ("hw", "ref", "float")}
    per_layer, phases, exact, cos_all = [], {}, True, []
    t0 = time.monotonic()
    # a LUT engine with group dequantization takes the group scales itself (16-bit fixed point):
    # one gemm per linear layer, checked against the same fixed-point arithmetic in NumPy
    lut = hw.array.kind == "lut" and hw.array.dequant == "group"
    if lut:
        fixed = [fixed_scales(q) for q in qws]
        refs = [LutReferenceLinear(f, hw.array.pe.acc) for f in fixed]
        log(f"group scales as 16-bit fixed point in hardware: largest relative rounding of a scale "
            f"{max(f.max_rel_error for fl in fixed for f in fl.values()):.2e}")
    else:
        refs = [ReferenceLinear(q, hw.array.pe.acc) for q in qws]
    # MACs per cycle at the weights' bits (a LUT engine takes one bit-plane per cycle)
    peak = hw.array.macs_per_cycle / (parse_lowbit(LUT_FORMATS[scheme]).bits if hw.array.kind == "lut" else 1)
    with Accelerator.open(hw, transport, log=log) as acc:
        acc.reset()
        lins = [LutLinear(acc, f) for f in fixed] if lut else [AcceleratorLinear(acc, q) for q in qws]
        steps = [("prefill", slice(0, prompt_len))] + [(f"decode {i + 1}", slice(prompt_len + i, prompt_len + i + 1))
                                                        for i in range(decode)]
        for phase, rows in steps:
            h = {k: x[rows] for k in caches}
            for li, blk in enumerate(blocks):
                before = dict(acc.stats.__dict__)
                macs0 = sum(lins[li].macs.values())
                h["hw"] = blk.forward(h["hw"], caches["hw"][li], lins[li])
                after = acc.stats.__dict__
                h["ref"] = blk.forward(h["ref"], caches["ref"][li], refs[li])
                h["float"] = blk.forward(h["float"], caches["float"][li])
                same = bool(np.array_equal(h["hw"], h["ref"]))
                exact &= same
                d_q, d_f = (h["hw"] - x[rows]).ravel(), (h["float"] - x[rows]).ravel()
                cos = float(d_q @ d_f / (np.linalg.norm(d_q) * np.linalg.norm(d_f) + 1e-30))
                cos_all.append(cos)
                run_c = after["gemm_cycles"] - before["gemm_cycles"]
                macs = sum(lins[li].macs.values()) - macs0
                row = {"phase": phase, "layer": li, "tokens": rows.stop - rows.start, "macs": macs,
                       "runs": after["runs"] - before["runs"],
                       "run_cycles": run_c, "utilization": macs / peak / max(run_c, 1),
                       "bytes_out": after["link_bytes_out"] - before["link_bytes_out"],
                       "bytes_in": after["link_bytes_in"] - before["link_bytes_in"], "exact": same, "cosine": cos}
                per_layer.append(row)
                key = "prefill" if phase == "prefill" else "decode"
                p = phases.setdefault(key, {"tokens": 0, "run_cycles": 0, "bytes_out": 0, "bytes_in": 0})
                p["run_cycles"] += run_c
                p["bytes_out"] += row["bytes_out"]
                p["bytes_in"] += row["bytes_in"]
            phases["prefill" if phase == "prefill" else "decode"]["tokens"] += rows.stop - rows.start
            log(f"  {phase}: {len(blocks)} layer(s) done")
        sim_cycles = acc.transport.cycles
    report = {"config": hw.name, "transport": transport, "seed": seed, "weights": source, "scheme": scheme,
              "group_scales": "hardware (16-bit fixed point)" if lut else "host (float32)",
              "scale_rel_error": max(f.max_rel_error for fl in fixed for f in fl.values()) if lut else 0.0,
              "group": group, "model": cfg.__dict__, "exact": exact, "min_cosine": min(cos_all),
              "per_layer": per_layer, "phases": phases, "wall_s": round(time.monotonic() - t0, 1),
              "sim_cycles": sim_cycles}
    board = board_clock(hw, results)
    label, mhz = board if board else (f"soc.clock_hz of {hw.name} (no timing-met board build of it measured)",
                                      hw.soc.clock_hz / 1e6)
    report["projection"] = {"clock": label, "mhz": mhz, "baud": hw.soc.baud,
                            "phases": projection(phases, mhz, hw.soc.baud)}
    return report


def format_llm(r: dict) -> str:
    rows = [[x["phase"], x["layer"], x["tokens"], f"{x['macs']:,}", x.get("runs", ""), f"{x['run_cycles']:,}",
             x["utilization"], f"{x['bytes_out'] + x['bytes_in']:,}", "yes" if x["exact"] else "NO", f"{x['cosine']:.4f}"]
            for x in r["per_layer"]]
    pr = r["projection"]
    prow = [[p["phase"], p["tokens"], f"{p['compute_s'] * 1e3:.2f}", f"{p['link_s'] * 1e3:.1f}", p["bound"],
             f"{p['tokens_per_s']:.2f}", f"{p['tokens_per_s_compute_only']:.1f}"] for p in pr["phases"]]
    return "\n".join([
        table(["phase", "layer", "tokens", "MACs", "RUNs", "RUN cycles", "util", "link bytes", "exact", "cos vs float"],
              rows, align="lrrrrrrrlr"),
        f"check: {'bit-exact' if r['exact'] else 'MISMATCH'} against the NumPy reference with the same quantization "
        f"({r['scheme']} weights, int8 per-token activations, group scales in {r.get('group_scales', 'host')}); "
        f"min cosine vs the float model {r['min_cosine']:.4f}",
        f"projection on {pr['clock']} at {pr['mhz']:g} MHz, UART {pr['baud']:,} baud:",
        table(["phase", "tokens", "compute ms", "UART ms", "bound", "tokens/s", "tokens/s compute-only"], prow,
              align="lrrrlrr"),
    ])
