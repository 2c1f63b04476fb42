#!/usr/bin/env python3
"""Batched decode of the d = 256 block with PIM banks (issue 19): three modes side by side,
from the Verilated accelerator's own counters.

* ``npu``: the engine does everything: the projections stream the resident weights from the
  banks (RUN_W_PIM) and attention runs as engine GEMMs whose K/V operands cross the link;
* ``pim``, one row buffer: attention as bank GEMVs (q·Kᵀ dot, p·V broadcast-accumulate) over
  the resident int8 KV caches, after the projections (NeuPIMs' blocked mode);
* ``interleave``, two row buffers: the batch split in two, one half's attention GEMVs started
  together with the other half's engine RUNs (NeuPIMs' sub-batch interleaving);
* ``interleave``, one row buffer: the same schedule on single-port banks (the GEMV waits in
  every cycle the engine reads its weights): the row buffer's share of the gain, apart.

For each batch B and context T the caches are preloaded with T positions (random int8 K/V;
the cycles do not depend on the values) and one decode step of one layer runs; its result is
checked bit for bit against the NumPy reference. The new K/V rows are written on chip
(STORE) in the PIM modes. The device counters give the engine's busy cycles, the STOREs', the
GEMVs', the cycles a GEMV ran beside either, the GEMV stalls; a step's compute time is their
union (busy + STORE busy + GEMV busy − both). The projection onto the ULX3S uses the clock of its PIM
build (``bench/results/boards.json``) when there is one, else 50 MHz, and a 1 Mbaud UART.

    python bench/pim_decode.py            # B = 1, 4, 16, 32; T = 64, 256 (~20 min)
    python bench/pim_decode.py --quick    # B = 1, 4; T = 64

Writes ``bench/results/pim_decode.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hwgen.config import load
from hwgen.driver import Accelerator
from hwgen.fpga.measured import board_clock, packaged
from hwgen.llm.batch import AcceleratorOps, BatchDecoder, ReferenceOps, halves, quantize_model
from hwgen.llm.model import LlamaConfig, random_weights
from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pim_llm.yaml"
#: column → (decode mode, row buffers)
MODES = {"npu": ("npu", 2), "pim": ("pim", 1), "interleave": ("interleave", 2), "interleave-1rb": ("interleave", 1)}
BAUD = 1_000_000


def configs(max_ctx: int, batch: int):
    """The example's accelerator with banks deep enough for a layer's weights and ``batch``
    caches of ``max_ctx`` positions, one per row-buffer count (simulated; the board build is
    the example itself)."""
    base = load(EXAMPLE)
    m = LlamaConfig()
    p = base.soc.pim
    slots = 2 * -(-batch // (2 * p.banks))          # each half of an interleaved batch has its own slots
    words = 12_000 + 2 * slots * (max_ctx + 1) * m.n_kv_heads * m.head_dim // p.lanes
    rows = 1 << max(words - 1, 1).bit_length()
    out = {}
    for rb in (1, 2):
        pim = dataclasses.replace(p, rows=rows, row_buffers=rb)
        out[rb] = dataclasses.replace(base, name=f"pim_bench_r{rows}_rb{rb}",
                                      soc=dataclasses.replace(base.soc, pim=pim))
    return out


class Device:
    """One Verilated accelerator with the layer's weights resident (loaded once: the points
    differ only in their KV caches, allocated after ``mark``)."""

    def __init__(self, hw, seed: int):
        self.model = LlamaConfig()
        self.weights = random_weights(self.model, seed, 1)
        self.qws = quantize_model(self.model, self.weights, "int8", 128)
        self.acc = Accelerator.open(hw, "verilator")
        self.handles = AcceleratorOps.load_weights(self.acc, self.qws)
        self.mark = self.acc.pim.next_word


def step(dev_: Device, mode: str, batch: int, ctx: int, seed: int) -> dict:
    acc, hw = dev_.acc, dev_.acc.cfg
    model, weights, qws = dataclasses.replace(dev_.model, max_seq=ctx + 1), dev_.weights, dev_.qws
    x = np.random.default_rng(seed + 1).normal(size=(batch, model.dim)).astype(np.float32)
    ref = BatchDecoder(model, weights, ReferenceOps(model, qws, batch, ctx + 1), qws, batch, ctx + 1)
    ref.preload(ctx, seed + 2)
    want = ref.step(x)
    split = halves(batch, mode, hw.array.rows)
    t0 = time.monotonic()
    acc.pim.release_to(dev_.mark)
    ops = AcceleratorOps(acc, model, qws, batch, ctx + 1, mode, split, handles=dev_.handles)
    dev = BatchDecoder(model, weights, ops, qws, batch, ctx + 1, split=split)
    dev.preload(ctx, seed + 2)
    acc.reset()
    s0 = dict(acc.stats.__dict__)
    got = dev.step(x)
    s1 = dict(acc.stats.__dict__)
    r = acc.regs()
    c = {k: r[k] for k in ("busy", "pim_busy", "store_busy", "overlap", "pim_stall", "pim_issue", "array")}
    c["cycles"] = c["busy"] + c["store_busy"] + c["pim_busy"] - c["overlap"]
    c["link_bytes"] = (s1["link_bytes_out"] - s0["link_bytes_out"]) + (s1["link_bytes_in"] - s0["link_bytes_in"])
    return {"mode": mode, "row_buffers": hw.soc.pim.row_buffers, "batch": batch, "context": ctx,
            "exact": bool(np.array_equal(got, want)), **c, "wall_s": round(time.monotonic() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="B = 1, 4 and T = 64 only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "pim_decode.json"))
    args = ap.parse_args(argv)
    batches, contexts = ([1, 4], [64]) if args.quick else ([1, 4, 16, 32], [64, 256])
    cfgs = configs(max(contexts), max(batches))
    devices = {rb: Device(cfg, args.seed) for rb, cfg in cfgs.items()}
    rows = []
    for ctx in contexts:
        for b in batches:
            for label, (mode, rb) in MODES.items():
                r = step(devices[rb], mode, b, ctx, args.seed)
                r["column"] = label
                rows.append(r)
                print(f"T={ctx} B={b} {label}: {r['cycles']:,} cycles, {r['link_bytes']:,} link bytes, "
                      f"exact {r['exact']} ({r['wall_s']} s)", flush=True)
    for d in devices.values():
        d.acc.close()
    board = board_clock(load(EXAMPLE), packaged())
    mhz = board[1] if board else 50.0
    for r in rows:
        compute, link = r["cycles"] / (mhz * 1e6), r["link_bytes"] * 10 / BAUD
        r.update(compute_ms=compute * 1e3, link_ms=link * 1e3, tokens_per_s=r["batch"] / max(compute, link),
                 tokens_per_s_compute=r["batch"] / compute)
    out = []
    for ctx in contexts:
        for b in batches:
            by = {r["column"]: r for r in rows if r["context"] == ctx and r["batch"] == b}
            il = by["interleave"]
            out.append([ctx, b, *(f"{by[m]['cycles']:,}" for m in MODES), f"{il['store_busy']:,}",
                        f"{il['pim_busy']:,}", f"{il['overlap']:,}",
                        f"{by['interleave-1rb']['pim_stall']:,}",
                        f"{by['npu']['cycles'] / il['cycles']:.2f}x", f"{by['pim']['cycles'] / il['cycles']:.2f}x",
                        f"{by['interleave-1rb']['cycles'] / il['cycles']:.2f}x",
                        f"{il['tokens_per_s_compute']:,.0f}", f"{il['tokens_per_s']:.2f}",
                        f"{round(il['link_bytes'] / b):,}", "yes" if all(by[m]["exact"] for m in MODES) else "NO"])
    text = table(["T", "B", "npu", "pim 1rb", "interleave 2rb", "interleave 1rb", "STORE busy", "GEMV busy", "overlap",
                  "1rb stalls",
                  "npu/il", "pim/il", "il-1rb/il", "tok/s compute", f"tok/s {BAUD // 1000} kbaud", "link B/token",
                  "exact"], out, align="rrrrrrrrrrrrrrrrl")
    print(text)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "loadavg": [round(x, 2) for x in os.getloadavg()]},
           "clock": {"mhz": mhz, "source": board[0] if board else "50 MHz (no ULX3S PIM build recorded)"},
           "baud": BAUD, "model": LlamaConfig().__dict__, "weights": "int8 per channel, resident", "rows": rows,
           "table": text}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
