"""The sweep's report (table, Pareto fronts as PNG), the surrogate (its JSON trees predict what
scikit-learn's do) and `hwgen estimate`, on the committed dataset's records."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.config import load
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
    sur = S.load()
    p = sur.predict(load(cfg_path))
    assert 500 < p["lut4_equiv"] < 50_000 and 100 < p["ff"] < 20_000 and 20 < p["fmax_mhz"] < 400
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


def test_a_measured_pe_type_corrects_every_size_of_it_and_no_other_type():
    """The calibration: an engine whose PE type the dataset measured (at any size) is scaled by
    that type's mean residual, shrunk by TYPE_SHRINK; another type is left alone."""
    from hwgen.config import loads
    base = load(ROOT / "examples" / "small_4x4.yaml")
    text = (ROOT / "examples" / "small_4x4.yaml").read_text()
    bigger = loads(text.replace("rows: 4", "rows: 6"), source="bigger")
    other = loads(text.replace("acc: 32", "acc: 24"), source="other")
    f_seen, f_big, f_other = (S.features(c, dsp=False) for c in (base, bigger, other))
    assert f_big["rows"] == 6 and f_other["acc"] == 24
    assert S._type_key(f_seen) == S._type_key(f_big) != S._type_key(f_other)
    flat = {"init": 0.0, "rate": 0.0, "trees": [], "base": None, "features": S.PE_FEATURES}   # predicts 1
    n, ratio = 2, 1.3          # two engines of the type measured, each 1.3x what the model says
    doc = {"features": S.FEATURES, "targets": {"lut4_equiv": {
        **flat, "type_residual": {S._type_key(f_seen): [n * np.log(ratio), n]}}}}
    sur = S.Surrogate(doc)
    want = ratio ** (n / (n + S.TYPE_SHRINK))
    assert sur.predict_features(f_seen)["lut4_equiv"] == pytest.approx(want)
    assert sur.predict_features(f_big)["lut4_equiv"] == pytest.approx(want)
    assert sur.predict_features(f_other)["lut4_equiv"] == pytest.approx(1.0)


def test_type_spread_predicts_each_engine_from_its_type_at_other_sizes():
    data = S.samples(load_records(DATASET))
    same = A.type_spread(data)
    assert same["points"] >= 3 * same["types"] > 0
    for target in S.SCALED:
        assert 0 < same[target]["smape"] < 0.2
        assert sum(v["n"] for v in same[target]["by_family"].values()) == same["points"]


def test_seed_spread_measures_nextpnr_noise_and_the_floor_it_sets():
    """Ranges per engine, and every seed's Fmax taken as the prediction of every other's."""
    recs = [{"status": "ok", "metrics": {"ecp5_fmax_by_seed": {"1": 100.0, "2": 110.0}}},
            {"status": "ok", "metrics": {"ecp5_fmax_by_seed": {"1": 50.0, "2": 50.0, "3": 50.0}}},
            {"status": "ok", "metrics": {"ecp5_fmax_mhz": 70.0}},            # one seed: not counted
            {"status": "timeout", "metrics": {"ecp5_fmax_by_seed": {"1": 1.0, "2": 9.0}}}]
    s = A.seed_spread(recs)
    assert (s["points"], s["seeds"]) == (2, 3)
    assert s["median_range"] == pytest.approx(round((10 / 105) / 2, 4))
    # 2 ordered pairs 2·10/210 apart, 6 pairs exact
    assert s["seed_to_seed_smape"] == pytest.approx(round(2 * (20 / 210) / 8, 4))
    assert A.seed_spread(recs[2:]) is None
