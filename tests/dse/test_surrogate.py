"""The sweep's report (table, Pareto fronts as PNG), the surrogate (its JSON trees predict what
scikit-learn's do) and `hwgen estimate`, on the committed dataset's records."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwgen.cli import main
from hwgen.config import load, loads
from hwgen.dse import accuracy as A
from hwgen.dse import surrogate as S
from hwgen.dse.report import load_records, pareto, report

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "bench" / "results" / "dse_dataset"
FMAX = ROOT / "bench" / "results" / "dse_fmax"


def _some(tmp: Path, n: int) -> Path:
    """A sweep directory holding ``n`` records of each committed dataset (synthesized, and placed)."""
    (tmp / "points").mkdir(parents=True)
    for src in (DATASET, FMAX):
        recs = [p for p in sorted((src / "points").glob("*.json")) if json.loads(p.read_text())["status"] == "ok"]
        for p in recs[:n]:
            shutil.copy(p, tmp / "points" / p.name)
    return tmp


def _small(rows: int, cols: int, *, a: str = "int8", w: str = "int8", acc: int = 32, dsp: bool = False) -> dict:
    """examples/small_4x4.yaml at another shape and PE type, as the surrogate's features."""
    doc = yaml.safe_load((ROOT / "examples" / "small_4x4.yaml").read_text())
    doc["array"].update(rows=rows, cols=cols)
    doc["array"]["pe"].update(a=a, w=w, acc=acc)
    return S.features(loads(yaml.safe_dump(doc), source=f"{rows}x{cols} {a}x{w} acc {acc}"), dsp=dsp)


def test_pareto_front():
    pts = [(1, 1), (2, 3), (2, 2), (3, 3), (4, 5), (5, 4), (0.5, 0.5)]
    assert pareto(pts) == [6, 0, 1, 4]


def test_report_writes_the_table_and_three_figures(tmp_path, capsys):
    d = _some(tmp_path, 30)
    assert main(["sweep", "report", str(d)]) == 0
    out = capsys.readouterr().out
    assert "median LUT4-eq" in out and "Pareto point" in out and "GMAC/s" in out
    for name in ("pareto_throughput_area", "pareto_fmax_area", "efficiency_by_arith"):
        png = d / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "![pareto_fmax_area](pareto_fmax_area.png)" in (d / "report" / "report.md").read_text()
    with pytest.raises(Exception, match="no sweep records"):
        report(tmp_path / "nothing")


def test_the_json_trees_predict_what_scikit_learn_predicts():
    from sklearn.ensemble import GradientBoostingRegressor
    data = S.samples(load_records(DATASET))[:150]
    X = np.array([[f[k] for k in S.FEATURES] for f, _ in data])
    z = np.array([np.log(m["ecp5_lut4_equiv"]) for f, m in data])
    model = GradientBoostingRegressor(n_estimators=40, max_depth=3, learning_rate=0.1, random_state=1).fit(X, z)
    sur = S.Surrogate({"features": S.FEATURES, "targets": {"lut4_equiv": {**S._trees(model), "base": None}}})
    for (f, _), want in zip(data, model.predict(X)):
        assert sur.predict_features(f)["lut4_equiv"] == pytest.approx(np.exp(want), rel=1e-6)


def test_fit_needs_enough_points_and_estimate_names_a_missing_surrogate(tmp_path, capsys):
    d = _some(tmp_path / "few", 4)
    assert main(["sweep", "fit", str(d)]) == 1
    assert "a surrogate needs at least 20" in capsys.readouterr().err
    assert main(["estimate", str(ROOT / "examples" / "small_4x4.yaml"), "--surrogate", str(tmp_path / "no.json")]) == 1
    assert "no surrogate" in capsys.readouterr().err


def test_estimate_with_the_committed_surrogate(capsys):
    cfg_path = ROOT / "examples" / "small_4x4.yaml"
    assert main(["estimate", str(cfg_path), "--board", "ulx3s"]) == 0
    out = capsys.readouterr().out
    assert "LUT4-equivalents" in out and "predicted in" in out and "Fmax MHz" in out
    assert "GEMM 64x64x64" in out and "fit on ulx3s (LFE5U-85F)" in out and "surrogate: the packaged one" in out
    # beside each prediction, the surrogate's own held-out error on engines of this arithmetic
    acc = json.loads(S.default_path().read_text())["accuracy"]["5-fold cross-validation"]
    assert f"{acc['lut4_equiv']['by_arith']['mac']['smape']:.1%} (mac engines, " in out
    assert f"{acc['fmax_mhz']['by_arith']['mac']['smape']:.1%} (mac engines, " in out
    sur = S.load()
    p = sur.predict(load(cfg_path))
    assert 500 < p["lut4_equiv"] < 50_000 and 100 < p["ff"] < 20_000 and 20 < p["fmax_mhz"] < 400
    assert main(["estimate", str(cfg_path), "--dsp"]) == 0      # no DSP-flow engine placed: Fmax says so
    assert "note: Fmax: no engine of the DSP flow was placed for training" in capsys.readouterr().out
    with pytest.raises(SystemExit):       # argparse: ECP5 boards only (the surrogate is the ECP5's)
        main(["estimate", str(cfg_path), "--board", "icebreaker"])
    assert "invalid choice: 'icebreaker'" in capsys.readouterr().err


