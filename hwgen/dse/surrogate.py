"""The surrogate: an engine's ECP5 resources and Fmax predicted from its config in
milliseconds, learned from synthesized sweeps (``hwgen sweep fit DIR``).

Each target is learned by scikit-learn gradient boosting on a log scale, as a correction to
a linear base: ``log(LUT4-eq / base)``, ``log(FF / base)``, where the base is a non-negative
least-squares fit, per engine family, on sizes read off the engine's structure (accumulator,
operand, multiplier, adder-tree and register bits: :func:`structure`, :func:`_monomials`;
the fit check's calibrated estimates :func:`hwgen.fpga.fit.engine_estimate` among them);
``log(Fmax)``, ``log1p(DSP)``, ``log1p(block RAM)``. A ratio to a base that grows
with the array is what lets a model trained on small arrays predict larger ones: trees cannot
extrapolate a raw count.

The fitted trees are written as plain JSON (:func:`save`) and evaluated with NumPy
(:class:`Surrogate`), so ``hwgen estimate`` needs neither scikit-learn nor pickles; a test
checks the JSON model predicts what scikit-learn's does.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from ..config import ARITHS, DATAFLOWS, KINDS, HwgenConfig
from ..fpga.ooc import DEFAULT_FLOW

__all__ = ["SurrogateError", "structure", "features", "FEATURES", "TARGETS", "Surrogate", "fit",
           "load", "default_path", "smape", "r2"]

class SurrogateError(ValueError):
    """No surrogate, one fitted on other features, or too few points to fit one."""


#: the surrogate file's layout; a new one when the features, monomials or tree inputs change
FORMAT = "hwgen-surrogate-7"

#: what is predicted: name -> (record metric, the scale it is learned against)
TARGETS = {"lut4_equiv": "ecp5_lut4_equiv", "ff": "ecp5_ff", "dsp": "ecp5_dsp_mult18", "bram": "ecp5_bram_dp16kd",
           "fmax_mhz": "ecp5_fmax_mhz"}


def structure(cfg: HwgenConfig, *, dsp: bool = False) -> dict:
    """Counts read off the engine's structure: multipliers, accumulators, adder-tree bits,
    operand and hold registers; ``lut_bits`` and ``reg_bits`` are the sizes the LUT4 and FF
    targets are learned as ratios to (their ratio varies little with the array's size)."""
    a, pe = cfg.array, cfg.array.pe
    d = a.depth or 1
    ab, wb, acc = pe.a.bits, pe.w.bits, pe.acc
    mux_bits = table_bits = 0
    prod, pes = ab + wb, a.rows * a.cols
    words = 2 if pe.arith == "carry_save" else 1
    if a.kind == "systolic":
        n_mult, n_acc, add_bits = pes, pes, 0
        flow = a.dataflow or "output_stationary"
        op = pes * {"output_stationary": ab + wb + acc, "weight_stationary": ab + 2 * wb,
                    "input_stationary": 2 * ab + wb}[flow] + pes * prod * pe.pipeline
        tri_r, tri_c = a.rows * (a.rows - 1) // 2, a.cols * (a.cols - 1) // 2     # skew delay lines
        if flow == "output_stationary":     # rows: operand, valid, last; columns: the other operand
            op += tri_r * (ab + 2) + tri_c * wb
        else:                               # rows: streamed operand and bank; columns: psum skew and de-skew
            streamed = wb if flow == "input_stationary" else ab
            op += tri_r * (streamed + 1) + 2 * tri_c * acc
    elif a.kind in ("cube", "matrix2d"):
        n_mult, n_acc = pes * d, pes
        add_bits = pes * (d - 1) * (prod + max(d - 1, 1).bit_length())
        op = (a.rows + a.cols) * d * max(ab, wb) + pes * acc
    elif a.kind == "adder_tree":
        n_mult, n_acc = pes, a.cols
        add_bits = a.cols * (a.rows - 1) * (prod + max(a.rows - 1, 1).bit_length())
        op = a.rows * ab + pes * wb
    elif a.kind == "bit_serial":
        n_mult, n_acc, add_bits, op = 0, pes, pes * (ab + wb), pes * (ab + wb) + pes * acc
    else:   # lut: per output a table multiplexer and an accumulator, per row the table (its precompute adders)
        from ..pe.lut import table_size, table_width
        entries = table_size(d, a.table == "symmetric")
        tw = table_width(pe.a, d) + wb
        n_mult, n_acc = 0, pes
        mux_bits, table_bits = pes * (entries - 1) * tw, a.rows * entries * tw
        add_bits = 0
        op = table_bits + a.rows * d * ab + pes * (acc + 1 + tw)
    mult_lut = 0 if dsp and pe.arith == "mac" else n_mult * ab * wb
    return {"n_mult": n_mult, "n_acc": n_acc, "add_bits": add_bits, "op_reg_bits": op,
            "lut_bits": mult_lut + add_bits + mux_bits + table_bits + n_acc * acc * words,
            "reg_bits": n_acc * acc * words + op,
            "table_bits": table_bits, "mux_bits": mux_bits}


def features(cfg: HwgenConfig, *, dsp: bool) -> dict:
    """The config as numbers: its fields, one-hot choices and analytic sizes (multiplier bits ×
    count, register bits, the fit check's LUT4/FF estimates). An input-stationary array is
    described as the weight-stationary one it is built as, formats swapped
    (:func:`~hwgen.arrays.ws_view`): one family, twice the points."""
    from ..arrays import ws_view
    from ..fpga.fit import engine_estimate
    if cfg.array.kind == "systolic":
        cfg = dataclasses.replace(cfg, array=ws_view(cfg.array))
    a, pe = cfg.array, cfg.array.pe
    depth = a.depth or 1
    lut_est, ff_est = engine_estimate(cfg, eng_dsp=dsp and a.kind not in ("lut", "bit_serial") and pe.arith == "mac")
    f = {"rows": a.rows, "cols": a.cols, "depth": depth, "pes": a.rows * a.cols, "units": a.macs_per_cycle,
         "a_bits": pe.a.bits, "w_bits": pe.w.bits, "a_signed": int(pe.a.signed), "w_signed": int(pe.w.signed),
         "acc": pe.acc, "saturate": int(pe.overflow == "saturate"), "pipeline": pe.pipeline,
         "drain_shift": int(a.drain == "shift"), "table_full": int(a.table == "full"),
         "dequant_group": int(a.dequant == "group"), "dsp": int(dsp),
         "mult_bits": a.macs_per_cycle * pe.a.bits * pe.w.bits, "acc_bits": a.rows * a.cols * pe.acc,
         "log_units": math.log(a.macs_per_cycle), "lut_est": lut_est, "ff_est": ff_est,
         "log_lut_est": math.log(max(lut_est, 1)), "log_ff_est": math.log(max(ff_est, 1)),
         **structure(cfg, dsp=dsp)}
    f["log_lut_bits"], f["log_reg_bits"] = math.log(max(f["lut_bits"], 1)), math.log(max(f["reg_bits"], 1))
    for k in KINDS:
        f[f"kind_{k}"] = int(a.kind == k)
    for d in DATAFLOWS:
        f[f"flow_{d}"] = int(a.dataflow == d)
    for ar in ARITHS:
        f[f"arith_{ar}"] = int(pe.arith == ar)
    return f


def _feature_names() -> list[str]:
    from ..config import ArrayConfig, PEConfig
    cfg = HwgenConfig(name="x", array=ArrayConfig(rows=2, cols=2, pe=PEConfig()))
    return list(features(cfg, dsp=False))


FEATURES = _feature_names()

#: the features the trees of a ratio target (LUT4, FF) may split on: the PE's type and the
#: family, not the array's size. The base carries the size; trees given the size learn the
#: ratio of the sizes they saw and hold it flat beyond them (measured: trained on arrays of
#: ≤ 16 units, a 4-16×-bigger output-stationary array came out 24 % high with the size
#: features, 7 % without).
SIZE_FEATURES = {"rows", "cols", "pes", "units", "log_units", "mult_bits", "acc_bits", "lut_est", "ff_est",
                 "log_lut_est", "log_ff_est", "n_mult", "n_acc", "add_bits", "op_reg_bits", "lut_bits", "reg_bits",
                 "table_bits", "mux_bits",
                 "log_lut_bits", "log_reg_bits"}
PE_FEATURES = [k for k in FEATURES if k not in SIZE_FEATURES]


def _tree_features(target: str) -> list[str]:
    return PE_FEATURES if target in SCALED else FEATURES


#: targets learned as a ratio to a linear base fitted on structural monomials (:func:`_monomials`)
SCALED = ("lut4_equiv", "ff")
#: targets whose prediction for a PE type the dataset measured (at any array size) is corrected
#: by that type's residuals: ``exp(c · [1, log rows, log cols])`` about the type's centre, ``c``
#: their ridge regression (:func:`_ridge`: one measurement is shrunk towards no correction, and
#: a slope needs several shapes). LUT4: a PE type's LUT4s per unit depend on operand widths,
#: signedness, accumulator and arithmetic together more sharply than trees shared by every type
#: can fit, and per row or column logic (a bit-serial column's digit sequencer) moves a type's
#: ratio with the shape (measured, 5-fold CV: LUT4 sMAPE 6.2 -> 5.8 % with a constant per type,
#: 5.35 -> 4.9 % with the slopes). Fmax: a type's critical path is its own, the array's shape
#: adds fanout (11.0 -> 10.7 %). Not FF: a register count is structural and the base already has
#: it (there it made small -> large worse).
CALIBRATED = ("lut4_equiv", "fmax_mhz")
TYPE_SHRINK, TYPE_RIDGE = 0.5, 1.0


def _type_terms(f: dict) -> list[float]:
    """What a PE type's correction is linear in: a constant and the array's shape."""
    return [1.0, math.log(f["rows"]), math.log(f["cols"])]


#: targets with a base: the trees are applied to a family only where cross-validation says
#: they improve on it
BASED = SCALED + ("fmax_mhz",)


def _monomials(f: dict) -> list[float]:
    """Sizes a LUT4 or FF count is close to linear in, within one engine family: accumulator,
    operand, multiplier (none in DSPs), adder-tree, edge-register and pipeline bits, per-PE
    control, and the skew registers' triangles (rows² · a bits, cols² · w bits; a weight- or
    input-stationary array's psum skew and de-skew, cols² · accumulator bits)."""
    cs = 2 if f["arith_carry_save"] else 1
    mult = 0 if f["dsp"] and f["arith_mac"] else f["n_mult"] * f["a_bits"] * f["w_bits"]
    skew = f["kind_systolic"]       # only a systolic array has the delay-line triangles
    return [1.0, f["pes"] * f["acc"] * cs, f["units"] * f["a_bits"], f["units"] * f["w_bits"], mult,
            f["add_bits"], f["mux_bits"], f["table_bits"],
            f["rows"] * f["depth"] * f["a_bits"] + f["cols"] * f["depth"] * f["w_bits"], f["cols"] * f["acc"],
            f["rows"] * f["acc"], f["pes"] * f["pipeline"] * (f["a_bits"] + f["w_bits"]), f["pes"],
            skew * f["rows"] ** 2 * f["depth"] * f["a_bits"], skew * f["cols"] ** 2 * f["depth"] * f["w_bits"],
            skew * f["cols"] ** 2 * f["acc"]]


def _choice(f: dict, prefix: str, choices) -> str:
    """Which of a one-hot's ``choices`` is set in features ``f`` (:func:`features`' columns
    ``prefix_choice``); "" for none."""
    return next((c for c in choices if f[f"{prefix}_{c}"]), "")


def _group(f: dict) -> str:
    """The engine family a base is fitted per: kind, a systolic array's dataflow, the DSP flow."""
    kind = _choice(f, "kind", KINDS)
    flow = _choice(f, "flow", DATAFLOWS) if kind == "systolic" else ""
    return f"{kind}:{flow}:{'dsp' if f['dsp'] else 'lut'}"


#: per target, how strongly a DSP flow's base is drawn to its LUT-flow sibling's (the same
#: family's coefficients): a DSP flow moves the multipliers into DSPs and leaves the rest, so
#: its registers are its sibling's, fitted on several times the points (measured on flip-flops,
#: with 9-38 points per DSP family: 5-fold CV sMAPE 1.24 -> 0.90 %, small -> large 2.65 -> 2.09 %).
#: Not LUT4: the multipliers' LUTs leave with them and the adders change (CV 4.90 -> 5.01 %).
SIBLING_PULL = {"ff": 0.01}


def _fit_base(rows: list[tuple[dict, float]], target: str) -> dict:
    """Per family with enough points (monomials + 4), non-negative least squares of the target
    on the monomials, relative error weighted; a DSP family whose LUT-flow sibling has a fit and
    whose target has a SIBLING_PULL, the same with every coefficient drawn to the sibling's
    (from 3 points); a family with fewer, the structural size (:func:`structure`) times the
    family's median ratio to it (all points' with fewer than 3)."""
    from scipy.optimize import nnls
    size = "lut_bits" if target == "lut4_equiv" else "reg_bits"

    def ratio(sel):
        return float(np.median([y / max(f[size], 1.0) for f, y in sel]))
    out = {"size": size, "ratio": ratio(rows), "by_group": {}, "ratio_by_group": {}}
    groups: dict[str, list] = {}
    for f, y in rows:
        groups.setdefault(_group(f), []).append((f, y))
    pull = SIBLING_PULL.get(target, 0.0)
    for g, sel in sorted(groups.items(), key=lambda kv: kv[0].endswith(":dsp")):     # siblings first
        X = np.array([_monomials(f) for f, _ in sel]) / np.array([[y] for _, y in sel], dtype=float)
        sib = out["by_group"].get(g.removesuffix(":dsp") + ":lut") if g.endswith(":dsp") and pull else None
        if sib and len(sel) >= 3:       # rows pulling each coefficient, in units of its mean share
            w = np.sqrt(pull * len(sel)) * np.maximum(X.mean(axis=0), 1e-12)
            A, b = np.vstack([X, np.diag(w)]), np.r_[np.ones(len(sel)), w * np.array(sib)]
            out["by_group"][g] = [float(c) for c in nnls(A, b, maxiter=4000)[0]]
        elif len(sel) >= X.shape[1] + 4:
            out["by_group"][g] = [float(c) for c in nnls(X, np.ones(len(sel)), maxiter=2000)[0]]
        elif len(sel) >= 3:
            out["ratio_by_group"][g] = ratio(sel)
    return out


def _dsp_multipliers(f: dict) -> float:
    """Multipliers a DSP flow gives DSPs: a MAC engine's products (the bit-weight arithmetics
    and the LUT and bit-serial engines have none)."""
    return float(f["n_mult"]) if f["dsp"] and f["arith_mac"] else 0.0


#: targets whose model reads another target's prediction, as the feature :data:`STACK_KEY`:
#: Fmax's base reads the LUT4 model's LUT4-equivalents per MAC unit: a PE with more logic has
#: the longer path, and the LUT4 model has seen about seven times the PE types that were placed.
#: Measured, 5-fold CV twice over 1,111 engines (156 placed): Fmax sMAPE 9.0 -> 7.4 %, on PE
#: types placed at another shape 6.4 -> 5.7 %, on new ones 11.7 -> 9.1 %. Trained on the LUT4
#: model's predictions, not the measured counts, as it is used (measured: 7.4 % either way); as
#: a tree feature as well, 7.6 %.
STACKED = {"fmax_mhz": "lut4_equiv"}
STACK_KEY = "stacked_lut4"


def _stack(target: str, rows: list[tuple[dict, float]], upstream: dict) -> list[tuple[dict, float]]:
    """``rows`` with each engine's features given the upstream model's prediction (:data:`STACKED`)."""
    sur = Surrogate({"features": FEATURES, "targets": {STACKED[target]: upstream}})
    return [({**f, STACK_KEY: sur.predict_features(f)[STACKED[target]]}, y) for f, y in rows]


#: the one-hot features of an engine's family (kind, systolic dataflow) and its PE's arithmetic
_FAMILY_ONEHOT = [k for k in FEATURES if k.startswith(("kind_", "flow_"))]
_ARITH_ONEHOT = [k for k in FEATURES if k.startswith("arith_")]


def _fmax_terms(f: dict) -> list[float]:
    """What an engine's critical path grows with, for the log-linear Fmax base: the family and
    arithmetic, pipelining, the multiplier's and accumulator's widths, the array's size (the
    fanout of its broadcast enables), a dot product's depth, and the logic per MAC unit (the
    LUT4 model's prediction, :data:`STACKED`); and, per family, log2 of the rows, columns and
    depth apart: each family has its own path across the array (an output-stationary array's
    drain multiplexes a column's rows, an adder tree sums a column's rows, a cube's dot
    product spans its depth). Measured, 5-fold CV Fmax sMAPE on 233 placed engines, two fold
    assignments: 6.85 -> 6.40 % and 6.74 -> 6.23 %; adding the per-family slopes on the
    operand and accumulator widths as well made it worse (6.5-6.6 %)."""
    family = [float(f[k]) for k in _FAMILY_ONEHOT]
    onehot = family + [float(f[k]) for k in _ARITH_ONEHOT]
    shape = [math.log2(f["rows"]), math.log2(f["cols"]), math.log2(f["depth"])]
    return onehot + [f["pipeline"], math.log2(f["a_bits"] * f["w_bits"]), f["acc"] / 32, math.log2(f["pes"]),
                     math.log2(f["depth"]), f["drain_shift"], f["table_full"], f["a_signed"] + f["w_signed"],
                     math.log(f[STACK_KEY] / f["units"])] + [k * v for k in family for v in shape]


def _fit_fmax_base(rows: list[tuple[dict, float]]) -> dict:
    """log(Fmax) as a ridge regression on :func:`_fmax_terms` (few placed points: a linear
    model extrapolates where trees hold flat; measured leave-one-out on 63 placed points,
    13 % error against the trees' 15 %)."""
    from sklearn.linear_model import RidgeCV
    X = np.array([_fmax_terms(f) for f, _ in rows])
    r = RidgeCV(alphas=np.logspace(-3, 2, 12)).fit(X, np.log([y for _, y in rows]))
    return {"loglinear": [float(r.intercept_)] + [float(c) for c in r.coef_]}


def _scale(base: dict | None, f: dict) -> float:
    if not base:
        return 1.0
    if "loglinear" in base:
        c = base["loglinear"]
        return math.exp(c[0] + float(np.dot(c[1:], _fmax_terms(f))))
    g = _group(f)
    if g in base["by_group"]:
        return max(float(np.dot(base["by_group"][g], _monomials(f))), 1.0)
    return max(f[base["size"]], 1.0) * base["ratio_by_group"].get(g, base["ratio"])


def _encode(target: str, y: float, scale: float) -> float:
    if target in ("dsp", "bram"):
        return math.log1p(y)
    return math.log(max(y, 1e-9) / scale)


def _decode(target: str, z: float, scale: float) -> float:
    if target in ("dsp", "bram"):
        return max(math.expm1(z), 0.0)
    return math.exp(z) * scale


def _trees(model) -> dict:
    """A fitted ``GradientBoostingRegressor`` as arrays: prediction = init + rate · Σ leaf values."""
    trees = []
    for est in model.estimators_[:, 0]:
        t = est.tree_
        trees.append({"left": t.children_left.tolist(), "right": t.children_right.tolist(),
                      "feature": t.feature.tolist(), "threshold": [float(x) for x in t.threshold],
                      "value": [float(f"{x:.7g}") for x in t.value[:, 0, 0]]})   # 7 digits: ~1e-7 of a log ratio
    init = float(np.asarray(model.init_.constant_).ravel()[0]) if hasattr(model.init_, "constant_") else float(
        model._raw_predict_init(np.zeros((1, model.n_features_in_)))[0, 0])
    return {"init": init, "rate": float(model.learning_rate), "trees": trees}


class Surrogate:
    """A fitted surrogate (from :func:`load`): ``predict(cfg, dsp=...)`` -> {target: value}."""

    def __init__(self, doc: dict, path: Path | None = None):
        self.doc, self.path = doc, path
        if doc.get("format", FORMAT) != FORMAT or doc.get("features") != FEATURES:
            raise SurrogateError(f"{path}: fitted on other features than this hwgen computes; refit it "
                             "(hwgen sweep fit DIR)")
        self.models = {}
        for target, m in doc["targets"].items():
            arr = {k: [t[k] for t in m["trees"]] for k in ("left", "right", "feature", "threshold", "value")}
            groups = m.get("tree_groups")
            self.models[target] = (m["init"], m["rate"], arr, m.get("base"), None if groups is None else set(groups),
                                   m.get("dsp_per_multiplier"), m.get("features", FEATURES), m.get("type_residual"))

    @staticmethod
    def _tree(arr, i, x) -> float:
        left, right, feat, thr, val = (arr[k][i] for k in ("left", "right", "feature", "threshold", "value"))
        node = 0
        while left[node] != -1:
            node = left[node] if x[feat[node]] <= thr[node] else right[node]
        return val[node]

    def predict_features(self, f: dict) -> dict:
        out, key = {}, None
        for target, (init, rate, arr, base, groups, per_mult, names, typed) in self.models.items():
            if per_mult is not None:
                out[target] = per_mult * _dsp_multipliers(f)
                continue
            if target in STACKED and STACK_KEY not in f:     # the upstream target is predicted first
                if STACKED[target] not in out:
                    raise SurrogateError(f"{self.path}: the {target} model reads the {STACKED[target]} model's "
                                         "prediction, and this surrogate has none; refit it (hwgen sweep fit DIR)")
                f = {**f, STACK_KEY: out[STACKED[target]]}
            if groups is not None and _group(f) not in groups:     # the base alone is better there
                out[target] = _scale(base, f)
            else:
                x = [f[k] for k in names]
                z = init + rate * sum(self._tree(arr, i, x) for i in range(len(arr["left"])))
                out[target] = _decode(target, z, _scale(base, f))
            if typed and key is None:      # the PE type's hash, once for every calibrated target
                key = _type_key(f)
            seen = typed and typed.get(key)
            if seen:            # a PE type the dataset measured: its residuals' regression
                out[target] *= math.exp(_type_correction(seen, f))
        return out

    def predict(self, cfg: HwgenConfig, *, dsp: bool = False) -> dict:
        return self.predict_features(features(cfg, dsp=dsp))

    def measured(self, f: dict) -> dict | None:
        """What the dataset measured for exactly this engine (features ``f``), if it has it."""
        return self.doc.get("measured", {}).get(_digest(f))

    @property
    def trained_on(self) -> dict:
        return self.doc.get("trained_on", {})


def default_path() -> Path:
    return Path(__file__).with_name("data") / "surrogate.json"


def load(path: Path | None = None) -> Surrogate:
    path = Path(path or default_path())
    try:
        doc = json.loads(path.read_text())
    except ValueError as e:
        raise SurrogateError(f"{path}: not a surrogate's JSON ({e})") from None
    except OSError as e:
        raise SurrogateError(f"{path}: no surrogate ({e.strerror}); fit one: hwgen sweep fit DIR") from None
    return Surrogate(doc, path)


def smape(y, p) -> float:
    y, p = np.asarray(y, float), np.asarray(p, float)
    den = np.abs(y) + np.abs(p)
    return float(np.mean(np.where(den > 0, 2 * np.abs(p - y) / np.where(den > 0, den, 1), 0.0)))


def r2(y, p) -> float:
    y, p = np.asarray(y, float), np.asarray(p, float)
    ss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - p) ** 2).sum()) / ss if ss > 0 else float("nan")


