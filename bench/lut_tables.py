"""The tables of bench/lut_compare.py: Fmax over seeds, compute density (a DSP counted as
nothing and as the LUTs its multiplier costs), the headline comparison and its verdict
split into clock × area, the LUT engine's sweeps, cycles against weight bits, and what
limits each engine's clock."""
from __future__ import annotations

import statistics

from hwgen.report import table

def fmax(row: dict, seeds: int) -> list[float]:
    """Fmax (MHz) over nextpnr seeds 1..``seeds`` (those measured)."""
    by = row.get("ecp5", {}).get("fmax_by_seed", {})
    return [by[str(s)] for s in range(1, seeds + 1) if str(s) in by]


# -- tables ----------------------------------------------------------------------------------

def _f(x, nd=1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def dsp_lut_equiv(rows: dict[str, dict], entries: list[Entry]) -> dict[int, dict]:
    """Per W: what one MULT18X18D stands for, in LUT4-equivalents: (fabric of the LUT-multiplier
    systolic build − fabric of the DSP build) ÷ DSPs, the same array around the same multiplier."""
    out = {}
    sys_rows = {(e.engine.config.array.pe.w.bits, e.engine.dsp): rows[e.engine.name]
                for e in entries if e.engine.family == "systolic"}
    for (b, dsp), r in sys_rows.items():
        twin = sys_rows.get((b, False))
        if not dsp or twin is None or "ecp5" not in r or "ecp5" not in twin or not r["ecp5"].get("dsp_mult18"):
            continue
        n = r["ecp5"]["dsp_mult18"]
        out[b] = {"w_bits": b, "dsps": n, "lut4_equiv_lut_mult": twin["ecp5"]["lut4_equiv"],
                  "lut4_equiv_dsp_build": r["ecp5"]["lut4_equiv"],
                  "lut4_equiv_per_dsp": round((twin["ecp5"]["lut4_equiv"] - r["ecp5"]["lut4_equiv"]) / n, 1)}
    return out


def density(row: dict, bits: int, seeds: int, per_dsp: float | None) -> dict:
    """MAC/s per LUT4-equivalent (as kMAC/s per LUT4eq = MMAC/s per kLUT4eq) at the median
    Fmax over the seeds, with the spread from the slowest and fastest seed; a DSP counted as
    nothing (``free``) and as ``per_dsp`` LUT4-equivalents (``counted``)."""
    run = row["runs"][str(bits)]
    x = row["ecp5"]
    fs = fmax(row, seeds)
    if not x.get("fits") or not fs:
        return {}
    macs = run["macs_per_cycle"]
    dsps = x.get("dsp_mult18", 0)
    free = x["lut4_equiv"]
    counted = (free + per_dsp * dsps if per_dsp is not None else None) if dsps else free
    med = statistics.median(fs)

    def per_area(f, area):
        return round(macs * f / area * 1000, 1) if area else None

    return {"fmax_median": med, "fmax_min": min(fs), "fmax_max": max(fs), "seeds": len(fs),
            "gmacs": round(macs * med / 1000, 3),
            "density_free": per_area(med, free), "density_free_min": per_area(min(fs), free),
            "density_free_max": per_area(max(fs), free),
            "lut4_equiv_counted": round(counted) if counted is not None else None,
            "density_counted": per_area(med, counted), "density_counted_min": per_area(min(fs), counted),
            "density_counted_max": per_area(max(fs), counted)}


def headline_table(entries, rows, seeds, dsp_eq) -> tuple[str, list[dict]]:
    lines, recs = [], []
    for e in entries:
        r = rows[e.engine.name]
        run = r["runs"][str(e.bits)]
        x = r["ecp5"]
        d = density(r, e.bits, seeds, dsp_eq.get(r["w_bits"], {}).get("lut4_equiv_per_dsp"))
        rec = {"w": e.bits, "engine": r["label"], "name": r["name"], "role": e.role, **run,
               **{k: x.get(k) for k in ("lut4", "carry_ccu2c", "lut4_equiv", "ff", "dsp_mult18", "bram_dp16kd")},
               "fmax_by_seed": fmax(r, seeds), **d}
        recs.append(rec)
        fm = f"{d['fmax_median']:.1f} [{d['fmax_min']:.1f}-{d['fmax_max']:.1f}] x{d['seeds']}" if d else "does not fit"
        spread = f"{_f(d.get('density_free'), 0)} [{_f(d.get('density_free_min'), 0)}-" \
                 f"{_f(d.get('density_free_max'), 0)}]" if d else "-"
        lines.append([f"W{e.bits}", r["label"], e.role, f"{x['lut4']:,}", f"{x['carry_ccu2c']:,}",
                      f"{x['lut4_equiv']:,}",
                      f"{x['ff']:,}", x.get("dsp_mult18", 0), x.get("bram_dp16kd", 0), fm,
                      f"{run['peak_macs_per_cycle']:.1f}", f"{run['macs_per_cycle']:.1f}", _f(d.get("gmacs"), 2),
                      spread,
                      _f(d.get("density_counted"), 0) if x.get("dsp_mult18") else "=",
                      "yes" if run["bit_exact"] else "NO"])
    text = table(["W", "engine", "why", "LUT4", "CCU2C", "LUT4eq", "FF", "DSP", "BRAM", "Fmax MHz med [min-max] xseeds",
                  "MAC/cyc peak", "meas", "GMAC/s", "density DSP free [spread]", "DSP as LUTs", "exact"],
                 lines, align="llllrrrrrrrrrrrrl")
    return text, recs


def verdict_table(recs: list[dict]) -> tuple[str, list[dict]]:
    """Per W: the densest LUT engine against the densest MAC engine of the same weight precision
    (DSPs counted as the LUTs they replace; and free), against the densest bit-serial engine
    and against int8 × int8 systolic. The density ratio is split into its two factors, clock
    (Fmax ratio) × area (LUT4eq per MAC/cycle, the MAC engine's over the LUT engine's), which
    says why an engine leads or not."""
    ref = [r for r in recs if r["w"] == 8 and r.get("density_counted")]
    best_ref = max(ref, key=lambda r: r["density_counted"], default=None)

    def per_mac(r):  # LUT4eq (DSPs counted) per MAC/cycle
        return r["lut4_equiv_counted"] / r["macs_per_cycle"]

    lines, out = [], []
    for w in sorted({r["w"] for r in recs if r["w"] != 8}):
        mine = [r for r in recs if r["w"] == w and r.get("density_free")]
        luts = [r for r in mine if r["name"].startswith("lc_lut")]
        macs = [r for r in mine if not r["name"].startswith("lc_lut")]
        serial = [r for r in macs if r["name"].startswith("lc_bs")]
        if not luts or not macs:
            continue
        lut = max(luts, key=lambda r: r["density_free"])
        mac_c = max(macs, key=lambda r: r["density_counted"] or 0)
        mac_f = max(macs, key=lambda r: r["density_free"])
        bs = max(serial, key=lambda r: r["density_free"], default=None)
        v = {"w": w, "lut": lut["engine"], "lut_density": lut["density_free"],
             "lut_density_min": lut["density_free_min"], "lut_density_max": lut["density_free_max"],
             "mac_dsp_counted": mac_c["engine"], "mac_dsp_counted_density": mac_c["density_counted"],
             "mac_dsp_free": mac_f["engine"], "mac_dsp_free_density": mac_f["density_free"],
             "ratio_dsp_counted": round(lut["density_free"] / mac_c["density_counted"], 2),
             "clock_ratio": round(lut["fmax_median"] / mac_c["fmax_median"], 2),
             "lut_fmax": lut["fmax_median"], "mac_fmax": mac_c["fmax_median"],
             "area_ratio": round(per_mac(mac_c) / per_mac(lut), 2),
             "lut_lut4_equiv_per_mac_cycle": round(per_mac(lut), 1),
             "mac_lut4_equiv_per_mac_cycle": round(per_mac(mac_c), 1),
             "leads_dsp_counted": lut["density_free"] > mac_c["density_counted"],
             # beyond the seed spread: the LUT engine's slowest seed beats the MAC engine's fastest
             "leads_dsp_counted_all_seeds": lut["density_free_min"] > mac_c["density_counted_max"],
             "ratio_dsp_free": round(lut["density_free"] / mac_f["density_free"], 2),
             "bit_serial": bs["engine"] if bs else None,
             "ratio_bit_serial": round(lut["density_free"] / bs["density_free"], 2) if bs else None,
             "ratio_int8_reference": round(lut["density_free"] / best_ref["density_counted"], 2) if best_ref else None}
        out.append(v)
        lines.append([f"W{w}", lut["engine"], _f(lut["density_free"], 0), mac_c["engine"],
                      _f(mac_c["density_counted"], 0), f"{v['ratio_dsp_counted']:.2f}x",
                      f"{v['clock_ratio']:.2f}x ({lut['fmax_median']:.0f}/{mac_c['fmax_median']:.0f} MHz)",
                      f"{v['area_ratio']:.2f}x ({per_mac(lut):.0f}/{per_mac(mac_c):.0f})",
                      ("yes" if v["leads_dsp_counted_all_seeds"] else "median only")
                      if v["leads_dsp_counted"] else "no",
                      f"{v['ratio_bit_serial']:.2f}x" if bs else "-", f"{v['ratio_dsp_free']:.2f}x",
                      f"{v['ratio_int8_reference']:.2f}x" if best_ref else "-"])
    text = table(["W", "densest LUT engine", "density", "densest MAC engine (DSP as LUTs)", "density", "LUT/MAC",
                  "= clock LUT/MAC", "x area MAC/LUT (LUT4eq per MAC/cyc)", "LUT leads", "LUT/bit-serial",
                  "LUT/MAC DSP free", "LUT/int8 sys"], lines, align="llrlrrrrlrrr")
    return text, out


def sweep_table(entries, rows, seeds=1) -> tuple[str, list[dict]]:
    lines, recs = [], []
    for e in entries:
        r = rows[e.engine.name]
        x, run = r["ecp5"], r["runs"][str(e.bits)]
        d = density(r, e.bits, seeds, None)
        pes = r["rows"] * r["cols"]
        rec = {"what": e.role, "engine": r["label"], "name": r["name"], "lut4": x["lut4"],
               "carry_ccu2c": x["carry_ccu2c"],
               "lut4_equiv": x["lut4_equiv"], "ff": x["ff"], "lut4_equiv_per_pe": round(x["lut4_equiv"] / pes, 1),
               "lut4_equiv_per_mac_cycle": round(x["lut4_equiv"] / run["peak_macs_per_cycle"], 1), **run, **d}
        recs.append(rec)
        lines.append([e.role, r["label"], f"{x['lut4']:,}", f"{x['carry_ccu2c']:,}", f"{x['lut4_equiv']:,}",
                      f"{x['ff']:,}", f"{rec['lut4_equiv_per_pe']:.0f}", f"{run['peak_macs_per_cycle']:.0f}",
                      f"{run['macs_per_cycle']:.1f}",
                      f"{rec['lut4_equiv_per_mac_cycle']:.0f}", _f(d.get("fmax_median")), _f(d.get("density_free"), 0)])
    text = table(["sweep", "engine", "LUT4", "CCU2C", "LUT4eq", "FF", "LUT4eq/PE", "MAC/cyc peak", "meas",
                  "LUT4eq per MAC/cyc", "Fmax MHz", "density"], lines, align="llrrrrrrrrrr")
    return text, recs


def cycles_table(cyc: list[tuple[Engine, tuple[int, ...], dict]]) -> tuple[str, list[dict]]:
    lines, recs = [], []
    for eng, runs, r in cyc:
        base = r["runs"][str(runs[0])]["cycles"]
        for b in runs:
            run = r["runs"][str(b)]
            rec = {"engine": eng.label, "name": eng.name, "w": b, **run, "vs_first": round(run["cycles"] / base, 3)}
            recs.append(rec)
            lines.append([eng.label, f"W{b}", run.get("wfmt", f"{b} bits"), run["gemm"], run["cycles"],
                          f"{rec['vs_first']:.2f}", f"{run['macs_per_cycle']:.1f}", f"{run['peak_macs_per_cycle']:.1f}",
                          "yes" if run["bit_exact"] else "NO"])
    return table(["engine", "W", "weights", "GEMM", "cycles", "vs W1", "MAC/cyc", "peak", "exact"], lines,
                 align="lllrrrrrl"), recs


def critical_table(rows: dict, names) -> str:
    """What limits each engine's clock (seed 1): the worst path's ends, logic and routing delay."""
    lines = []
    for n in dict.fromkeys(names):
        c = rows[n].get("ecp5", {}).get("critical_path_seed1")
        if c:
            lines.append([rows[n]["label"], rows[n]["ecp5"]["fmax_by_seed"]["1"], _signal(c["from"]), _signal(c["to"]),
                          c["logic_steps"], f"{c['logic_ns']:.2f}", f"{c['routing_ns']:.2f}"])
    return table(["engine", "Fmax s1", "from", "to", "logic steps", "logic ns", "routing ns"], lines,
                 align="lrllrrr") if lines else ""


def _signal(cell: str) -> str:
    """The RTL signal a placed cell was made for (``fabric.tab_0_7_TRELLIS_FF_Q_9`` → ``tab_0_7``)."""
    cell = cell.removeprefix("fabric.")
    for cut in ("_TRELLIS", "$", "_LUT4", "_CCU2C", "_DP16KD", "_MULT18"):
        cell = cell.split(cut)[0]
    return cell
