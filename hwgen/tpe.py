"""``hwgen bench tpe``: tensor-processing-engine families, baseline vs bit-weight-optimized
PE arithmetic, side by side with open tools (HPCA 2025, "Exploring the Performance
Improvement of Tensor Processing Engines through Transformation in the Bit-weight
Dimension of MACs").

For each engine: yosys generic cells, a CMOS transistor estimate and logic depth; ECP5
out-of-context LUT4/carry/FF and nextpnr Fmax (multipliers in LUTs so both designs are
measured in one unit); cycles per GEMM from simulation (bit-exact checked); and area
efficiency = (MACs/cycle × Fmax) ÷ area, reported as optimized ÷ baseline next to the
paper's ratio. The engines are measured as points of a design-space sweep (:mod:`hwgen.dse`):
in parallel on Dask, each in its own process with a timeout, resumed from its records.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .config import ArrayConfig, HwgenConfig, PEConfig
from .dse.spec import Part, Sweep, _step
from .dse.sweep import run_sweep
from .fpga.ooc import DEFAULT_FLOW, YosysAssertion
from .report import table
from .tools import ToolError

__all__ = ["FAMILIES", "PAPER_AREA_EFFICIENCY", "Engine", "engines", "measure_engines", "compare", "bench_tpe",
           "summarize"]

#: Area-efficiency gain of the optimized engine over its baseline, as reported by the paper.
PAPER_AREA_EFFICIENCY = {"systolic_os": 1.27, "systolic_ws": 1.27, "systolic_is": 1.27, "cube": 1.28, "adder_tree": 1.56,
                         "matrix2d": 1.44}
#: Each family: the paper's sizes, the arithmetic variants (baseline first), how a size
#: becomes an engine, and the GEMM whose simulated cycles are reported.
FAMILIES = {
    "systolic_os": {"sizes": (16,), "arith": ("mac", "carry_save"),
                    "shape": lambda n: dict(kind="systolic", rows=n, cols=n, dataflow="output_stationary")},
    "systolic_ws": {"sizes": (16,), "arith": ("mac", "carry_save"),
                    "shape": lambda n: dict(kind="systolic", rows=n, cols=n, dataflow="weight_stationary")},
    "systolic_is": {"sizes": (16,), "arith": ("mac", "carry_save"),
                    "shape": lambda n: dict(kind="systolic", rows=n, cols=n, dataflow="input_stationary")},
    "cube": {"sizes": (8, 4), "arith": ("mac", "carry_save", "compressor_tree"),
             "shape": lambda n: dict(kind="cube", rows=n, cols=n, depth=n), "label": "{n}x{n}x{n}"},
    "matrix2d": {"sizes": (8,), "arith": ("mac", "carry_save", "compressor_tree"),
                 "shape": lambda n: dict(kind="matrix2d", rows=n, cols=n, depth=4), "label": "{n}x{n}, depth 4"},
    "adder_tree": {"sizes": (4, 8, 16, 32), "arith": ("mac", "compressor_tree"),
                   "shape": lambda n: dict(kind="adder_tree", rows=16, cols=n, dataflow="weight_stationary"),
                   "label": "K=16, N={n}"},
    "sparse_serial": {"sizes": (16, 32), "arith": ("mac", "sparse_serial"),
                      "shape": lambda n: dict(kind="bit_serial", rows=n, cols=1), "label": "column N={n}",
                      # normally distributed int8 weights (σ = 25: a 3σ-ish int8 quantization)
                      "gemm": lambda n: dict(m=n, k=512, n=1, w_sigma=25.0)},
}
#: The paper's average cycles per operand for sparse-serial PEs on normally distributed int8.
PAPER_SPARSE_CYCLES_PER_OPERAND = 2.05
#: Transistors per flip-flop bit added to yosys' estimate, which counts no flip-flops:
#: a static CMOS D flip-flop with enable and synchronous reset (~24 transistors).
FF_TRANSISTORS = 24


@dataclass(frozen=True)
class Engine:
    family: str
    size: int
    arith: str
    config: HwgenConfig

    @property
    def label(self) -> str:
        return FAMILIES[self.family].get("label", "{n}x{n}").format(n=self.size)


def engines(family: str, size: int) -> list[Engine]:
    """The engines of a family at one size (int8 × int8 → 32-bit wrap), baseline first."""
    spec = FAMILIES[family]
    out = []
    for arith in spec["arith"]:
        pe = PEConfig(acc=32, overflow="wrap", arith=arith)
        arr = ArrayConfig(pe=pe, **spec["shape"](size))
        out.append(Engine(family, size, arith, HwgenConfig(name=f"tpe_{family}_{size}_{arith}", array=arr)))
    return out


def default_gemm(engine: Engine) -> dict:
    """The GEMM an engine's cycles are measured on: 64³ unless the family says otherwise."""
    make = FAMILIES[engine.family].get("gemm")
    return make(engine.size) if make else dict(m=64, k=64, n=64)


