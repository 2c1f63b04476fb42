"""``hwgen estimate FILE``: a config's engine resources and Fmax from the surrogate, in
milliseconds, beside the fit check's calibrated estimate; its cycles come from the analytic
model (the golden device's, checked against the RTL by the sweep's ``run`` step); with
``--board`` the whole accelerator's fit on that board with the surrogate's engine."""
from __future__ import annotations

import time

from ..config import HwgenConfig
from ..fpga.ooc import DEFAULT_FLOW
from ..report import table
from .surrogate import Surrogate, SurrogateError, default_path

__all__ = ["estimate_config", "format_estimate"]


def estimate_config(cfg: HwgenConfig, sur: Surrogate, *, dsp: bool = False, board: str | None = None,
                    gemm: tuple[int, int, int] = (64, 64, 64)) -> dict:
    from .report import effective_macs_per_cycle
    from .surrogate import features
    t0 = time.perf_counter()
    f = features(cfg, dsp=dsp)          # the calibrated estimates are among its features
    pred = sur.predict_features(f)
    ms = (time.perf_counter() - t0) * 1e3
    lut, ff = f["lut_est"], f["ff_est"]
    trained = sur.trained_on
    notes = []
    if cfg.array.macs_per_cycle > trained.get("max_units", 0):
        notes.append(f"{cfg.array.macs_per_cycle} MAC units: more than the largest trained point "
                     f"({trained.get('max_units')}); the LUT4 and FF ratios extrapolate, Fmax is the trees' edge")
    if trained.get("kinds") and cfg.array.kind not in trained["kinds"]:
        notes.append(f"kind {cfg.array.kind} is not in the training data ({', '.join(trained['kinds'])})")
    if dsp and not trained.get("dsp_points"):
        notes.append("trained on LUT multipliers only (synth_ecp5 -nodsp): the DSP flow is not covered")
    if dsp and "fmax_mhz" in pred and not trained.get("placed_dsp_points"):
        notes.append("Fmax: no engine of the DSP flow was placed for training; this is the LUT flow's Fmax model "
                     "extrapolated (it reads the DSP flow's smaller LUT4 count per MAC unit)")
    rec_fields = {"macs_per_cycle": cfg.array.macs_per_cycle, "array.kind": cfg.array.kind,
                  "array.pe.w": str(cfg.array.pe.w), "array.pe.arith": cfg.array.pe.arith}
    rate = effective_macs_per_cycle(rec_fields)
    out = {"config": cfg.name, "dsp": dsp, "predict_ms": round(ms, 2), "surrogate": pred, "measured": sur.measured(f),
           "calibrated": {"lut4_equiv": lut, "ff": ff}, "macs_per_cycle": rate,
           "gmacs": rate * pred["fmax_mhz"] / 1e3 if "fmax_mhz" in pred else None, "notes": notes,
           "trained_on": trained,
           "surrogate_path": ("the packaged one" if sur.path == default_path() else str(sur.path)) if sur.path else None}
    out["held_out"] = _held_out(sur, cfg.array.pe.arith)
    out["cycles"] = _cycles(cfg, *gemm)
    if board:
        out["board"] = _board_fit(cfg, sur, board)
    return out


#: the held-out split an estimate's typical error is read from, and how many engines of the
#: config's arithmetic it needs before that arithmetic's own error is quoted
HELD_OUT_SPLIT, HELD_OUT_LEAST = "5-fold cross-validation", 20


def _held_out(sur: Surrogate, arith: str) -> dict:
    """Per target, the surrogate's own held-out error (sMAPE in 5-fold cross-validation, written
    by ``hwgen sweep fit``) on engines of this arithmetic, or on all when it had too few."""
    acc = (sur.doc.get("accuracy") or {}).get(HELD_OUT_SPLIT, {})
    out = {}
    for target, q in acc.items():
        if not isinstance(q, dict) or "smape" not in q:
            continue
        mine = (q.get("by_arith") or {}).get(arith)
        if mine and mine["n"] >= HELD_OUT_LEAST:
            out[target] = {"smape": mine["smape"], "n": mine["n"], "of": f"{arith} engines"}
        else:
            out[target] = {"smape": q["smape"], "n": q["n"], "of": "all engines"}
    return out


def _cycles(cfg: HwgenConfig, m: int, k: int, n: int) -> dict | None:
    """An M×K×N GEMM through the driver on the golden device: the RUNs it takes, each timed
    by the analytic model (:func:`hwgen.soc.golden_device.run_cycles_model`)."""
    from ..driver.run import run_gemm
    from ..soc.layout import SUPPORTED_KINDS
    if cfg.array.kind not in SUPPORTED_KINDS:
        return None
    r = run_gemm(cfg, m, k, n, transport="golden", seed=1, log=None)
    return {"gemm": r["gemm"], "cycles": r["run_cycles"], "ideal": r["ideal_cycles"], "utilization": r["utilization"]}