def samples(records: list[dict], *, flow: str = DEFAULT_FLOW) -> list[tuple[dict, dict]]:
    """(features, metrics) of every engine with synthesized resources, once: an engine that
    several sweeps synthesized (and placed) is one sample, so a held-out point never has its
    twin in the training set. Its Fmax is the one placed with the most nextpnr seeds. Only the
    records of one LUT-mapping ``flow`` (:data:`~hwgen.fpga.ooc.FLOWS`) are read: the surrogate
    learns the default (ABC9, least delay), and another flow is the same engine with other
    LUT4 counts."""
    from ..config import loads
    out: dict[str, tuple[dict, dict]] = {}
    for r in records:
        m = r.get("metrics", {})
        if ("ecp5_lut4_equiv" not in m or not r.get("config_yaml") or m.get("ecp5_fits") is False
                or _ecp5_setting(r, "flow", DEFAULT_FLOW) != flow):
            continue
        cfg = loads(r["config_yaml"], source=f"record {r['key']}")
        dsp = bool(m.get("ecp5_dsp", _ecp5_setting(r, "dsp", True)))
        f = features(cfg, dsp=dsp)
        key = _digest(f)      # the key `measured` is looked up by
        if key not in out:
            out[key] = (f, dict(m))
        elif m.get("ecp5_fmax_mhz") and _seeds(m) > _seeds(out[key][1]):
            out[key][1].update({k: v for k, v in m.items() if k.startswith("ecp5_fmax")})
    return list(out.values())