def _sweep(engs: list[Engine], ecp5: bool, flow: str) -> Sweep:
    """The engines as one sweep (a part each, with its GEMM): generic synthesis, ECP5 out of
    context with multipliers in LUTs (so both designs are measured in one unit), simulation."""
    from .config import dumps
    steps = ["generate", "generic"]
    if ecp5:
        steps.append(_step(Path("tpe"), {"ecp5": {"dsp": False, "flow": flow}}))
    steps.append("cycles")
    parts = [Part(e.config.name, yaml.safe_load(dumps(e.config)), gemm=default_gemm(e)) for e in engs]
    return Sweep(f"tpe_{engs[0].family}_{engs[0].size}", Path("tpe"), parts, steps, timeout_s=4 * 3600)


def measure_engines(engs: list[Engine], workdir: Path, *, ecp5: bool = True, flow: str = DEFAULT_FLOW, log=print,
                    workers: int = 2, scheduler: str | None = None) -> list[dict]:
    """All numbers for each engine, measured as points of one sweep on Dask (:mod:`hwgen.dse`):
    each in its own process, kept in ``workdir/<sweep>/points`` under its config, tools and
    settings, so an interrupted paper-size run resumes where it stopped and a changed engine is
    measured again. Raises :class:`YosysAssertion` when this yosys's ABC9 asserts on one."""
    sw = _sweep(engs, ecp5, flow)
    res = run_sweep(sw, workdir / sw.name, workers=workers, scheduler=scheduler, log=lambda _: None)
    rows = []
    for e, rec in zip(engs, res["records"]):
        if rec["key"] in res["cached"]:
            log(f"  {e.config.name}: measured before, same config, tools and settings ({rec['log']})")
        if rec["status"] != "ok":
            if "internal yosys assertion" in (rec["error"] or "") or "ERROR: Assert" in _tail(rec["log"]):
                raise YosysAssertion(f"{e.config.name}: yosys asserted in synth_ecp5; log: {rec['log']}")
            raise ToolError(f"{e.config.name}: {rec['status']}: {rec['error']}; log: {rec['log']}")
        m = rec["metrics"]
        row = {"family": e.family, "size": e.size, "arith": e.arith}
        row.update({k: v for k, v in m.items() if not k.startswith(("ecp5_", "seconds_", "verilog_", "sim_"))
                    and k not in ("cycles", "bit_exact", "gemm")})
        if ecp5:
            x = {k[5:]: v for k, v in m.items() if k.startswith("ecp5_")}
            if x.get("fits") is False:
                log(f"  {x.get('note')}")
                x.update(fmax_mhz=None, flow=flow)
            row["ecp5"] = x
        g = default_gemm(e)
        mkn = g["m"] * g["k"] * g["n"]
        row.update(gemm=m["gemm"], cycles=m["cycles"], macs_per_cycle=round(mkn / m["cycles"], 3), bit_exact=m["bit_exact"])
        cfg = e.config
        if cfg.array.kind == "bit_serial":  # cycles a weight operand occupies its column (pipeline fill excluded)
            tiles = -(-g["n"] // cfg.array.cols) * -(-g["m"] // cfg.array.rows)
            row["cycles_per_operand"] = round((m["cycles"] - cfg.array.rows - 2) / (g["k"] * tiles), 3)
        row["area_transistors"] = row["cmos_transistors_comb"] + FF_TRANSISTORS * row["ff_bits"]
        rows.append(row)
    return rows


def _tail(log: str) -> str:
    try:
        return Path(log).read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def _efficiency(row: dict, area_key: str, fmax: float | None) -> float | None:
    area = row["ecp5"]["lut4_equiv"] + row["ecp5"]["ff"] if area_key == "ecp5" else row["area_transistors"]
    if not area:
        return None
    # generic: no clock from yosys, so logic depth stands in for the cycle time
    speed = fmax if fmax is not None else 1.0 / max(row["logic_depth"] or 1, 1)
    return row["macs_per_cycle"] * speed / area


def compare(family: str, size: int, workdir: Path, *, ecp5: bool = True, log=print, **dask) -> dict:
    """Baseline vs each optimized variant of one family at one size, with ratios
    (optimized ÷ baseline) per variant."""
    try:
        base, *opts = measure_engines(engines(family, size), workdir, ecp5=ecp5, log=log, **dask)
    except YosysAssertion as e:  # every engine of a comparison goes through the same flow
        log(f"  {e}\n  measuring the whole family with classic ABC LUT mapping instead")
        base, *opts = measure_engines(engines(family, size), workdir, ecp5=ecp5, log=log, flow="abc", **dask)
    out = {"family": family, "size": size, "label": engines(family, size)[0].label, "baseline": base,
           "optimized": opts, "paper_area_efficiency": PAPER_AREA_EFFICIENCY.get(family), "ratios": {}}
    for opt in opts:
        ratios = {
            "transistors": opt["area_transistors"] / base["area_transistors"],
            "logic_depth": (opt["logic_depth"] or 0) / (base["logic_depth"] or 1),
            "cycles": opt["cycles"] / base["cycles"],
            "area_efficiency_generic": _efficiency(opt, "generic", None) / _efficiency(base, "generic", None),
        }
        if ecp5:
            lut = lambda e: e["ecp5"]["lut4"] + 2 * e["ecp5"]["carry_ccu2c"]  # noqa: E731
            ratios["lut4_equiv"] = lut(opt) / max(lut(base), 1)
            if opt["ecp5"]["fmax_mhz"] and base["ecp5"]["fmax_mhz"]:  # both placed
                ratios["fmax"] = opt["ecp5"]["fmax_mhz"] / base["ecp5"]["fmax_mhz"]
                ratios["area_efficiency_ecp5"] = (_efficiency(opt, "ecp5", opt["ecp5"]["fmax_mhz"]) /
                                                  _efficiency(base, "ecp5", base["ecp5"]["fmax_mhz"]))
        out["ratios"][opt["arith"]] = {k: round(v, 3) for k, v in ratios.items()}
    return out


def bench_tpe(families: list[str], sizes: list[int] | None, workdir: Path, output: Path, *,
              ecp5: bool = True, log=print, workers: int = 2, scheduler: str | None = None) -> tuple[list[dict], str]:
    """Run :func:`compare` for each family (at ``sizes`` or the paper's), print progress,
    write ``output`` (JSON with the results and the table); returns (results, table text)."""
    results, rows = [], []
    for fam in families:
        for size in (sizes or FAMILIES[fam]["sizes"]):
            log(f"[{fam} {size}] baseline vs optimized ...")
            r = compare(fam, size, workdir, ecp5=ecp5, log=log, workers=workers, scheduler=scheduler)
            results.append(r)
            rows += _table_rows(r)
    text = table(["family", "size", "arith", "cells", "FF", "transistors", "depth", "LUT4", "CCU2C", "ECP5 FF",
                  "Fmax MHz", "cycles", "MAC/cyc", "exact"], rows, align="lllrrrrrrrrrrl")
    if any(e.get("ecp5", {}).get("flow") == "abc" for r in results for e in [r["baseline"], *r["optimized"]]):
        text += "\n* LUTs mapped with classic ABC for the whole family (this yosys's ABC9 pass fails an assertion on it)"
    for r in results:
        for e in [r["baseline"], *r["optimized"]]:
            if "cycles_per_operand" in e:
                text += (f"\n{r['family']} {r['label']} {e['arith']}: {e['cycles_per_operand']} cycles per weight "
                         f"operand (normal int8, σ = 25; paper: {PAPER_SPARSE_CYCLES_PER_OPERAND} for sparse_serial)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "benchmark": "tpe", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": {"transistors": f"yosys stat -tech cmos (combinational) + {FF_TRANSISTORS} per FF bit",
                  "ecp5": "synth_ecp5 -nodsp, nextpnr-ecp5 --85k --out-of-context",
                  "area_efficiency": "MACs/cycle x speed / area; generic speed = 1/logic depth, "
                                     "ECP5 speed = Fmax, ECP5 area = LUT4 + 2*CCU2C + FF",
                  "sparse_serial": f"cycles per operand on normal int8 weights; paper: {PAPER_SPARSE_CYCLES_PER_OPERAND}"},
        "results": results, "table": text}, indent=1) + "\n")
    return results, text


