#!/usr/bin/env python3
"""yosys' default ECP5 LUT mapping (ABC9 at the least delay) against ABC9 mapping for area, engine
by engine (issue 22; docs/sweep.md, "What the LUT4 count measures").

``synth_ecp5`` runs ``abc9 -W 300``: it maps every path for the least delay, then recovers area
only where a path has slack against the design's longest. The ``abc9_area`` flow
(:data:`hwgen.fpga.ooc.FLOWS`) gives ABC9 a delay target no path reaches, so it maps for area.
This script reads the sweeps that ran the same engines in both flows and compares them:

* one engine per family and arithmetic (``bench/sweeps/area_flow.yaml``'s family parts) against
  its least-delay synthesis in the dataset (``bench/results/dse_*``): LUT4-equivalents in each
  flow, their ratio, flip-flops (which must agree);
* the three PE types of ``bench/sweeps/shape_grid.yaml`` at every shape 1x1..6x6: LUT4s per PE
  by rows in each flow, and the shape roughness (:func:`hwgen.dse.accuracy.shape_roughness`:
  each shape predicted from its type's law and its neighbouring shapes) in each;
* the six engines placed by ``area_flow_place.yaml`` and ``area_flow_place_abc9.yaml`` with three
  nextpnr seeds each: Fmax per seed in each flow (what mapping for area costs in speed);
* every engine synthesized in both flows (``bench/sweeps/dataset_area.yaml`` resynthesizes the
  dataset's, as far as it has run): the ratio per family and arithmetic, and the surrogate's
  held-out accuracy on those engines in each flow (a few minutes on 2 cores).

    python bench/area_flow.py        # writes bench/results/area_flow.json and prints the tables

Synthesis is deterministic (the same engine gives the same counts on every run), so nothing is
rerun here: run the sweeps first (their headers say how).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwgen.config import loads                              # noqa: E402
from hwgen.dse import accuracy as A                          # noqa: E402
from hwgen.dse import surrogate as S                         # noqa: E402
from hwgen.dse.report import load_records                    # noqa: E402
from hwgen.fpga.ooc import DEFAULT_FLOW                      # noqa: E402
from hwgen.report import table                               # noqa: E402

RESULTS = ROOT / "bench" / "results"
LUT4, FF, FMAX = S.TARGETS["lut4_equiv"], S.TARGETS["ff"], S.TARGETS["fmax_mhz"]


def _by_engine(records: list[dict], flow: str) -> dict[str, tuple[dict, dict, str]]:
    """Engine digest -> (features, metrics, sweep part) of one flow's synthesized records."""
    parts = {}
    for r in records:
        if r.get("part") and r.get("config_yaml"):
            f = S.features(loads(r["config_yaml"], source=r["key"]), dsp=bool(S._ecp5_setting(r, "dsp", True)))
            parts[S._digest(f)] = r["part"]
    return {S._digest(f): (f, m, parts.get(S._digest(f), "")) for f, m in S.samples(records, flow=flow)}


def families(area: dict, delay: dict) -> tuple[list[dict], str]:
    rows = []
    for k, (f, m, part) in sorted(area.items(), key=lambda kv: kv[1][2]):
        if not part or part.startswith(("os_mac", "os_carry_save", "ws_mac")) or k not in delay:
            continue
        d = delay[k][1]
        rows.append({"engine": part, "shape": f"{f['rows']}x{f['cols']}" + (f"x{f['depth']}" if f["depth"] > 1 else ""),
                     "lut4_delay": d[LUT4], "lut4_area": m[LUT4], "ratio": round(m[LUT4] / d[LUT4], 3),
                     "ff_delay": d[FF], "ff_area": m[FF]})
    text = table(["engine", "shape", "LUT4-eq least delay", "LUT4-eq for area", "area / delay", "FF same"],
                 [[r["engine"], r["shape"], r["lut4_delay"], r["lut4_area"], f"{r['ratio']:.2f}",
                   "yes" if r["ff_delay"] == r["ff_area"] else f"{r['ff_delay']} vs {r['ff_area']}"] for r in rows])
    return rows, text


def grid(area: dict, delay: dict) -> tuple[dict, str]:
    """LUT4s per PE by rows (mean over the columns) and the shape roughness, per grid type."""
    both = [k for k in area if k in delay]
    rough = {flow: A.shape_roughness([src[k][:2] for k in both]) for flow, src in (("delay", delay), ("area", area))}
    types: dict[str, dict] = {}
    for k in both:
        f = area[k][0]
        t = types.setdefault(A._pe_label(f), {})
        for flow, src in (("delay", delay), ("area", area)):
            t.setdefault(flow, {}).setdefault(f["rows"], []).append(src[k][1][LUT4] / f["pes"])
    out, lines = {}, []
    for label, t in sorted(types.items()):
        if len(t["area"]) < 6:
            continue
        per_row = {flow: {r: round(statistics.mean(v), 1) for r, v in sorted(t[flow].items())} for flow in t}
        out[label] = {"lut4_per_pe_by_rows": per_row,
                      "roughness": {flow: rough[flow]["lut4_equiv"]["by_type"].get(label, {}).get("smape")
                                    for flow in rough if rough[flow]}}
        rs = sorted(per_row["area"])
        lines.append(f"{label}: LUT4-equivalents per PE by rows {rs[0]}..{rs[-1]} (mean over the columns)")
        lines.append(table(["flow", *[str(r) for r in rs], "shape roughness"],
                           [[flow, *[per_row[flow][r] for r in rs], out[label]["roughness"].get(flow)]
                            for flow in ("delay", "area")]))
    return out, "\n\n".join(lines)


