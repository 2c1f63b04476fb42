"""How good the surrogate is, measured: held-out accuracy on three splits (:func:`evaluate`),
and the floors no model of the config can beat — the same PE type at other sizes
(:func:`type_spread`), at every other shape of a grid (:func:`shape_roughness`) and nextpnr's
own seed noise (:func:`seed_spread`). ``hwgen sweep fit``
(:func:`fit_dir`) fits, measures and writes both."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..config import ARITHS, KINDS
from ..fpga.ooc import DEFAULT_FLOW
from .surrogate import (FEATURES, SCALED, STACKED, TARGETS, Surrogate, SurrogateError, _choice, _fit_base, _fit_target,
                        _group, _scale, _type_key, fit, r2, samples, smape)

__all__ = ["evaluate", "fit_dir", "type_spread", "shape_roughness", "seed_spread"]


def evaluate(records: list[dict], *, seed: int = 0, small_units: int = 16, folds: int = 5, flow: str = DEFAULT_FLOW,
             data: list[tuple[dict, dict]] | None = None) -> dict:
    """Held-out accuracy per target: a seeded 80/20 random split; trained on arrays of at most
    ``small_units`` MAC units, tested on the larger ones; and ``folds``-fold cross-validation,
    every point predicted once by a model that did not see it (the split to read for Fmax,
    whose placed points are few). R² and sMAPE on the raw values (LUT4s, flip-flops, MHz),
    plus the median and 90th-percentile absolute % error, and the sMAPE apart for test engines
    whose PE type the training points measured at another size (``seen_type``) and the rest
    (``new_type``). ``data``: the records' :func:`~.surrogate.samples`, if already read."""
    data = samples(records, flow=flow) if data is None else data
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(data))
    cut = int(0.8 * len(data))
    every = set(range(len(data)))
    splits = {"random 80/20": [(idx[:cut], idx[cut:])],
              f"units <= {small_units} -> larger": [(
                  [i for i, (f, _) in enumerate(data) if f["units"] <= small_units],
                  [i for i, (f, _) in enumerate(data) if f["units"] > small_units])],
              f"{folds}-fold cross-validation": [(sorted(every - set(idx[k::folds])), idx[k::folds])
                                                 for k in range(folds)]}
    out = {}
    for name, parts in splits.items():
        res = {"train": len(parts[0][0]), "test": sum(len(te) for _, te in parts)}
        fitted: dict = {}       # (part, target) -> model: a STACKED target reads its upstream's
        for target in TARGETS:
            y, pred, seen, feats = [], [], [], []
            for k, (tr, te) in enumerate(parts):
                train, test = [data[i] for i in tr], [data[i] for i in te]
                up = STACKED.get(target)
                model, n = fitted[k, target] = _fit_target(target, train, seed, up and fitted[k, up][0])
                pairs = [(f, m[TARGETS[target]]) for f, m in test if m.get(TARGETS[target]) is not None]
                if model is None or not pairs:
                    continue
                sur = Surrogate({"features": FEATURES, "targets": {**({up: fitted[k, up][0]} if up else {}),
                                                                    target: model}})
                pred += [sur.predict_features(f)[target] for f, _ in pairs]
                feats += [f for f, _ in pairs]
                y += [v for _, v in pairs]
                measured = {_type_key(f) for f, m in train if m.get(TARGETS[target]) is not None}
                seen += [_type_key(f) in measured for f, _ in pairs]
            if not y:
                continue
            if not any(y) and not any(round(v) for v in pred):
                res[target] = {"n": len(y), "all_zero": True}    # e.g. DSPs of a -nodsp flow: exact
                continue
            err = sorted(abs(p - v) / v for p, v in zip(pred, y) if v)
            res[target] = {"n": len(y), "r2": round(r2(y, pred), 4), "smape": round(smape(y, pred), 4),
                           "median_abs_err": round(err[len(err) // 2], 4) if err else None,
                           "p90_abs_err": round(err[int(0.9 * (len(err) - 1))], 4) if err else None}
            arith = {}          # by the PE's arithmetic: synthesis of the bit-weight ones is rougher
            for v, q, f in zip(y, pred, feats):
                arith.setdefault(_choice(f, "arith", ARITHS), []).append((v, q))
            res[target]["by_arith"] = {a: {"n": len(v), "smape": round(smape(*zip(*v)), 4)} for a, v in sorted(arith.items())}
            for part, want in (("seen_type", True), ("new_type", False)):     # the PE type measured in training?
                sel = [(v, p) for v, p, s in zip(y, pred, seen) if s == want]
                if sel:
                    res[target][part] = {"n": len(sel), "smape": round(smape(*zip(*sel)), 4)}
        out[name] = res
    return out


def fit_dir(dirs, output: Path | None = None, *, seed: int = 0, flow: str = DEFAULT_FLOW, log=print) -> dict:
    """``hwgen sweep fit DIR...``: fit on every record in each ``DIR/points`` (of one LUT-mapping
    ``flow``), measure held-out accuracy, write the surrogate (``DIR/surrogate.json`` of the
    first unless ``output``) and ``surrogate_accuracy.json`` beside it."""
    from ..report import table
    from .report import load_records
    dirs = [Path(dirs)] if isinstance(dirs, (str, Path)) else [Path(d) for d in dirs]
    out = dirs[0]
    recs = load_records(dirs)
    data = samples(recs, flow=flow)
    if len(data) < 20:
        raise SurrogateError(f"{', '.join(map(str, dirs))}: {len(data)} points synthesized by the {flow} flow; a "
                             "surrogate needs at least 20 (run a sweep with the ecp5 step first, or fit another --flow)")
    log(f"fitting on {len(data)} synthesized points of {', '.join(map(str, dirs))} "
        f"({sum(f['dsp'] for f, _ in data)} with DSPs)")
    acc = evaluate(recs, seed=seed, flow=flow, data=data)
    doc = fit(recs, seed=seed, flow=flow, data=data)
    doc["trained_on"].update(dsp_points=sum(f["dsp"] for f, _ in data),
                             placed_dsp_points=sum(bool(f["dsp"] and m.get(TARGETS["fmax_mhz"])) for f, m in data),
                             max_units=max(f["units"] for f, _ in data),
                             kinds=sorted({_choice(f, "kind", KINDS) for f, _ in data}),
                             source=[str(d) for d in dirs])
    doc["accuracy"] = acc
    path = Path(output or out / "surrogate.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    rows = []

    def part(q, name):
        return f"{q[name]['smape']:.1%} ({q[name]['n']})" if name in q else "-"
    for split, res in acc.items():
        for target in TARGETS:
            if target in res and res[target].get("all_zero"):
                rows.append([split, target, res[target]["n"], "-", "-", "all 0, predicted 0", "-", "-", "-"])
            elif target in res:
                q = res[target]
                rows.append([split, target, q["n"], f"{q['r2']:.4f}", f"{q['smape']:.2%}", f"{q['median_abs_err']:.2%}",
                             f"{q['p90_abs_err']:.2%}", part(q, "seen_type"), part(q, "new_type")])
    text = table(["split", "target", "test points", "R²", "sMAPE", "median |err|", "p90 |err|",
                  "sMAPE: PE type measured (n)", "new PE type (n)"], rows, align="llrrrrrrr")
    for split, res in acc.items():
        if "by_arith" in res.get("lut4_equiv", {}) and "cross-validation" in split:
            text += f"\n{split}, LUT4 sMAPE by the PE's arithmetic: " + ", ".join(
                f"{a} {q['smape']:.1%} ({q['n']})" for a, q in res["lut4_equiv"]["by_arith"].items())
    same = type_spread(data)
    if same:
        text += (f"\nthe same PE type at other sizes ({same['points']} engines of {same['types']} types measured at >= 3 "
                 f"sizes), each predicted from the others' mean ratio to the base: LUT4 sMAPE "
                 f"{same['lut4_equiv']['smape']:.1%}, FF {same['ff']['smape']:.1%}")
    rough = shape_roughness(data)
    if rough:
        text += (f"\nevery shape of a grid ({rough['points']} engines of {rough['types']} PE types at >= 20 shapes), "
                 f"each predicted from its type's law over the other shapes and its neighbouring shapes: "
                 f"LUT4 sMAPE {rough['lut4_equiv']['smape']:.1%}, FF {rough['ff']['smape']:.1%}; LUT4 by type: "
                 + ", ".join(f"{k} {v['smape']:.1%}" for k, v in rough["lut4_equiv"]["by_type"].items()))
    spread = seed_spread(recs)
    if spread:
        n_seeds = (f"{spread['min_seeds']}-" if spread["min_seeds"] < spread["seeds"] else "") + str(spread["seeds"])
        text += (f"\nnextpnr's own Fmax spread over {spread['points']} points x {n_seeds} seeds: median "
                 f"(max - min) / median {spread['median_range']:.1%}, mean |seed - median| / median "
                 f"{spread['mean_abs_dev']:.1%}; one seed's Fmax as the prediction of another's: sMAPE "
                 f"{spread['seed_to_seed_smape']:.1%}")
    (out / "surrogate_accuracy.json").write_text(json.dumps({"points": len(data), "accuracy": acc, "seed_spread": spread,
                                                             "same_type": same, "shape_roughness": rough, "table": text}, indent=1) + "\n")
    return {"path": str(path), "points": len(data), "accuracy": acc, "table": text, "seed_spread": spread}


def type_spread(data: list[tuple[dict, dict]], least: int = 3) -> dict | None:
    """How well an engine is predicted by the same PE type measured at other sizes: for every PE
    type with at least ``least`` sizes, each engine from the others' mean log ratio to the
    structural base. A model that is one constant correction per PE type over that base does no
    better on these engines (the calibration's slopes on the shape go somewhat below it where a
    type's rows and columns cost apart); per family, it says where synthesis itself varies with
    the array's size (carry-save PEs, adder trees) and where it does not."""
    out: dict = {}
    for target in SCALED:
        rows = [(f, m[TARGETS[target]]) for f, m in data if m.get(TARGETS[target])]
        base = _fit_base(rows, target)
        types: dict[str, list] = {}
        for f, y in rows:
            b = _scale(base, f)
            types.setdefault(_type_key(f), []).append((f, y, b, math.log(y / b)))
        ys, ps, fam = [], [], {}
        for v in types.values():
            if len(v) < least:
                continue
            total = sum(r for *_, r in v)
            for f, y, b, r in v:
                p = b * math.exp((total - r) / (len(v) - 1))
                ys.append(y), ps.append(p)
                fam.setdefault(_group(f), []).append((y, p))
        if not ys:
            return None
        out[target] = {"smape": round(smape(ys, ps), 4),
                       "by_family": {g: {"n": len(v), "smape": round(smape(*zip(*v)), 4)} for g, v in sorted(fam.items())}}
        out.update(points=len(ys), types=sum(len(v) >= least for v in types.values()))
    return out


def _pe_label(f: dict) -> str:
    return f"{_group(f)} {f['a_bits']}x{f['w_bits']} acc {f['acc']} {_choice(f, 'arith', ARITHS)}"


def shape_roughness(data: list[tuple[dict, dict]], least: int = 20) -> dict | None:
    """How smoothly synthesis follows the array's shape: for every PE type measured at
    ``least`` shapes or more (``bench/sweeps/shape_grid.yaml``: every shape from 1x1 to 6x6),
    each engine predicted from the type's other shapes. The prediction is the array's law —
    least squares on a cost per MAC unit, per row, per column, per row² and column² (a systolic
    array's skew lines are triangles) and a fixed one — times the mean ratio to that law of the
    shapes one row or one column away: the PE type known exactly, at every neighbouring shape.
    What it misses is the tool's response to the shape itself, which no surrogate of the
    config gets under on a shape it has not measured."""
    types: dict[str, list] = {}
    for f, m in data:
        types.setdefault(_type_key(f), []).append((f, m))
    out: dict = {}
    for target in SCALED:
        ys, ps, by = [], [], {}
        for v in types.values():
            v = [(f, m[TARGETS[target]]) for f, m in v if m.get(TARGETS[target])]
            if len({(f["rows"], f["cols"]) for f, _ in v}) < least:
                continue
            rc = np.array([(f["rows"], f["cols"]) for f, _ in v], dtype=float)
            X = np.array([[f["units"], f["rows"], f["cols"], f["rows"] ** 2, f["cols"] ** 2, 1.0] for f, _ in v])
            y = np.array([t for _, t in v], dtype=float)
            p = []
            for i in range(len(y)):         # leave one out
                keep = np.arange(len(y)) != i
                law = X @ np.linalg.lstsq(X[keep], y[keep], rcond=None)[0]
                near = keep & (np.abs(rc - rc[i]).sum(axis=1) == 1)
                p.append(float(law[i] * np.exp(np.mean(np.log(y[near] / law[near]))) if near.any() else law[i]))
            ys += list(y)
            ps += p
            by[_pe_label(v[0][0])] = {"n": len(y), "smape": round(smape(y, p), 4)}
        if not ys:
            return None
        out[target] = {"smape": round(smape(ys, ps), 4), "by_type": by}
        out.update(points=len(ys), types=len(by))
    return out


def seed_spread(records: list[dict]) -> dict | None:
    """nextpnr's own Fmax noise over the records placed with several seeds: per point the range
    (max - min) and the mean absolute deviation from the median, relative to the median; and
    the sMAPE of every seed's Fmax taken as the prediction of every other seed's (the floor of
    any model scored against single-seed placements)."""
    ranges, devs, seeds, pairs = [], [], [], []
    for r in records:
        by = r.get("metrics", {}).get("ecp5_fmax_by_seed")
        if r.get("status") != "ok" or not isinstance(by, dict) or len(by) < 2:
            continue
        f = sorted(by.values())
        med = float(np.median(f))
        ranges.append((f[-1] - f[0]) / med)
        devs.append(float(np.mean([abs(x - med) for x in f])) / med)
        seeds.append(len(f))
        pairs += [(x, y) for i, x in enumerate(f) for j, y in enumerate(f) if i != j]
    if not ranges:
        return None
    return {"points": len(ranges), "seeds": max(seeds), "min_seeds": min(seeds),
            "median_range": round(float(np.median(ranges)), 4), "max_range": round(max(ranges), 4),
            "mean_abs_dev": round(float(np.mean(devs)), 4), "seed_to_seed_smape": round(smape(*zip(*pairs)), 4)}