def _table_rows(r: dict) -> list[list]:
    """One row per engine, then ratio and area-efficiency rows per optimized variant."""
    fam, size = r["family"], r["label"]
    rows = []
    for e in [r["baseline"], *r["optimized"]]:
        x = e.get("ecp5", {})
        rows.append([fam, size, e["arith"], e["logic_cells"], e["ff_bits"], e["area_transistors"], e["logic_depth"],
                     x.get("lut4", "-"), x.get("carry_ccu2c", "-"), x.get("ff", "-"),
                     ("does not fit" if x.get("fits") is False else
                      f"{x['fmax_mhz']}{'*' if x.get('flow') == 'abc' else ''}") if x else "-",
                     e["cycles"], f"{e['macs_per_cycle']:.2f}", "yes" if e["bit_exact"] else "NO"])
    for arith, q in r["ratios"].items():
        def fmt(key):
            return f"{q[key]:.3f}" if key in q else "-"
        rows.append([fam, size, f"{arith}/mac", "", "", fmt("transistors"), fmt("logic_depth"), fmt("lut4_equiv"),
                     "", "", fmt("fmax"), fmt("cycles"), "", ""])
        paper = r["paper_area_efficiency"]
        rows.append([fam, size, f"area eff. {arith}/mac", "", "", fmt("area_efficiency_generic"), "",
                     fmt("area_efficiency_ecp5"), "", "", f"paper {paper}" if paper else "-", "", "", ""])
    return rows


