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

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import ArrayConfig, HwgenConfig, PEConfig
from .fpga.ooc import ecp5_ooc, generic_stats
from .generate import generate
from .report import table
from .sim.runner import sim

__all__ = ["FAMILIES", "PAPER_AREA_EFFICIENCY", "Engine", "engines", "measure", "compare", "bench_tpe"]

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


def bench_tpe(families: list[str], sizes: list[int] | None, workdir: Path, output: Path, *,
              ecp5: bool = True, log=print) -> tuple[list[dict], str]:
    """Run :func:`compare` for each family (at ``sizes`` or the paper's), print progress,
    write ``output`` (JSON with the results and the table); returns (results, table text)."""
    results, rows = [], []
    for fam in families:
        for size in (sizes or FAMILIES[fam]["sizes"]):
            log(f"[{fam} {size}x{size}] baseline vs optimized ...")
            r = compare(fam, size, workdir, ecp5=ecp5, log=log)
            results.append(r)
            rows += _table_rows(r)
    text = table(["family", "size", "arith", "cells", "FF", "transistors", "depth", "LUT4", "CCU2C", "ECP5 FF",
                  "Fmax MHz", "cycles", "exact"], rows, align="lllrrrrrrrrrl")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "benchmark": "tpe", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": {"transistors": f"yosys stat -tech cmos (combinational) + {FF_TRANSISTORS} per FF bit",
                  "ecp5": "synth_ecp5 -nodsp, nextpnr-ecp5 --85k --out-of-context",
                  "area_efficiency": "MACs/cycle x speed / area; generic speed = 1/logic depth, "
                                     "ECP5 speed = Fmax, ECP5 area = LUT4 + 2*CCU2C + FF"},
        "results": results, "table": text}, indent=1) + "\n")
    return results, text


def _table_rows(r: dict) -> list[list]:
    """Baseline, optimized, ratio and area-efficiency rows of one comparison."""
    fam, size = r["family"], f"{r['size']}x{r['size']}"
    rows = []
    for side in ("baseline", "optimized"):
        e = r[side]
        x = e.get("ecp5", {})
        rows.append([fam, size, e["arith"], e["logic_cells"], e["ff_bits"], e["area_transistors"], e["logic_depth"],
                     x.get("lut4", "-"), x.get("carry_ccu2c", "-"), x.get("ff", "-"), x.get("fmax_mhz", "-"),
                     e["cycles"], "yes" if e["bit_exact"] else "NO"])
    q = r["ratios"]

    def fmt(key):
        return f"{q[key]:.3f}" if key in q else "-"
    rows.append([fam, size, "ratio opt/base", "", "", fmt("transistors"), fmt("logic_depth"), fmt("lut4_equiv"),
                 "", "", fmt("fmax"), "", ""])
    rows.append([fam, size, "area eff. opt/base", "", "", fmt("area_efficiency_generic"), "",
                 fmt("area_efficiency_ecp5"), "", "", f"paper {r['paper_area_efficiency']}", "", ""])
    return rows