def _short_hash(values: list) -> str:
    import hashlib
    return hashlib.sha256(repr(values).encode()).hexdigest()[:16]


def _digest(f: dict) -> str:
    """The engine: every feature."""
    return _short_hash([f[k] for k in FEATURES])


def _type_key(f: dict) -> str:
    """The PE type of an engine, whatever its size: its family and PE features (a cube's depth
    is its size: N×N×N)."""
    return _short_hash([_group(f)] + [0 if k == "depth" and f["kind_cube"] else f[k] for k in PE_FEATURES])


def _seeds(m: dict) -> int:
    return len(m.get("ecp5_fmax_by_seed") or {}) or (1 if m.get("ecp5_fmax_mhz") else 0)


def _ecp5_setting(r: dict, key: str, default):
    """A setting of the record's ``ecp5`` step (:data:`~hwgen.dse.spec.ECP5_DEFAULTS`)."""
    for s in r.get("settings", {}).get("steps", []):
        if isinstance(s, dict) and "ecp5" in s:
            return s["ecp5"].get(key, default)
    return default


GBM = dict(n_estimators=400, max_depth=6, learning_rate=0.08, subsample=0.8, min_samples_leaf=3)


def _fit_target(target: str, data: list[tuple[dict, dict]], seed: int,
                upstream: dict | None = None) -> tuple[dict | None, int]:
    """One target's model as its JSON document: the linear base (LUT4, FF), the trees on the
    log ratio, and the families the trees are applied to (those where 5-fold cross-validation
    on the training points says the trees reduce the error; a good base is left alone). A
    :data:`STACKED` target needs its ``upstream`` model, fitted on the same points."""
    if target in STACKED and upstream is None:
        return None, 0
    rows = [(f, m[TARGETS[target]]) for f, m in data if m.get(TARGETS[target]) is not None]
    if target in STACKED:
        rows = _stack(target, rows, upstream)
    if len(rows) < 10:
        return None, 0
    if target == "dsp":         # a DSP per multiplier that yosys maps to one: linear in the count
        x = np.array([_dsp_multipliers(f) for f, _ in rows], dtype=float)
        y = np.array([v for _, v in rows], dtype=float)
        per = float(x @ y / (x @ x)) if x.any() else 0.0
        return {"init": 0.0, "rate": 0.0, "trees": [], "base": None, "dsp_per_multiplier": per}, len(rows)
    model = _fit_once(target, rows, seed)
    if target in BASED and model["trees"]:
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(rows)) % 5
        err: dict[str, list] = {}
        for k in range(5):
            m = _fit_once(target, [r for r, q in zip(rows, fold) if q != k], seed)
            sur = Surrogate({"features": FEATURES, "targets": {target: {**m, "tree_groups": None}}})
            for (f, y), q in zip(rows, fold):
                if q == k:
                    e = err.setdefault(_group(f), [0.0, 0.0])
                    e[0] += abs(_scale(m["base"], f) - y) / y
                    e[1] += abs(sur.predict_features(f)[target] - y) / y
        model["tree_groups"] = sorted(g for g, (b, t) in err.items() if t < b)
    if target in CALIBRATED:
        sur = Surrogate({"features": FEATURES, "targets": {target: model}})
        res: dict[str, list] = {}
        for f, y in rows:
            res.setdefault(_type_key(f), []).append((_type_terms(f), math.log(y / sur.predict_features(f)[target])))
        model["type_residual"] = {k: _ridge(v) for k, v in res.items()}
    return model, len(rows)