def _current_form(r: dict) -> dict:
    """A comparison as this version writes it (the first results files had one optimized
    variant, flat ratios and no label)."""
    if isinstance(r["optimized"], dict):
        opt = r["optimized"]
        r = {**r, "optimized": [opt], "ratios": {opt["arith"]: r["ratios"]}}
    r.setdefault("label", FAMILIES[r["family"]].get("label", "{n}x{n}").format(n=r["size"]))
    return r


def summarize(results_dir: Path, output: Path | None = None) -> tuple[list[dict], str]:
    """One row per (family, size, optimized variant) from every ``tpe*.json`` results file
    in ``results_dir`` (the newest result of each comparison wins): our area-efficiency
    ratios (generic and ECP5) beside the paper's, and whether the ECP5 numbers exist.
    Written to ``output`` when given."""
    found: dict[tuple, tuple[tuple, str, dict]] = {}
    for path in sorted(results_dir.glob("tpe*.json")):
        doc = json.loads(path.read_text())
        if doc.get("benchmark") != "tpe":  # e.g. the summary itself
            continue
        for r in map(_current_form, doc["results"]):
            key = (r["family"], r["size"])
            rank = ("ecp5" in r["baseline"], doc["date"])  # a run with ECP5 numbers beats one without
            if key not in found or rank > found[key][0]:
                found[key] = (rank, path.name, r)
    rows, lines = [], []
    for (fam, size), (_, name, r) in sorted(found.items()):
        base = r["baseline"]
        for opt in r["optimized"]:
            q = r["ratios"][opt["arith"]]
            fits = {e["arith"]: e.get("ecp5", {}).get("fits", True) for e in [base, opt]}
            row = {"family": fam, "size": size, "label": r["label"], "arith": opt["arith"], "file": name,
                   "paper": r["paper_area_efficiency"], "generic": q["area_efficiency_generic"],
                   "ecp5": q.get("area_efficiency_ecp5"), "transistors": q["transistors"],
                   "lut4_equiv": q.get("lut4_equiv"), "cycles": q.get("cycles", opt["cycles"] / base["cycles"]),
                   "bit_exact": base["bit_exact"] and opt["bit_exact"],
                   "ecp5_fits": {k: bool(v) for k, v in fits.items()}}
            rows.append(row)
            if row["ecp5"] is not None:
                ecp5 = f"{row['ecp5']:.2f}"
            else:
                ecp5 = "no fit: " + ", ".join(k for k, v in fits.items() if not v) if not all(fits.values()) else "-"
            lines.append([fam, r["label"], f"{opt['arith']}/mac", f"{row['paper']:.2f}" if row["paper"] else "-",
                          f"{row['generic']:.2f}", ecp5, f"{row['transistors']:.2f}",
                          f"{row['lut4_equiv']:.2f}" if row["lut4_equiv"] else "-", f"{row['cycles']:.2f}",
                          "yes" if row["bit_exact"] else "NO", name])
    text = table(["family", "size", "variant", "paper", "ours generic", "ours ECP5", "transistors", "LUT4",
                  "cycles", "exact", "results"], lines, align="lllrrrrrrll")
    if output is not None:
        output.write_text(json.dumps({"benchmark": "tpe_summary",
                                      "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                      "notes": {"columns": "area efficiency optimized / baseline (paper, ours "
                                                           "generic, ours ECP5); transistors, LUT4 and cycles: "
                                                           "optimized / baseline"},
                                      "rows": rows, "table": text}, indent=1) + "\n")
    return rows, text