def test_a_fit_loads_and_predicts_and_a_surrogate_of_another_format_is_refused(tmp_path, capsys, monkeypatch):
    d = _some(tmp_path / "some", 40)
    out = tmp_path / "sur.json"
    monkeypatch.setitem(S.GBM, "n_estimators", 40)     # the full 400 trees take minutes on 2 cores
    assert main(["sweep", "fit", str(d), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "5-fold cross-validation" in text and "units <= 16 -> larger" in text and "lut4_equiv" in text
    acc = json.loads((d / "surrogate_accuracy.json").read_text())
    assert set(acc["accuracy"]) == {"random 80/20", "units <= 16 -> larger", "5-fold cross-validation"}
    cv = acc["accuracy"]["5-fold cross-validation"]["lut4_equiv"]      # apart: PE types measured in training or new
    assert cv["seen_type"]["n"] + cv["new_type"]["n"] == cv["n"] and "new PE type" in text
    assert sum(q["n"] for q in cv["by_arith"].values()) == cv["n"] and "LUT4 sMAPE by the PE's arithmetic: " in text
    sur = S.load(out)
    p = sur.predict(load(ROOT / "examples" / "small_4x4.yaml"))
    assert all(p[t] > 0 for t in ("lut4_equiv", "ff", "fmax_mhz")) and p["dsp"] == 0
    # the trees of LUT4 and FF see the PE's type only: the size is the base's
    doc = json.loads(out.read_text())
    assert doc["targets"]["lut4_equiv"]["features"] == S.PE_FEATURES and "rows" not in S.PE_FEATURES
    doc["format"] = "hwgen-surrogate-1"
    out.write_text(json.dumps(doc))
    with pytest.raises(S.SurrogateError, match="refit it"):
        S.load(out)


def test_a_measured_pe_type_follows_its_own_trend_with_the_shape_and_no_other_type_is_touched():
    """The calibration: a PE type the dataset measured at several shapes is corrected by the
    regression of its residuals on log rows and log cols, so a type whose LUT4s per unit grow
    with the rows is predicted at a shape it was not measured at; a type it did not measure is
    left as the trees say."""
    def truth(f):           # type acc 32 grows 10 % per doubling of the rows; acc 24 is flat
        return 3.0 * f["lut_bits"] * (1 + 0.15 * np.log2(f["rows"]) if f["acc"] == 32 else 1.0)
    data = [(f, {"ecp5_lut4_equiv": truth(f)}) for acc in (32, 24) for r in (2, 3, 4, 6, 8) for c in (2, 4, 6)
            for f in [_small(r, c, acc=acc)]]
    model, n = S._fit_target("lut4_equiv", data, 0)
    assert n == 30 and len(model["type_residual"]) == 2
    sur = S.Surrogate({"features": S.FEATURES, "targets": {"lut4_equiv": model}})
    far = _small(16, 4)        # twice the rows of any measured
    assert sur.predict_features(far)["lut4_equiv"] == pytest.approx(truth(far), rel=0.03)
    unseen = _small(4, 4, acc=20)
    assert S._type_key(unseen) not in model["type_residual"]
    bare = S.Surrogate({"features": S.FEATURES, "targets": {"lut4_equiv": {**model, "type_residual": None}}})
    assert sur.predict_features(unseen) == bare.predict_features(unseen)


def test_a_dsp_family_with_few_points_borrows_its_lut_siblings_flip_flop_law():
    """Flip-flops: a DSP flow's family measured at a few sizes is fitted drawn to the same
    family's LUT-flow coefficients, so it predicts a size it was not measured at."""
    def law(x):                 # the same registers in both flows
        m = S._monomials(x)
        return 40 + 1.0 * m[1] + 2.0 * m[2] + 1.5 * m[13]
    lut = [(x, law(x)) for r in (1, 3, 6) for c in (1, 2, 5) for a in ("int4", "int8") for w in ("int2", "int8")
           for acc in (20, 32) for x in [_small(r, c, a=a, w=w, acc=acc)]]
    dsp = [(x, law(x)) for r, c in ((2, 2), (3, 2), (2, 4)) for x in [_small(r, c, dsp=True)]]
    base = S._fit_base(lut + dsp, "ff")
    assert "systolic:output_stationary:dsp" in base["by_group"]
    far = _small(8, 6, dsp=True)
    assert S._scale(base, far) == pytest.approx(law(far), rel=0.02)


def test_fmax_reads_the_lut4_models_logic_per_unit_and_needs_it():
    """Stacking: Fmax's base has the LUT4 model's LUT4s per unit as a term, so a PE type that was
    synthesized but never placed, whose logic per unit is unlike its neighbours' (here: a 24-bit
    accumulator costs more than a 32-bit one), gets the Fmax its logic says; a surrogate without
    the LUT4 model cannot predict Fmax, and says so."""
    def lut4(f):
        return 2.0 * f["lut_bits"] * {20: 1.0, 24: 1.7, 32: 1.2}[f["acc"]]

    def fmax(f):                # the critical path grows with the logic per unit, and nothing else
        return 300.0 * (lut4(f) / f["units"] / 100) ** -0.5
    data = [(f, {"ecp5_lut4_equiv": lut4(f), "ecp5_fmax_mhz": fmax(f) if acc != 24 else None})
            for acc in (20, 24, 32) for w in ("int4", "int8") for r, c in ((2, 2), (3, 4), (4, 3), (6, 2))
            for f in [_small(r, c, w=w, acc=acc)]]
    lut, _ = S._fit_target("lut4_equiv", data, 0)
    assert S._fit_target("fmax_mhz", data, 0) == (None, 0)          # no upstream model: no Fmax model
    fm, n = S._fit_target("fmax_mhz", data, 0, lut)
    assert (n, len(data)) == (16, 24)                                 # acc 24: synthesized only
    sur = S.Surrogate({"features": S.FEATURES, "targets": {"lut4_equiv": lut, "fmax_mhz": fm}})
    for acc in (20, 24, 32):
        far = _small(8, 5, acc=acc)          # a shape never placed
        assert sur.predict_features(far)["fmax_mhz"] == pytest.approx(fmax(far), rel=0.05)
    alone = S.Surrogate({"features": S.FEATURES, "targets": {"fmax_mhz": fm}})
    with pytest.raises(S.SurrogateError, match="reads the lut4_equiv model's prediction"):
        alone.predict_features(far)


def test_only_the_default_lut_mapping_is_learned():
    """A record synthesized by another LUT-mapping flow (abc9_area: ABC9 mapping for area) is the
    same engine with other LUT4 counts: samples() leaves it out, so it never stands in for the
    default flow's measurement."""
    import copy
    rec = next(r for r in load_records(DATASET) if r["status"] == "ok" and "ecp5_lut4_equiv" in r["metrics"])
    area = copy.deepcopy(rec)
    (step,) = [s for s in area["settings"]["steps"] if isinstance(s, dict) and "ecp5" in s]
    step["ecp5"]["flow"] = "abc9_area"
    area["metrics"]["ecp5_lut4_equiv"] = rec["metrics"]["ecp5_lut4_equiv"] // 2
    assert [m["ecp5_lut4_equiv"] for _, m in S.samples([area, rec])] == [rec["metrics"]["ecp5_lut4_equiv"]]
    assert S.samples([area]) == []
    assert [m["ecp5_lut4_equiv"] for _, m in S.samples([area, rec], flow="abc9_area")] == [area["metrics"]["ecp5_lut4_equiv"]]


def test_type_spread_predicts_each_engine_from_its_type_at_other_sizes():
    data = S.samples(load_records(DATASET))
    same = A.type_spread(data)
    assert same["points"] >= 3 * same["types"] > 0
    for target in S.SCALED:
        assert 0 < same[target]["smape"] < 0.2
        assert sum(v["n"] for v in same[target]["by_family"].values()) == same["points"]


def test_shape_roughness_is_zero_for_an_array_law_and_measures_a_zigzag():
    """A PE type whose count follows per-unit, per-row, per-column and skew costs exactly is
    predicted exactly from its other shapes; one that zigzags ±4 % about that law, the
    roughest there is (each neighbour is off the other way), is about 8 % off; types at fewer
    than 20 shapes are left out."""
    def law(x):
        r, c = x["rows"], x["cols"]
        return 300 * r * c + 40 * r + 25 * c + 6 * r * r + 9 * c * c + 500
    grid = [_small(r, c) for r in range(1, 7) for c in range(1, 7)]
    smooth = [(x, {"ecp5_lut4_equiv": law(x), "ecp5_ff": law(x) / 3}) for x in grid]
    zig = [(x, {"ecp5_lut4_equiv": law(x) * (1.04 if (x["rows"] + x["cols"]) % 2 else 0.96), "ecp5_ff": law(x)})
           for x in [_small(r, c, acc=24) for r in range(1, 7) for c in range(1, 7)]]
    few = [(x, {"ecp5_lut4_equiv": 1000.0, "ecp5_ff": 100.0}) for x in [_small(r, 2, acc=20) for r in range(1, 7)]]
    rough = A.shape_roughness(smooth + zig + few)
    assert (rough["points"], rough["types"]) == (72, 2)
    by = rough["lut4_equiv"]["by_type"]
    assert by["systolic:output_stationary:lut 8x8 acc 32 mac"] == {"n": 36, "smape": 0.0}
    assert 0.06 < by["systolic:output_stationary:lut 8x8 acc 24 mac"]["smape"] < 0.09
    assert rough["ff"]["smape"] == 0.0
    assert A.shape_roughness(few) is None


def test_seed_spread_measures_nextpnr_noise_and_the_floor_it_sets():
    """Ranges per engine, and every seed's Fmax taken as the prediction of every other's."""
    recs = [{"status": "ok", "metrics": {"ecp5_fmax_by_seed": {"1": 100.0, "2": 110.0}}},
            {"status": "ok", "metrics": {"ecp5_fmax_by_seed": {"1": 50.0, "2": 50.0, "3": 50.0}}},
            {"status": "ok", "metrics": {"ecp5_fmax_mhz": 70.0}},            # one seed: not counted
            {"status": "timeout", "metrics": {"ecp5_fmax_by_seed": {"1": 1.0, "2": 9.0}}}]
    s = A.seed_spread(recs)
    assert (s["points"], s["min_seeds"], s["seeds"]) == (2, 2, 3)
    assert s["median_range"] == pytest.approx(round((10 / 105) / 2, 4))
    # 2 ordered pairs 2·10/210 apart, 6 pairs exact
    assert s["seed_to_seed_smape"] == pytest.approx(round(2 * (20 / 210) / 8, 4))
    assert A.seed_spread(recs[2:]) is None


def test_an_estimates_held_out_error_is_its_arithmetics_when_enough_engines_had_it():
    from types import SimpleNamespace

    from hwgen.dse import estimate as E
    cv = {"lut4_equiv": {"smape": 0.05, "n": 100, "by_arith": {"mac": {"n": 80, "smape": 0.03},
                                                                "carry_save": {"n": 5, "smape": 0.2}}}}
    sur = SimpleNamespace(doc={"accuracy": {E.HELD_OUT_SPLIT: cv}})
    assert E._held_out(sur, "mac") == {"lut4_equiv": {"smape": 0.03, "n": 80, "of": "mac engines"}}
    assert E._held_out(sur, "carry_save") == {"lut4_equiv": {"smape": 0.05, "n": 100, "of": "all engines"}}
    assert E._held_out(SimpleNamespace(doc={}), "mac") == {}        # a surrogate fitted without the check


def test_a_surrogate_of_the_area_mapped_lut4_count(tmp_path, capsys, monkeypatch):
    """``hwgen sweep fit --flow abc9_area`` learns the records of that LUT mapping only (the
    committed area_flow sweep's output-stationary int8 MAC grid: 36 engines) and says so; the
    default flow finds none there."""
    area = tmp_path / "area"
    (area / "points").mkdir(parents=True)
    for p in (ROOT / "bench" / "results" / "area_flow" / "points").glob("*.json"):
        if json.loads(p.read_text())["part"] == "os_mac":
            shutil.copy(p, area / "points" / p.name)
    with pytest.raises(S.SurrogateError, match="0 points synthesized by the abc9 flow"):
        A.fit_dir([area], tmp_path / "none.json", log=lambda _: None)
    monkeypatch.setitem(S.GBM, "n_estimators", 40)     # the full 400 trees take a minute on 2 cores
    assert main(["sweep", "fit", str(area), "--flow", "abc9_area", "-o", str(tmp_path / "area.json")]) == 0
    doc = json.loads((tmp_path / "area.json").read_text())
    assert doc["trained_on"]["flow"] == "abc9_area" and doc["trained_on"]["points"] == 36
    capsys.readouterr()
    cfg = ROOT / "examples" / "small_4x4.yaml"
    assert main(["estimate", str(cfg), "--surrogate", str(tmp_path / "area.json")]) == 0
    out = capsys.readouterr().out
    assert "LUTs mapped by abc9_area" in out
    # the area-mapped OS int8 MAC 4x4 measured 6,619 LUT4-equivalents (9,288 at least delay)
    assert "6,619" in out
