"""``hwgen bench tpe``: tensor-processing-engine families, baseline vs bit-weight-optimized
PE arithmetic, side by side with open tools (HPCA 2025, "Exploring the Performance
Improvement of Tensor Processing Engines through Transformation in the Bit-weight
Dimension of MACs").

For each engine: yosys generic cells, a CMOS transistor estimate and logic depth; ECP5
out-of-context LUT4/carry/FF and nextpnr Fmax (multipliers in LUTs so both designs are
measured in one unit); cycles per GEMM from simulation (bit-exact checked); and area
efficiency = (MACs/cycle × Fmax) ÷ area, reported as optimized ÷ baseline next to the
paper's ratio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import ArrayConfig, HwgenConfig, PEConfig
from .fpga.ooc import ecp5_ooc, generic_stats
from .generate import generate
from .sim.runner import sim

__all__ = ["FAMILIES", "PAPER_AREA_EFFICIENCY", "Engine", "engines", "measure", "compare"]

#: Area-efficiency gain of the optimized engine over its baseline, as reported by the paper.
PAPER_AREA_EFFICIENCY = {"systolic_os": 1.27, "systolic_ws": 1.27, "systolic_is": 1.27, "cube": 1.28, "adder_tree": 1.56,
                         "matrix2d": 1.44}
#: Families implemented so far, with the paper's sizes and (baseline, optimized) arithmetic.
FAMILIES = {
    "systolic_os": {"dataflow": "output_stationary", "sizes": (16,), "arith": ("mac", "carry_save")},
    "systolic_ws": {"dataflow": "weight_stationary", "sizes": (16,), "arith": ("mac", "carry_save")},
    "systolic_is": {"dataflow": "input_stationary", "sizes": (16,), "arith": ("mac", "carry_save")},
}
#: Transistors per flip-flop bit added to yosys' estimate, which counts no flip-flops:
#: a static CMOS D flip-flop with enable and synchronous reset (~24 transistors).
FF_TRANSISTORS = 24


@dataclass(frozen=True)
class Engine:
    family: str
    size: int
    arith: str
    config: HwgenConfig


def engines(family: str, size: int) -> list[Engine]:
    """Baseline and optimized engine of a family at one size (int8 × int8 → 32-bit wrap)."""
    spec = FAMILIES[family]
    out = []
    for arith in spec["arith"]:
        pe = PEConfig(acc=32, overflow="wrap", arith=arith)
        arr = ArrayConfig(rows=size, cols=size, dataflow=spec["dataflow"], pe=pe)
        out.append(Engine(family, size, arith, HwgenConfig(name=f"tpe_{family}_{size}_{arith}", array=arr)))
    return out


def measure(engine: Engine, workdir: Path, *, ecp5: bool = True, gemm=(64, 64, 64), seed: int = 1,
            log=print) -> dict:
    """All numbers for one engine; tool logs stay under ``workdir``."""
    cfg = engine.config
    work = workdir / cfg.name
    gen = generate(cfg, work / "rtl", force=True)
    log(f"  {cfg.name}: yosys generic synthesis")
    row = {"family": engine.family, "size": engine.size, "arith": engine.arith}
    row.update(generic_stats(gen.verilog, cfg.name, work / "generic"))
    if ecp5:
        log(f"  {cfg.name}: ECP5-85F out-of-context synthesis + nextpnr")
        row["ecp5"] = ecp5_ooc(gen.verilog, cfg.name, work / "ecp5", dsp=False)
    m, k, n = gemm
    log(f"  {cfg.name}: simulating {m}x{k}x{n}")
    res = sim(cfg, seed=seed, gemms=[dict(m=m, k=k, n=n)], work_dir=work / "sim")
    g = res.gemms[0]
    row.update(gemm=f"{m}x{k}x{n}", cycles=g["cycles"], macs_per_cycle=round(m * k * n / g["cycles"], 2),
               bit_exact=g["ok"])
    row["area_transistors"] = row["cmos_transistors_comb"] + FF_TRANSISTORS * row["ff_bits"]
    return row


def _efficiency(row: dict, area_key: str, fmax: float | None) -> float | None:
    area = row["ecp5"]["lut4_equiv"] + row["ecp5"]["ff"] if area_key == "ecp5" else row["area_transistors"]
    if not area:
        return None
    # generic: no clock from yosys, so logic depth stands in for the cycle time
    speed = fmax if fmax is not None else 1.0 / max(row["logic_depth"] or 1, 1)
    return row["macs_per_cycle"] * speed / area


def compare(family: str, size: int, workdir: Path, *, ecp5: bool = True, log=print) -> dict:
    """Baseline vs optimized for one family and size, with ratios (optimized ÷ baseline)."""
    rows = [measure(e, workdir, ecp5=ecp5, log=log) for e in engines(family, size)]
    base, opt = rows
    out = {"family": family, "size": size, "baseline": base, "optimized": opt,
           "paper_area_efficiency": PAPER_AREA_EFFICIENCY.get(family)}
    ratios = {
        "transistors": opt["area_transistors"] / base["area_transistors"],
        "logic_depth": (opt["logic_depth"] or 0) / (base["logic_depth"] or 1),
        "area_efficiency_generic": _efficiency(opt, "generic", None) / _efficiency(base, "generic", None),
    }
    if ecp5:
        ratios["lut4_equiv"] = opt["ecp5"]["lut4_equiv"] / max(base["ecp5"]["lut4_equiv"], 1)
        ratios["fmax"] = opt["ecp5"]["fmax_mhz"] / max(base["ecp5"]["fmax_mhz"], 1e-9)
        ratios["area_efficiency_ecp5"] = (_efficiency(opt, "ecp5", opt["ecp5"]["fmax_mhz"]) /
                                          _efficiency(base, "ecp5", base["ecp5"]["fmax_mhz"]))
    out["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    return out