def _ridge(rows: list[tuple[list[float], float]]) -> list[float]:
    """A PE type's correction from its residuals ``[(terms, log(y / p))]``: the terms' means
    (the type's centre), then the ridge regression on the centred terms — its constant is the
    mean residual shrunk by TYPE_SHRINK (one measurement moves a prediction part of the way),
    its slopes by TYPE_RIDGE."""
    X = np.array([x for x, _ in rows])
    y = np.array([r for _, r in rows])
    centre = X[:, 1:].mean(axis=0)
    Z = X - np.r_[0.0, centre]
    pen = np.diag([TYPE_SHRINK] + [TYPE_RIDGE] * len(centre))
    c = np.linalg.solve(Z.T @ Z + pen, Z.T @ y)
    return [round(float(v), 6) for v in list(c) + list(centre)]


def _type_correction(fit: list[float], f: dict) -> float:
    """The log correction :func:`_ridge`'s ``fit`` (coefficients, then centre) gives engine ``f``."""
    x = _type_terms(f)
    k = len(x)
    return fit[0] + sum(c * (v - m) for c, v, m in zip(fit[1:k], x[1:], fit[k:]))


def _fit_once(target: str, rows: list[tuple[dict, float]], seed: int) -> dict:
    from sklearn.ensemble import GradientBoostingRegressor
    base = _fit_base(rows, target) if target in SCALED else _fit_fmax_base(rows) if target == "fmax_mhz" else None
    names = _tree_features(target)
    X = np.array([[f[k] for k in names] for f, _ in rows], dtype=float)
    z = np.array([_encode(target, y, _scale(base, f)) for f, y in rows])
    if np.ptp(z) == 0:          # e.g. no DSPs anywhere: the constant, no trees
        return {"init": float(z[0]), "rate": 0.0, "trees": [], "base": base, "tree_groups": None, "features": names}
    model = GradientBoostingRegressor(random_state=seed, **GBM).fit(X, z)
    return {**_trees(model), "base": base, "tree_groups": None, "features": names}


def fit(records: list[dict], *, seed: int = 0, flow: str = DEFAULT_FLOW, data: list[tuple[dict, dict]] | None = None) -> dict:
    """Fit every target on the records of one LUT-mapping ``flow`` (their :func:`samples`, if
    ``data`` has them already); the JSON-ready surrogate document."""
    data = samples(records, flow=flow) if data is None else data
    doc = {"format": FORMAT, "features": FEATURES, "gbm": GBM, "seed": seed, "targets": {},
           "trained_on": {"points": len(data), "flow": flow}}
    for target in TARGETS:          # an upstream target (STACKED) comes before the one reading it
        model, n = _fit_target(target, data, seed, doc["targets"].get(STACKED.get(target)))
        if model is not None:
            doc["targets"][target] = {**model, "points": n}
    # the training points' own measurements: an estimate of an engine the dataset has shows them
    doc["measured"] = {_digest(f): {t: m[k] for t, k in TARGETS.items() if m.get(k) is not None} for f, m in data}
    return doc