def _board_fit(cfg: HwgenConfig, sur: Surrogate, board: str) -> dict:
    from ..fpga.boards import BOARDS, CAPACITY
    from ..fpga.fit import engine_estimate, estimate
    cap = CAPACITY[BOARDS[board].device]
    if cap.family != "ecp5":
        raise SurrogateError(f"--board {board}: the surrogate is trained on ECP5 synthesis; {cap.device} is an "
                         f"{cap.family} (its fit check: hwgen synth FILE --board {board})")

    used = []

    def engine_cost(c, eng_dsp):
        if eng_dsp and not sur.trained_on.get("dsp_points"):    # not learned: the calibrated estimate
            used.append("calibrated (the board puts the engine's multipliers in DSPs; the surrogate has no DSP points)")
            return engine_estimate(c, eng_dsp=True)
        used.append(f"surrogate ({'DSP' if eng_dsp else 'LUT'} multipliers)")
        p = sur.predict(c, dsp=eng_dsp)
        return p["lut4_equiv"], p["ff"]
    e = estimate(cfg, cap, engine_cost=engine_cost)
    e0 = estimate(cfg, cap)
    fits = e.lut4 <= cap.lut4 and e.ff <= cap.ff and e.bram <= cap.bram
    return {"board": board, "device": cap.device, "lut4": e.lut4, "ff": e.ff, "bram": e.bram, "dsp": e.dsp,
            "cap": {"lut4": cap.lut4, "ff": cap.ff, "bram": cap.bram, "dsp": cap.dsp}, "fits": fits,
            "calibrated_lut4": e0.lut4, "calibrated_ff": e0.ff, "engine": used[0]}


def format_estimate(r: dict) -> str:
    p, c, got = r["surrogate"], r["calibrated"], r.get("measured")
    flow = "multipliers in DSPs" if r["dsp"] else "multipliers in LUTs (synth_ecp5 -nodsp)"
    if r["trained_on"].get("flow", DEFAULT_FLOW) != DEFAULT_FLOW:
        flow += f", LUTs mapped by {r['trained_on']['flow']}"
    held = r.get("held_out") or {}

    def seen(target, fmt):   # the dataset's measurement of this very engine
        return [fmt.format(got[target]) if target in got else "-"] if got else []

    def error(target):       # the surrogate's held-out error on engines like this one
        q = held.get(target)
        return [f"{q['smape']:.1%} ({q['of']}, {q['n']})" if q else "-"] if held else []
    rows = [["LUT4-equivalents", f"{p['lut4_equiv']:,.0f}", *error("lut4_equiv"), *seen("lut4_equiv", "{:,.0f}"),
             f"{c['lut4_equiv']:,.0f}"],
            ["flip-flops", f"{p['ff']:,.0f}", *error("ff"), *seen("ff", "{:,.0f}"), f"{c['ff']:,.0f}"]]
    if "dsp" in p:
        rows.append(["MULT18X18D", f"{p['dsp']:.0f}", *error("dsp"), *seen("dsp", "{:.0f}"), "-"])
    if "bram" in p:
        rows.append(["DP16KD", f"{p['bram']:.0f}", *error("bram"), *seen("bram", "{:.0f}"), "-"])
    if "fmax_mhz" in p:
        rows.append(["Fmax MHz (nextpnr OOC)", f"{p['fmax_mhz']:.1f}", *error("fmax_mhz"), *seen("fmax_mhz", "{:.1f}"),
                     "-"])
    heads = ["", "surrogate", *(["held-out error (sMAPE, CV)"] if held else []),
             *(["measured (in the dataset)"] if got else []), "calibrated estimate"]
    lines = [f"{r['config']}: the engine on an ECP5, {flow}; surrogate: {r['surrogate_path']} "
             f"({r['trained_on'].get('points')} points), predicted in {r['predict_ms']:.1f} ms",
             table(heads, rows, align="l" + "r" * (len(heads) - 1))]
    if r["gmacs"] is not None:
        lines.append(f"throughput: {r['macs_per_cycle']:g} MACs/cycle at the weight width x {p['fmax_mhz']:.1f} MHz = "
                     f"{r['gmacs']:.2f} GMAC/s")
    if r["cycles"]:
        cy = r["cycles"]
        lines.append(f"cycles (analytic model, the driver's RUNs on the golden device): GEMM {cy['gemm']} "
                     f"{cy['cycles']:,} cycles, ideal {cy['ideal']:,} ({cy['utilization']:.1%})")
    if "board" in r:
        b = r["board"]
        lines.append(f"fit on {b['board']} ({b['device']}), the whole accelerator, engine by the {b['engine']}: "
                     f"LUT4 {b['lut4']:,}/{b['cap']['lut4']:,}, FF {b['ff']:,}/{b['cap']['ff']:,}, "
                     f"BRAM {b['bram']}/{b['cap']['bram']}, DSP {b['dsp']}/{b['cap']['dsp']}: "
                     + ("fits" if b["fits"] else "DOES NOT FIT")
                     + f" (calibrated estimate: LUT4 {b['calibrated_lut4']:,}, FF {b['calibrated_ff']:,})")
    lines += [f"note: {n}" for n in r["notes"]]
    return "\n".join(lines)
