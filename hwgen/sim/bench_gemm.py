"""cocotb bench for every engine: driver, monitor, scoreboard against ``hwgen.golden``.

The same module serves ``hwgen sim`` and the test suite. It reads a plan (JSON, path in
``HWGEN_SIM_PLAN``) written by :func:`hwgen.sim.runner.sim`, runs each GEMM in it and
writes per-GEMM results (cycles, utilization, mismatches) next to the plan.
"""
from __future__ import annotations

import json
import math
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from .. import golden
from ..golden.lut import grouped_gemm
from ..config import loads
from ..numerics import LowBitFormat, parse_lowbit
from .schedule import schedule_gemm, unpack
from .streams import Sink, Source, run_until


def make_operands(rng, cfg, g: dict):
    """Random A (M×K) and W (K×N) in the config's formats, with the plan's corner cases."""
    fa, fw = cfg.pe.a, cfg.pe.w
    if cfg.kind == "lut":  # a LUT engine's weights: values of the GEMM's low-bit format
        fw = lut_format(cfg, g)
    shape_a, shape_w = (g["m"], g["k"]), (g["k"], g["n"])
    fill = g.get("fill")
    if fill:  # every entry at an extreme: the strongest overflow case
        pick = {"min": lambda f: f.min, "max": lambda f: f.max}
        fa_v, fw_v = fill.split("*")
        return (np.full(shape_a, pick[fa_v](fa), dtype=np.int64),
                np.full(shape_w, pick[fw_v](fw), dtype=np.int64))
    ext, zer = g.get("extremes", 0.0), g.get("zeros", 0.0)
    if g.get("w_bits"):  # a bit-serial run-time precision: weights of that many bits (1 allowed)
        b = g["w_bits"]
        lo, hi = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if fw.signed else (0, (1 << b) - 1)
        w = rng.integers(lo, hi, size=shape_w, endpoint=True, dtype=np.int64)
        if ext:
            pick = rng.random(shape_w) < ext
            w[pick] = rng.choice(np.array([lo, hi], dtype=np.int64), size=int(pick.sum()))
        return fa.random(rng, shape_a, extremes=ext, zeros=zer), w
    if g.get("w_sigma"):  # normally distributed weights (sparse-serial statistics), clipped
        w = np.clip(np.round(rng.normal(0.0, g["w_sigma"], shape_w)), fw.min, fw.max).astype(np.int64)
        return fa.random(rng, shape_a, extremes=ext, zeros=zer), w
    return (fa.random(rng, shape_a, extremes=ext, zeros=zer),
            fw.random(rng, shape_w, extremes=ext, zeros=zer))


def lut_format(cfg, g: dict) -> LowBitFormat:
    """The weight format of a plan GEMM on a LUT engine (``wfmt``; default int of the widest bits)."""
    return parse_lowbit(g["wfmt"]) if g.get("wfmt") else LowBitFormat("int", cfg.pe.w.bits)


@cocotb.test()
async def gemm_plan(dut):
    """Run every GEMM of the plan, check bit-exactly, record cycles."""
    plan_path = os.environ["HWGEN_SIM_PLAN"]
    with open(plan_path) as f:
        plan = json.load(f)
    cfg = loads(plan["config_yaml"], source=plan.get("config_source", "<plan>")).array
    seed = plan["seed"]
    data_rng = np.random.default_rng([seed, 0])
    stall_rng = np.random.default_rng([seed, 1])
    dut._log.info(f"hwgen sim seed {seed} (replay with --seed {seed})")

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    names = {"output_stationary": ["a", "w"], "weight_stationary": ["w", "a", "c"],
             "input_stationary": ["a", "w", "c"]}[cfg.dataflow] + (["s"] if cfg.dequant == "group" else [])
    sink = Sink(dut, "out", stall_rng)
    sources = {n: Source(dut, n, stall_rng, sink=sink) for n in names}
    await ClockCycles(dut.clk, 3)
    await RisingEdge(dut.clk)
    dut.rst.value = 0

    results, failures = [], []
    cycle = 0
    for i, g in enumerate(plan["gemms"]):
        a, w = make_operands(data_rng, cfg, g)
        want = golden.gemm(a, w, acc_bits=cfg.pe.acc, overflow=cfg.pe.overflow, group=cfg.group)
        groups = None
        if g.get("group"):   # a group-quantized GEMM: random 16-bit scales and zero points
            size = g["group"]
            n_g = -(-g["k"] // size)
            groups = (size, data_rng.integers(-32768, 32768, (n_g, g["n"])), data_rng.integers(-32768, 32768, (n_g, g["n"])))
            pad = n_g * size - g["k"]
            want = grouped_gemm(np.pad(a, ((0, 0), (0, pad))), np.pad(w, ((0, pad), (0, 0))), None, group=size,
                                scale=groups[1], zero=groups[2], acc_bits=cfg.pe.acc)
        sched = schedule_gemm(cfg, a, w, w_bits=g.get("w_bits"),
                              w_fmt=lut_format(cfg, g) if cfg.kind == "lut" else None, groups=groups)
        for n, src in sources.items():
            src.load(sched.inputs[n])
            src.p_idle = g.get("stall_in", 0.0)
        sink.reset()
        sink.p_stall = g.get("stall_out", 0.0)
        ports = [*sources.values(), sink]
        per_beat = cfg.pe.w.bits + 1 if cfg.kind == "bit_serial" else 1
        timeout = 50 * (per_beat * max(map(len, sched.inputs.values())) + sched.out_beats + cfg.rows + cfg.cols) + 1000
        cycle = await run_until(dut.clk, ports, lambda: len(sink.raw) >= sched.out_beats,
                                start_cycle=cycle, timeout=timeout)
        rows = [unpack(x, cfg.pe.acc, cfg.cols) for x in sink.raw]
        got = sched.assemble(rows, g["m"], g["n"])
        first = min(s.first_fire for s in sources.values() if s.first_fire is not None)
        cycles = sink.last_fire - first + 1
        # MACs per cycle at this GEMM's weight bits (a LUT engine takes a bit-plane per cycle)
        peak = cfg.macs_per_cycle / (lut_format(cfg, g).bits if cfg.kind == "lut" else 1)
        ideal = math.ceil(g["m"] * g["n"] * g["k"] / peak)
        bad = np.argwhere(got != want)
        res = dict(g, index=i, cycles=cycles, ideal=ideal, tiles=sched.tiles,
                   utilization=g["m"] * g["n"] * g["k"] / (peak * cycles),
                   ok=bool(bad.size == 0), mismatches=int(len(bad)))
        if bad.size:
            r, c = bad[0]
            res["first_mismatch"] = {"row": int(r), "col": int(c), "got": int(got[r, c]), "want": int(want[r, c])}
            failures.append(f"GEMM {i} {g['m']}x{g['k']}x{g['n']}: {len(bad)} mismatches, first at "
                            f"[{r},{c}] got {got[r, c]} want {want[r, c]}")
        results.append(res)
        dut._log.info(f"GEMM {i} {g['m']}x{g['k']}x{g['n']}: {'ok' if res['ok'] else 'MISMATCH'}, "
                      f"{cycles} cycles, utilization {res['utilization']:.1%}")
    with open(plan["results_path"], "w") as f:
        json.dump({"seed": seed, "gemms": results}, f, indent=1)
    assert not failures, f"seed {seed}: " + "; ".join(failures)
