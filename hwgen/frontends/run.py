"""``hwgen import`` and ``hwgen run model``: a network read through hls4ml, lowered, written
out, run on the accelerator, and compared with hls4ml's own C-simulation.

The inputs are random integers of the model's input format (a printed seed), as many as
``--inputs``; three results must agree bit for bit: hls4ml's ``predict`` (its C++ code
compiled with g++), the lowered model in NumPy, and the accelerator. The report has the
accelerator's cycles per inference, its utilization, the link bytes, and inferences/s on a
synthesized board at its clock with compute and UART time apart.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from ..config import HwgenConfig
from ..report import table
from .hls4ml import import_model
from .lowered import FrontendError, check_fits

__all__ = ["import_to_dir", "run_model", "format_import", "format_run_model"]


def _layer_rows(m) -> list[list]:
    rows = []
    for lay in m.layers:
        if lay.kind == "host":
            rows.append([lay.name, lay.op, "", "", "", "", ""])
            continue
        k, n = lay.w.shape
        st = lay.stage
        rows.append([lay.name, lay.kind + (f" {lay.kernel[0]}x{lay.kernel[1]}/{lay.stride[0]}" if lay.kind == "conv"
                                           else ""),
                     f"{k}x{n}", f"{int(lay.w.min())}..{int(lay.w.max())}", "yes" if lay.bias is not None else "",
                     "raw accumulators" if st is None else
                     f"x{int(st.scale.min())}" + (f"..{int(st.scale.max())}" if st.scale.max() != st.scale.min() else "")
                     + f" >>{st.shift}{' relu' if st.relu else ''} -> {st.fmt}", f"2^-{lay.frac}"])
    return rows


def format_import(m, paths=None) -> str:
    lines = [f"{m.name}: input {m.input_shape} {m.input_fmt} at 2^-{m.input_frac}, {m.macs():,} MACs per inference",
             table(["layer", "op", "K x N", "weights", "bias", "output stage", "binary point"], _layer_rows(m),
                   align="lllllll")]
    if paths:
        lines.append("wrote " + ", ".join(str(p) for p in paths))
    return "\n".join(lines)


def import_to_dir(model: Path, out: Path, *, hw: HwgenConfig | None = None, force: bool = False, **opts):
    """Read ``model`` through hls4ml, lower it, check it against ``hw`` (when given) and write
    ``out/model.json`` + ``out/weights.npz``; never over files already there unless ``force``."""
    out = Path(out)
    existing = [p for p in (out / "model.json", out / "weights.npz") if p.exists()]
    if existing and not force:
        raise FrontendError(f"{existing[0]} exists; hwgen import does not overwrite it (use --force or another -o)")
    imp = import_model(model, **opts)
    if hw is not None:
        check_fits(imp.lowered, hw)
    return imp, imp.lowered.save(out)


def run_model(hw: HwgenConfig, model: Path, *, inputs: int = 100, transport: str = "golden", seed: int | None = None,
              strategy: str = "Latency", reuse_factor: int = 1, io_type: str = "io_parallel", boards: Path | None = None,
              log=print) -> dict:
    from ..driver import Accelerator
    from ..fpga.measured import board_clock, load_results, packaged
    from ..llm.run import projection
    results = load_results(boards) if boards is not None else packaged()
    seed = random.randrange(2**31) if seed is None else seed
    t0 = time.monotonic()
    imp = import_model(model, strategy=strategy, reuse_factor=reuse_factor, io_type=io_type)
    m = imp.lowered
    check_fits(m, hw)
    log(f"model: {m.name} through hls4ml ({strategy}, ReuseFactor {reuse_factor}, {io_type}): "
        f"{sum(lay.kind != 'host' for lay in m.layers)} GEMM layers, {m.macs():,} MACs per inference")
    log(f"inputs: {inputs} random {m.input_fmt} samples of shape {m.input_shape}, seed {seed} "
        f"(replay: --seed {seed})")
    x = np.random.default_rng(seed).integers(m.input_fmt.min, m.input_fmt.max + 1, (inputs,) + tuple(m.input_shape))
    t1 = time.monotonic()
    want = imp.predict(x)
    t_hls = time.monotonic() - t1
    ref = m.reference(x).reshape(inputs, -1)
    with Accelerator.open(hw, transport, log=log) as acc:
        acc.reset()
        t2 = time.monotonic()
        got = m.run(acc, x).reshape(inputs, -1)
        t_dev = time.monotonic() - t2
        s = acc.stats
        stats = {"run_cycles": s.gemm_cycles, "runs": s.runs, "bytes_out": s.link_bytes_out,
                 "bytes_in": s.link_bytes_in, "macs": s.gemm_macs}
    mism = int(np.sum(np.any(got != want, axis=1)))
    board = board_clock(hw, results)
    label, mhz = board if board else (f"soc.clock_hz of {hw.name} (no timing-met board build of it measured)",
                                      hw.soc.clock_hz / 1e6)
    phase = {"batch": {"tokens": inputs, **stats}}
    pr = projection(phase, mhz, hw.soc.baud)[0]
    return {"config": hw.name, "model": str(model), "name": m.name, "transport": transport, "seed": seed,
            "inputs": inputs, "settings": {"strategy": strategy, "reuse_factor": reuse_factor, "io_type": io_type},
            "exact": mism == 0 and bool(np.array_equal(ref, want)), "mismatches": mism,
            "reference_equals_hls4ml": bool(np.array_equal(ref, want)), "macs_per_inference": m.macs(),
            "output_frac": m.output_frac, **stats,
            "cycles_per_inference": stats["run_cycles"] / inputs,
            "utilization": m.macs(inputs) / hw.array.macs_per_cycle / max(stats["run_cycles"], 1),
            "wall_s": {"import": round(t1 - t0, 2), "hls4ml_predict": round(t_hls, 2), "device": round(t_dev, 2)},
            "projection": {"clock": label, "mhz": mhz, "baud": hw.soc.baud,
                           "compute_s": pr["compute_s"], "link_s": pr["link_s"], "bound": pr["bound"],
                           "inferences_per_s": pr["tokens_per_s"],
                           "inferences_per_s_compute_only": pr["tokens_per_s_compute_only"]},
            "first": {"hls4ml": want[0].tolist(), "accelerator": got[0].tolist()}}


def format_run_model(r: dict) -> str:
    pr = r["projection"]
    return "\n".join([
        f"check: {r['inputs']} inputs, accelerator vs hls4ml's C-simulation: "
        + ("bit-exact" if r["exact"] else f"{r['mismatches']} MISMATCHING rows")
        + f"; first output {r['first']['accelerator']} (hls4ml {r['first']['hls4ml']}, ints at 2^-{r['output_frac']})",
        table(["inputs", "MACs", "RUNs", "RUN cycles", "cycles/inference", "util", "link bytes"],
              [[r["inputs"], f"{r['macs']:,}", f"{r['runs']:,}", f"{r['run_cycles']:,}",
                f"{r['cycles_per_inference']:,.0f}", f"{r['utilization']:.2f}", f"{r['bytes_out'] + r['bytes_in']:,}"]],
              align="rrrrrrr"),
        f"projection on {pr['clock']} at {pr['mhz']:g} MHz, UART {pr['baud']:,} baud: "
        f"{pr['inferences_per_s']:,.1f} inferences/s ({pr['bound']}-bound; compute alone "
        f"{pr['inferences_per_s_compute_only']:,.0f}/s, UART {pr['link_s'] / r['inputs'] * 1e3:.2f} ms per inference)",
        f"wall time ({r['transport']}): import {r['wall_s']['import']} s, hls4ml predict {r['wall_s']['hls4ml_predict']} s, "
        f"accelerator {r['wall_s']['device']} s"])
