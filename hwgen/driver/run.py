"""``hwgen run gemm``: one random GEMM through the driver, checked against the golden
model, with the device's counters and the host-link traffic."""
from __future__ import annotations

import random
import time

import numpy as np

from .. import golden
from ..config import HwgenConfig
from .accelerator import Accelerator

__all__ = ["run_gemm"]


def run_gemm(cfg: HwgenConfig, m: int, k: int, n: int, *, transport: str = "verilator", seed: int | None = None,
             log=print) -> dict:
    """Run ``A @ W`` (random operands of the config's formats, seeded) on the accelerator;
    returns a report (``ok`` is the bit-exact check against ``hwgen.golden.gemm``)."""
    seed = random.randrange(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    pe = cfg.array.pe
    a, w = pe.a.random(rng, (m, k)), pe.w.random(rng, (k, n))
    t0 = time.monotonic()
    with Accelerator.open(cfg, transport, log=log) as dev:
        t1 = time.monotonic()
        dev.reset()
        got = dev.gemm(a, w)
        wall = time.monotonic() - t1
        stats = dev.stats_dict()
        cycles = dev.transport.cycles
    want = golden.gemm(a, w, acc_bits=pe.acc, overflow=pe.overflow, group=cfg.array.group)
    regs = stats["regs"]
    macs = cfg.array.macs_per_cycle
    report = {
        "config": cfg.name, "transport": transport, "gemm": f"{m}x{k}x{n}", "seed": seed,
        "ok": bool(np.array_equal(got, want)), "mismatches": int((got != want).sum()),
        "run_cycles": stats["gemm_cycles"], "array_beats": regs["array"],
        "ideal_cycles": -(-m * n * k // macs),
        "link_bytes_to_device": stats["link_bytes_out"], "link_bytes_from_device": stats["link_bytes_in"],
        "retries": stats["retries"], "device_cycles_total": regs["cycles"],
        "connect_seconds": round(t1 - t0, 3), "gemm_seconds": round(wall, 3),
    }
    report["utilization"] = report["ideal_cycles"] / max(report["run_cycles"], 1)
    if cycles is not None and wall > 0:
        report["sim_cycles_per_second"] = round((regs["cycles"]) / wall)
    return report


def format_report(r: dict, cfg: HwgenConfig) -> str:
    baud = cfg.soc.baud
    link = r["link_bytes_to_device"] + r["link_bytes_from_device"]
    lines = [
        f"{r['config']} over {r['transport']}: GEMM {r['gemm']} (seed {r['seed']}) "
        + ("bit-exact against hwgen.golden" if r["ok"] else f"MISMATCH in {r['mismatches']} entries"),
        f"  compute: {r['run_cycles']:,} cycles in RUN commands, ideal {r['ideal_cycles']:,} "
        f"({r['utilization']:.1%} of peak)",
        f"  host link: {r['link_bytes_to_device']:,} bytes to the device, {r['link_bytes_from_device']:,} back"
        f" ({r['retries']} retries); stream PHY 1 byte/cycle = {link:,} cycles; UART {baud:,} baud = "
        f"{link * 10 / baud:.3f} s",
        f"  device: {r['device_cycles_total']:,} cycles since reset; wall {r['gemm_seconds']} s"
        + (f" ({r['sim_cycles_per_second']:,} simulated cycles/s)" if "sim_cycles_per_second" in r else ""),
    ]
    return "\n".join(lines)
