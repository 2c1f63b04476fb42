"""The measured board builds the library reads: the package copy agrees with bench/results,
a config finds its own build first, bad results files are BoardsErrors."""
import json
from pathlib import Path

import pytest

from hwgen.config import load, loads
from hwgen.fpga.measured import BoardsError, board_clock, load_results, packaged, summary

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_copy_is_the_summary_of_the_bench_results():
    """bench/boards.py writes both; a hand edit of one (or a forgotten commit) shows here."""
    bench = json.loads((ROOT / "bench" / "results" / "boards.json").read_text())
    copy = json.loads((ROOT / "hwgen" / "fpga" / "data" / "boards.json").read_text())
    assert copy == summary(bench), "run: python bench/boards.py --collect (rewrites hwgen/fpga/data/boards.json)"
    assert packaged() == copy["results"] and len(copy["results"]) >= 1


def test_a_config_finds_its_own_build_first():
    results = packaged()
    small = load(ROOT / "examples" / "small_4x4.yaml")      # built for the OrangeCrab; the iCEBreaker has a 4x4 too
    label, mhz = board_clock(small, results)
    assert label.startswith("orangecrab (LFE5U-25F, systolic 4x4 int8xint8; its clock, timing met") and mhz == 48.0
    other = loads("name: other_4x4\narray: {rows: 4, cols: 4}\n")   # same engine shape, not built
    label, mhz = board_clock(other, results)
    assert label.startswith("icebreaker") and mhz == 40.5   # the first 4x4 build in the file
    assert board_clock(loads("name: o\narray: {rows: 4, cols: 6}\n"), results) is None   # no 4x6 build


def test_engine_dimensions_match_exactly():
    rec = {"board": "b", "array": "systolic 4x48 int8xint8", "timing_met": True, "clock": {"requested_mhz": 10}}
    assert board_clock(loads("name: s\narray: {rows: 4, cols: 4}\n"), [rec]) is None   # was a prefix match
    assert board_clock(loads("name: s\narray: {rows: 4, cols: 48}\n"), [rec])[1] == 10
    assert board_clock(loads("name: s\narray: {rows: 4, cols: 48}\n"), [{**rec, "timing_met": False}]) is None


def test_one_synth_report_is_a_results_file(tmp_path):
    rep = {"board": "icebreaker", "device": "iCE40UP5K", "array": "systolic 2x2 int8xint8", "timing_met": True,
           "clock": {"requested_mhz": 24.0, "achieved_mhz": 30.1}, "config_hash": "x"}
    (tmp_path / "report.json").write_text(json.dumps(rep))
    assert load_results(tmp_path / "report.json") == [rep]


@pytest.mark.parametrize("text, fragment", [
    (None, "nope.json: cannot read (No such file or directory)"),
    ("{", "not JSON (Expecting property name"),
    (b"\xff", "not JSON ("),
    ("[1, 2]", "expected a board results file (an object with \"results\""),
    ('{"results": {}}', "\"results\" must be a list of builds"),
    ('{"results": [1]}', "results[0]: expected an object"),
    ('{"results": [{"board": "b", "array": "systolic 2x2", "timing_met": "yes", "clock": {}}]}',
     "results[0]: timing_met must be a bool, got 'yes'"),
    ('{"results": [{"board": "b", "array": "systolic 2x2", "timing_met": true, "clock": {"requested_mhz": -1}}]}',
     "results[0]: clock.requested_mhz must be a positive number of MHz, got -1"),
    ('{"results": [{"board": "b", "array": 7, "timing_met": true, "clock": {}}]}', "array must be a str, got 7"),
])
def test_bad_results_files(tmp_path, text, fragment):
    path = tmp_path / "nope.json"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BoardsError) as e:
        load_results(path)
    assert str(e.value).startswith(str(path)) and fragment in str(e.value), str(e.value)