def by_family(area: dict, delay: dict) -> tuple[dict, str]:
    """Every engine synthesized in both flows: LUT4 area / least delay per family and arithmetic."""
    groups: dict[str, list[float]] = {}
    for k, (f, m, _) in area.items():
        if k in delay:
            g = f"{S._group(f)}:{S._choice(f, 'arith', S.ARITHS)}"
            groups.setdefault(g, []).append(m[LUT4] / delay[k][1][LUT4])
    out = {g: {"n": len(v), "median": round(statistics.median(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}
           for g, v in sorted(groups.items())}
    every = [x for v in groups.values() for x in v]
    text = table(["family:dataflow:flow:arithmetic", "engines", "median area / delay", "min", "max"],
                 [[g, q["n"], f"{q['median']:.2f}", f"{q['min']:.2f}", f"{q['max']:.2f}"] for g, q in out.items()]
                 + ([["all", len(every), f"{statistics.median(every):.2f}", f"{min(every):.2f}", f"{max(every):.2f}"]]
                    if every else []))
    return out, text


def held_out(area: dict, delay: dict) -> tuple[dict, str]:
    """The surrogate's held-out accuracy (:func:`hwgen.dse.accuracy.evaluate`: random split,
    small -> large, 5-fold CV) on the engines synthesized in both flows, fitted and tested on each
    flow's counts apart: how much of the LUT4 error is the least-delay mapping's roughness."""
    both = sorted(k for k in area if k in delay)
    out, rows = {"engines": len(both)}, []
    for flow, src in (("least delay (abc9)", delay), ("for area (abc9_area)", area)):
        acc = A.evaluate([], data=[src[k][:2] for k in both])
        out[flow] = {split: {t: res[t] for t in ("lut4_equiv", "ff") if t in res} for split, res in acc.items()}
        for split, res in out[flow].items():
            for t, q in res.items():
                by = ", ".join(f"{a} {v['smape']:.1%}" for a, v in q["by_arith"].items())
                rows.append([flow, split, t, q["n"], f"{q['r2']:.4f}", f"{q['smape']:.2%}", f"{q['median_abs_err']:.2%}", by])
    text = table(["LUT mapping", "split", "target", "test points", "R²", "sMAPE", "median |err|", "sMAPE by arithmetic"],
                 rows, align="lllrrrrl")
    return out, text


def placed(area_recs: list[dict], delay_recs: list[dict]) -> tuple[list[dict], str]:
    def seeds(recs, flow):
        return {r.get("part"): (r["metrics"], r) for r in recs if r.get("status") == "ok"
                and S._ecp5_setting(r, "flow", DEFAULT_FLOW) == flow and r["metrics"].get("ecp5_fmax_by_seed")}
    a, d = seeds(area_recs, "abc9_area"), seeds(delay_recs, DEFAULT_FLOW)
    rows = []
    for part in sorted(set(a) & set(d)):
        ma, md = a[part][0], d[part][0]
        fa, fd = sorted(ma["ecp5_fmax_by_seed"].values()), sorted(md["ecp5_fmax_by_seed"].values())
        rows.append({"engine": part, "lut4_delay": md[LUT4], "lut4_area": ma[LUT4],
                     "fmax_delay": fd, "fmax_area": fa,
                     "fmax_ratio": round(statistics.median(fa) / statistics.median(fd), 3)})
        # MACs/s per LUT4-equivalent (the report's area efficiency), mapped for area over least delay
        rows[-1]["efficiency_ratio"] = round(rows[-1]["fmax_ratio"] * md[LUT4] / ma[LUT4], 3)
    text = table(["engine", "LUT4-eq delay", "LUT4-eq area", "Fmax MHz least delay (seeds)", "Fmax MHz for area (seeds)",
                  "median Fmax area / delay", "MACs/s per LUT4 area / delay"],
                 [[r["engine"], r["lut4_delay"], r["lut4_area"], " ".join(f"{x:.1f}" for x in r["fmax_delay"]),
                   " ".join(f"{x:.1f}" for x in r["fmax_area"]), f"{r['fmax_ratio']:.3f}",
                   f"{r['efficiency_ratio']:.2f}"] for r in rows])
    return rows, text


def main() -> int:
    area_recs = load_records([RESULTS / "area_flow", RESULTS / "area_flow_place", RESULTS / "dataset_area"])
    delay_dirs = sorted(RESULTS.glob("dse_*")) + [RESULTS / "area_flow_place_abc9"]
    delay_recs = load_records(delay_dirs)
    area, delay = _by_engine(area_recs, "abc9_area"), _by_engine(delay_recs, DEFAULT_FLOW)
    fam, fam_text = families(area, delay)
    grd, grid_text = grid(area, delay)
    fams, fams_text = by_family(area, delay)
    acc, acc_text = held_out(area, delay)
    plc, plc_text = placed(load_records(RESULTS / "area_flow_place"), load_records(RESULTS / "area_flow_place_abc9"))
    text = "\n\n".join(["One engine per family and arithmetic (LUT flow, synth_ecp5 -nodsp):", fam_text,
                        "The shape grid (bench/sweeps/shape_grid.yaml):", grid_text,
                        "Placed (nextpnr-ecp5 --85k out of context, three seeds):", plc_text,
                        "Every engine synthesized in both flows (area_flow, dataset_area), LUT4-equivalents:",
                        fams_text,
                        f"The surrogate on the {acc['engines']} engines synthesized in both flows, held out, each flow's "
                        "counts fitted and tested apart:", acc_text])
    print(text)
    (RESULTS / "area_flow.json").write_text(json.dumps(
        {"families": fam, "shape_grid": grd, "placed": plc, "by_family": fams, "held_out": acc, "table": text}, indent=1) + "\n")
    print(f"\nwrote {RESULTS / 'area_flow.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
