"""docs/pim.md quotes the table of bench/results/pim_decode.json (the Verilated device's
counters), verbatim: a rerun of bench/pim_decode.py that changes a number shows here."""
import json
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def test_docs_quote_the_measured_table():
    table = json.loads((ROOT / "bench" / "results" / "pim_decode.json").read_text())["table"]
    assert table in (ROOT / "docs" / "pim.md").read_text()


def test_measured_points_are_all_exact_and_every_mode_is_there():
    rows = json.loads((ROOT / "bench" / "results" / "pim_decode.json").read_text())["rows"]
    assert all(r["exact"] for r in rows)
    assert {r["column"] for r in rows} == {"npu", "pim", "interleave", "interleave-1rb"}
    assert {r["batch"] for r in rows} == {1, 4, 16, 32} and {r["context"] for r in rows} == {64, 256}
