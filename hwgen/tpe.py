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

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import ArrayConfig, HwgenConfig, PEConfig
from .fpga.ooc import DoesNotFit, YosysAssertion, ecp5_ooc, generic_stats
from .generate import generate
from .report import table
from .sim.runner import sim

__all__ = ["FAMILIES", "PAPER_AREA_EFFICIENCY", "Engine", "engines", "measure", "compare", "bench_tpe", "summarize",
           "row_key", "kept_row", "keep_row"]

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


def measure(engine: Engine, workdir: Path, *, ecp5: bool = True, gemm: dict | None = None, seed: int = 1,
            log=print, flow: str = "abc9") -> dict:
    """All numbers for one engine; tool logs stay under ``workdir``.

    The row is kept in ``workdir/<name>/row.json`` under a key made of the generated
    Verilog's content and the measurement's parameters, so an interrupted paper-size run
    resumes where it stopped and a changed engine is measured again."""
    cfg = engine.config
    work = workdir / cfg.name
    gen = generate(cfg, work / "rtl", force=True)
    gemm = gemm or default_gemm(engine)
    key = row_key(gen.verilog.read_text(), ecp5, flow, gemm, seed, FF_TRANSISTORS)
    saved = work / "row.json"
    kept = kept_row(saved, key)
    if kept is not None:
        log(f"  {cfg.name}: measured before, same RTL and settings ({saved})")
        return kept
    log(f"  {cfg.name}: yosys generic synthesis")
    row = {"family": engine.family, "size": engine.size, "arith": engine.arith}
    row.update(generic_stats(gen.verilog, cfg.name, work / "generic"))
    if ecp5:
        log(f"  {cfg.name}: ECP5-85F out-of-context synthesis + nextpnr")
        try:
            row["ecp5"] = ecp5_ooc(gen.verilog, cfg.name, work / f"ecp5_{flow}", dsp=False, flow=flow)
        except DoesNotFit as e:  # a result too: the engine needs a bigger part
            log(f"  {e}")
            row["ecp5"] = {**e.used, "fits": False, "fmax_mhz": None, "flow": flow, "note": str(e)}
    m, k, n = gemm["m"], gemm["k"], gemm["n"]
    log(f"  {cfg.name}: simulating {m}x{k}x{n}")
    res = sim(cfg, seed=seed, gemms=[gemm], work_dir=work / "sim", check=False)
    g = res.gemms[0]
    row.update(gemm=f"{m}x{k}x{n}", cycles=g["cycles"], macs_per_cycle=round(m * k * n / g["cycles"], 3),
               bit_exact=g["ok"])
    if cfg.array.kind == "bit_serial":  # cycles a weight operand occupies its column (pipeline fill excluded)
        tiles = -(-n // cfg.array.cols) * -(-m // cfg.array.rows)
        row["cycles_per_operand"] = round((g["cycles"] - cfg.array.rows - 2) / (k * tiles), 3)
    row["area_transistors"] = row["cmos_transistors_comb"] + FF_TRANSISTORS * row["ff_bits"]
    keep_row(saved, key, row)
    return row


def row_key(*settings) -> str:
    """The key a measured row is kept under: a digest of everything it depends on (the
    generated Verilog's text and the measurement's parameters; JSON-serializable)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def kept_row(saved: Path, key: str) -> dict | None:
    """The row kept in ``saved`` (a ``row.json``) under ``key``; None when there is none,
    it is unreadable (an interrupted write) or it was measured on other RTL or settings."""
    try:
        kept = json.loads(saved.read_text())
    except (OSError, ValueError):
        return None
    return kept["row"] if isinstance(kept, dict) and kept.get("key") == key else None


def keep_row(saved: Path, key: str, row: dict) -> None:
    """Keep ``row`` in ``saved`` under ``key`` (see :func:`kept_row`)."""
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"key": key, "row": row}, indent=1) + "\n")


def _efficiency(row: dict, area_key: str, fmax: float | None) -> float | None:
    area = row["ecp5"]["lut4_equiv"] + row["ecp5"]["ff"] if area_key == "ecp5" else row["area_transistors"]
    if not area:
        return None
    # generic: no clock from yosys, so logic depth stands in for the cycle time
    speed = fmax if fmax is not None else 1.0 / max(row["logic_depth"] or 1, 1)
    return row["macs_per_cycle"] * speed / area


def compare(family: str, size: int, workdir: Path, *, ecp5: bool = True, log=print) -> dict:
    """Baseline vs each optimized variant of one family at one size, with ratios
    (optimized ÷ baseline) per variant."""
    try:
        base, *opts = [measure(e, workdir, ecp5=ecp5, log=log) for e in engines(family, size)]
    except YosysAssertion as e:  # every engine of a comparison goes through the same flow
        log(f"  {e}\n  measuring the whole family with classic ABC LUT mapping instead")
        base, *opts = [measure(e, workdir, ecp5=ecp5, log=log, flow="abc") for e in engines(family, size)]
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
              ecp5: bool = True, log=print) -> tuple[list[dict], str]:
    """Run :func:`compare` for each family (at ``sizes`` or the paper's), print progress,
    write ``output`` (JSON with the results and the table); returns (results, table text)."""
    results, rows = [], []
    for fam in families:
        for size in (sizes or FAMILIES[fam]["sizes"]):
            log(f"[{fam} {size}] baseline vs optimized ...")
            r = compare(fam, size, workdir, ecp5=ecp5, log=log)
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
