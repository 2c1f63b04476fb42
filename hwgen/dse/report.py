"""``hwgen sweep report DIR``: a sweep's records as one table, and its Pareto fronts as PNG.

Read from ``DIR/points/*.json`` (every record the directory holds, whichever sweep files
wrote them). Figures (matplotlib, in ``DIR/report/``):

- ``pareto_throughput_area.png``: MACs/s (MACs per cycle at the point's own weight width ×
  its Fmax) against LUT4-equivalents (LUT4 + 2·CCU2C), the front of points no other beats
  on both;
- ``pareto_fmax_area.png``: Fmax against area (LUT4-equivalents + flip-flops);
- ``efficiency_by_arith.png``: area efficiency (MACs/s per LUT4-equivalent) by arithmetic
  and weight precision.

Throughput is per weight operand: a bit-serial ``mac`` PE takes one weight bit per cycle, a
LUT engine one bit-plane; a sparse-serial PE one cycle per non-zero NAF digit (the mean over
uniformly distributed weights of the format; normal data is faster).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..report import table

__all__ = ["load_records", "rows", "pareto", "report", "effective_macs_per_cycle", "cycle_check"]


def load_records(out) -> list[dict]:
    """Every record in ``out/points`` (one directory or a list of them)."""
    recs = []
    dirs = [out] if isinstance(out, (str, Path)) else list(out)
    for p in sorted(pp for d in dirs for pp in (Path(d) / "points").glob("*.json")):
        try:
            recs.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue            # a record being written: the next report has it
    return recs


@lru_cache(maxsize=None)
def _sparse_cycles(bits: int, signed: bool) -> float:
    import numpy as np

    from ..golden.encoding import nonzero_digits
    vals = np.arange(-(1 << bits - 1), 1 << bits - 1) if signed else np.arange(0, 1 << bits)
    return float(np.maximum(nonzero_digits(vals), 1).mean())


def effective_macs_per_cycle(c: dict) -> float:
    """MACs per cycle at the config's own weight width, from a record's config fields."""
    peak = c["macs_per_cycle"]
    w = c["array.pe.w"]
    bits, signed = int(w.lstrip("uint")), not w.startswith("u")
    if c["array.kind"] == "lut":
        return peak / bits
    if c["array.kind"] == "bit_serial":
        return peak / (_sparse_cycles(bits, signed) if c["array.pe.arith"] == "sparse_serial" else bits)
    return float(peak)


def rows(records: list[dict]) -> list[dict]:
    """One flat row per point with a synthesized result: its config fields and the derived
    area, throughput and efficiency."""
    out = []
    for r in records:
        m, c = r.get("metrics", {}), r.get("config", {})
        if r.get("status") == "invalid" or "ecp5_lut4_equiv" not in m:
            continue
        row = {"key": r["key"], "part": r.get("part", ""), "status": r["status"], **c,
               **{k: v for k, v in m.items() if not isinstance(v, dict)}}
        row["w_bits"] = int(c["array.pe.w"].lstrip("uint"))
        row["dsp_flow"] = bool(m.get("ecp5_dsp"))
        row["area"] = m["ecp5_lut4_equiv"] + m["ecp5_ff"]
        row["macs_per_cycle_eff"] = effective_macs_per_cycle(c)
        fmax = m.get("ecp5_fmax_mhz")
        row["gmacs"] = row["macs_per_cycle_eff"] * fmax / 1e3 if fmax else None
        row["mmacs_per_lut"] = row["macs_per_cycle_eff"] * fmax / max(m["ecp5_lut4_equiv"], 1) if fmax else None
        out.append(row)
    return out


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other has both at most the cost (x) and at least the value (y)
    of, one strictly better; in increasing x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


FAMILY = "array.kind"


def _label(row: dict) -> str:
    k = row["array.kind"]
    lab = f"{k} {row['array.dataflow'][:1].upper()}S" if k == "systolic" else k
    return lab + (" (DSP)" if row.get("dsp_flow") else "")


def _figures(rs: list[dict], outdir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rs = [r for r in rs if not r["dsp_flow"]]       # LUT4-equivalents do not count DSPs: one unit only
    placed = [r for r in rs if r["gmacs"]]
    if not placed:              # every figure needs an Fmax: nothing placed, nothing drawn
        return []
    labels = sorted({_label(r) for r in rs})
    colors = {lab: plt.cm.tab10(i % 10) for i, lab in enumerate(labels)}
    paths = []

    def scatter(ax, xs, ys, pts, front_of):
        for lab in labels:
            sel = [i for i, r in enumerate(pts) if _label(r) == lab]
            ax.scatter([xs[i] for i in sel], [ys[i] for i in sel], s=12, alpha=0.7, color=colors[lab], label=lab)
        front = pareto(list(zip(xs, ys))) if front_of else []
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="k", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        return front

    fig, ax = plt.subplots(figsize=(7, 5))
    scatter(ax, [r["ecp5_lut4_equiv"] for r in placed], [r["gmacs"] for r in placed], placed, True)
    ax.set_yscale("log")
    ax.set(xlabel="LUT4-equivalents (LUT4 + 2·CCU2C), ECP5, multipliers in LUTs",
           ylabel="GMAC/s at the weight width (MACs/cycle × Fmax)", title="Throughput vs area")
    paths.append(outdir / "pareto_throughput_area.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    scatter(ax, [r["area"] for r in placed], [r["ecp5_fmax_mhz"] for r in placed], placed, True)
    ax.set(xlabel="area: LUT4-equivalents + flip-flops", ylabel="Fmax, MHz (nextpnr, out of context)",
           title="Fmax vs area")
    paths.append(outdir / "pareto_fmax_area.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    ariths = sorted({r["array.pe.arith"] for r in placed})
    wbits = sorted({r["w_bits"] for r in placed})
    width = 0.8 / max(len(ariths), 1)
    named = set()
    for j, ar in enumerate(ariths):
        for i, b in enumerate(wbits):
            vals = [r["mmacs_per_lut"] for r in placed if r["array.pe.arith"] == ar and r["w_bits"] == b]
            if vals:
                x = i + (j - (len(ariths) - 1) / 2) * width
                ax.scatter([x] * len(vals), vals, s=8, alpha=0.5, color=plt.cm.tab10(j))
                ax.plot([x - width / 2.5, x + width / 2.5], [sorted(vals)[len(vals) // 2]] * 2, color=plt.cm.tab10(j),
                        lw=2, label=None if ar in named else ar)
                named.add(ar)
    ax.set_xticks(range(len(wbits)), [f"w {b} bits" for b in wbits])
    ax.set_yscale("log")
    ax.set(ylabel="MMAC/s per LUT4-equivalent (bar: median)", title="Area efficiency by arithmetic and weight precision")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    paths.append(outdir / "efficiency_by_arith.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def report(out, rdir: Path | None = None, *, figures: bool = True) -> dict:
    """The table (printed and in ``report.md``) and the figures, in ``rdir`` (default
    ``DIR/report`` of the first directory); returns their paths and the summary rows."""
    dirs = [Path(out)] if isinstance(out, (str, Path)) else [Path(d) for d in out]
    out = dirs[0]
    recs = load_records(dirs)
    if not recs:
        from .spec import SweepError
        raise SweepError(f"{out}: no sweep records (points/*.json); run hwgen sweep SWEEP.yaml -o {out} first")
    rs = rows(recs)
    status = {}
    for r in recs:
        status[r["status"]] = status.get(r["status"], 0) + 1
    summary = []
    for lab in sorted({_label(r) for r in rs}):
        sel = [r for r in rs if _label(r) == lab]
        placed = [r for r in sel if r["gmacs"]]
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None  # noqa: E731
        best = max(placed, key=lambda r: r["mmacs_per_lut"]) if placed else None
        summary.append([lab, len(sel), len(placed), med([r["ecp5_lut4_equiv"] for r in sel]),
                        med([r["ecp5_ff"] for r in sel]), med([r["ecp5_fmax_mhz"] for r in placed]) or "-",
                        f"{best['mmacs_per_lut']:.3f}" if best else "-",
                        _describe(best) if best else "-"])
    text = table(["family", "synthesized", "placed", "median LUT4-eq", "median FF", "median Fmax",
                  "best MMAC/s/LUT", "best point"], summary, align="lrrrrrrl")
    front = []
    placed = [r for r in rs if r["gmacs"] and not r["dsp_flow"]]
    for i in pareto([(r["ecp5_lut4_equiv"], r["gmacs"]) for r in placed]):
        r = placed[i]
        front.append([_describe(r), r["ecp5_lut4_equiv"], r["ecp5_ff"], r["ecp5_fmax_mhz"], f"{r['gmacs']:.2f}"])
    front_text = table(["Pareto point (throughput vs LUT4-eq)", "LUT4-eq", "FF", "Fmax", "GMAC/s"], front,
                       align="lrrrr")
    head = (f"{len(recs)} records: " + ", ".join(f"{v} {k}" for k, v in sorted(status.items()))
            + f"; {len(rs)} synthesized, {len(placed)} placed (Fmax)")
    rdir = Path(rdir or out / "report")
    rdir.mkdir(parents=True, exist_ok=True)
    paths = _figures(rs, rdir) if figures and rs else []
    cyc = cycle_check(recs)
    if cyc:
        front_text += "\n\n" + cyc
    md = [f"# Sweep report: {', '.join(map(str, dirs))}", "", head, "", "```", text, "```", "", "```", front_text, "```", ""]
    md += [f"![{p.stem}]({p.name})" for p in paths]
    (rdir / "report.md").write_text("\n".join(md) + "\n")
    return {"head": head, "table": text, "front": front_text, "figures": [str(p) for p in paths],
            "markdown": str(rdir / "report.md"), "rows": len(rs)}


def cycle_check(records: list[dict]) -> str:
    """The analytic cycle model against the RTL, from the records of the ``run`` step: the
    model's error per point, summarized by family."""
    pts = [r for r in records if r.get("status") == "ok" and "run_cycles" in r.get("metrics", {})]
    if not pts:
        return ""
    by: dict[str, list] = {}
    for r in pts:
        by.setdefault(r["config"]["array.kind"], []).append(r["metrics"])
    rows = []
    for kind, ms in sorted(by.items()):
        errs = [m["run_model_error"] for m in ms]
        worst = max(ms, key=lambda m: abs(m["run_model_error"]))
        rows.append([kind, len(ms), sum(e == 0 for e in errs), f"{max(abs(e) for e in errs):.2%}",
                     f"{worst['run_cycles_model']:,} / {worst['run_cycles']:,}",
                     "yes" if all(m["run_bit_exact"] for m in ms) else "NO"])
    return table(["cycle model vs RTL: kind", "points", "exact", "max |error|", "worst: model / RTL",
                  "bit-exact"], rows, align="lrrrrl")


def _describe(r: dict) -> str:
    k = r["array.kind"]
    shape = (f"{r['array.rows']}x{r['array.cols']}" + (f"x{r['array.depth']}" if k in ("cube", "matrix2d", "lut") else ""))
    df = f" {r['array.dataflow'][:1].upper()}S" if k == "systolic" else ""
    return f"{k}{df} {shape} {r['array.pe.a']}x{r['array.pe.w']} {r['array.pe.arith']}"
