"""``hwgen run llm --batch B``: batched decode with the weights and KV caches resident in the
PIM banks (:mod:`hwgen.llm.batch`), every step checked bit for bit against the NumPy
reference of the same arithmetic, with the device's own counters per phase (engine busy,
bank GEMV busy, both at once, GEMV stalls) and a tokens/s projection on a board.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from ..config import HwgenConfig
from ..driver import Accelerator
from ..fpga.measured import board_clock, load_results, packaged
from ..report import table
from .batch import MODES, AcceleratorOps, BatchDecoder, ReferenceOps, halves, quantize_model
from .model import LlamaConfig, LLMError
from .run import check_counts, model_weights, projection

__all__ = ["run_llm_batch", "format_llm_batch", "COUNTERS"]

#: the device counters a phase reports (docs/protocol.md)
COUNTERS = ("busy", "pim_busy", "store_busy", "overlap", "pim_stall", "pim_issue", "array")


def run_llm_batch(hw: HwgenConfig, *, batch: int, mode: str = "interleave", weights: Path | None = None,
                  layers: int = 1, prompt_len: int = 4, decode: int = 4, transport: str = "verilator",
                  scheme: str = "int8", group: int = 128, seed: int | None = None, model: LlamaConfig | None = None,
                  boards: Path | None = None, log=print) -> dict:
    """Decode ``batch`` sequences together: ``prompt_len`` prefill positions, then ``decode``
    steps, ``layers`` layers of ``weights`` (a random model from ``seed`` when None)."""
    check_counts(batch=(batch, 1), layers=(layers, 1), prompt_len=(prompt_len, 1), decode=(decode, 0),
                 group=(group, 1))
    if mode not in MODES:
        raise LLMError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    seed = random.randrange(2**31) if seed is None else seed
    cfg, lw, source = model_weights(weights, layers, seed, model)
    results = load_results(boards) if boards is not None else packaged()
    max_len = prompt_len + decode
    qws = quantize_model(cfg, lw, scheme, group)
    x = np.random.default_rng(seed + 1).normal(size=(max_len, batch, cfg.dim)).astype(np.float32)
    log(f"model: d={cfg.dim}, {cfg.n_heads} heads, {cfg.n_kv_heads} KV heads, MLP {cfg.hidden}, {len(lw)} layer(s), "
        f"weights {source}, {scheme}" + (f" (group {group})" if scheme != "int8" else "")
        + f"; batch {batch}, mode {mode}")
    ref = BatchDecoder(cfg, lw, ReferenceOps(cfg, qws, batch, max_len), qws, batch, max_len)
    split = halves(batch, mode, hw.array.rows)
    t0 = time.monotonic()
    steps, phases, exact = [], {}, True
    with Accelerator.open(hw, transport, log=log) as acc:
        acc.reset()
        dev = BatchDecoder(cfg, lw, AcceleratorOps(acc, cfg, qws, batch, max_len, mode, split), qws, batch, max_len,
                           split=split)
        log(f"  weights resident: {acc.stats.link_bytes_out:,} bytes sent once "
            f"({acc.pim.next_word:,} of {hw.soc.pim.rows:,} words in each of {hw.soc.pim.banks} banks)")
        for i in range(max_len):
            phase = "prefill" if i < prompt_len else "decode"
            r0 = acc.regs()
            s0 = dict(acc.stats.__dict__)
            got = dev.step(x[i])
            s1 = dict(acc.stats.__dict__)
            r1 = acc.regs()
            same = bool(np.array_equal(got, ref.step(x[i])))
            exact &= same
            row = {"phase": phase, "position": i, "tokens": batch, "exact": same,
                   **{k: r1[k] - r0[k] for k in COUNTERS},
                   "bytes_out": s1["link_bytes_out"] - s0["link_bytes_out"],
                   "bytes_in": s1["link_bytes_in"] - s0["link_bytes_in"], "stores": s1["stores"] - s0["stores"]}
            # the device computed while either unit was busy: their union
            row["run_cycles"] = row["busy"] + row["store_busy"] + row["pim_busy"] - row["overlap"]
            steps.append(row)
            p = phases.setdefault(phase, {"tokens": 0, "run_cycles": 0, "bytes_out": 0, "bytes_in": 0, "stores": 0,
                                          **{k: 0 for k in COUNTERS}})
            for k in ("tokens", "run_cycles", "bytes_out", "bytes_in", "stores") + COUNTERS:
                p[k] += row[k]
        sim_cycles = acc.transport.cycles
        kv = ("written on chip (STORE)" if dev.kvq[0] is not None and dev.ops.kv_on_chip
              else "requantized on the host from the accumulators" if dev.kvq[0] is not None
              else "quantized on the host per position")
    board = board_clock(hw, results)
    label, mhz = board if board else (f"soc.clock_hz of {hw.name} (no timing-met board build of it measured)",
                                      hw.soc.clock_hz / 1e6)
    return {"config": hw.name, "transport": transport, "seed": seed, "weights": source, "scheme": scheme,
            "group": group, "batch": batch, "mode": mode, "kv_rows": kv, "row_buffers": hw.soc.pim.row_buffers if hw.soc.pim else None,
            "model": cfg.__dict__, "exact": exact, "steps": steps, "phases": phases,
            "wall_s": round(time.monotonic() - t0, 1), "sim_cycles": sim_cycles,
            "projection": {"clock": label, "mhz": mhz, "baud": hw.soc.baud, "phases": projection(phases, mhz, hw.soc.baud)}}


def format_llm_batch(r: dict) -> str:
    rows = [[p, v["tokens"], f"{v['busy']:,}", f"{v['store_busy']:,}", f"{v['pim_busy']:,}", f"{v['overlap']:,}",
             f"{v['pim_stall']:,}",
             f"{v['run_cycles']:,}", f"{v['run_cycles'] / v['tokens']:,.0f}", f"{v['bytes_out'] + v['bytes_in']:,}"]
            for p, v in r["phases"].items()]
    pr = r["projection"]
    prow = [[p["phase"], p["tokens"], f"{p['compute_s'] * 1e3:.2f}", f"{p['link_s'] * 1e3:.1f}", p["bound"],
             f"{p['tokens_per_s']:.2f}", f"{p['tokens_per_s_compute_only']:.1f}"] for p in pr["phases"]]
    return "\n".join([
        table(["phase", "tokens", "engine busy", "STORE busy", "GEMV busy", "both", "GEMV stalls", "cycles (union)",
               "cycles/token", "link bytes"], rows, align="lrrrrrrrrr"),
        f"check: {'bit-exact' if r['exact'] else 'MISMATCH'} against the NumPy reference with the same quantization "
        f"({r['scheme']} weights resident in the banks, int8 activations, int8 KV caches, new K/V rows "
        f"{r['kv_rows']}; attention "
        f"{'on the engine' if r['mode'] == 'npu' else 'in the banks'}"
        + (", sub-batches interleaved" if r["mode"] == "interleave" else "") + ")",
        f"projection on {pr['clock']} at {pr['mhz']:g} MHz, UART {pr['baud']:,} baud:",
        table(["phase", "tokens", "compute ms", "UART ms", "bound", "tokens/s", "tokens/s compute-only"], prow,
              align="lrrrlrr"),
    ])
