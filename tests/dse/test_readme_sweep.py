"""The README's sweep section: the example sweep, its report, the dataset's summary and the
estimate print what the README quotes (timings and the order points finish in aside)."""
import re
from pathlib import Path

import pytest

from hwgen.cli import main

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "README.md").read_text().split("## Design-space sweeps", 1)[1].split("\n## ", 1)[0]


def _blocks() -> list[str]:
    return re.findall(r"```console\n(.*?)```", SECTION, re.S)


def _commands(block: str) -> list[tuple[list[str], list[str]]]:
    """(argv, quoted output lines) per `$ hwgen ...` in a console block."""
    out = []
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
        first, *rest = chunk.rstrip("\n").split("\n")
        out.append((first.split()[1:], rest))
    return out


VARYING = re.compile(r"^\[\d+/\d+\] |^dask: |predicted in [\d.]+ ms")


def _stable(lines: list[str]) -> list[str]:
    return [ln for ln in lines if not VARYING.search(ln)]


def test_the_readme_sweep_report_and_estimate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    (sweep_block, estimate_block) = _blocks()
    cmds = _commands(sweep_block) + _commands(estimate_block)
    assert [c[0][:2] for c in cmds] == [["sweep", "examples/sweeps/systolic_grid.yaml"], ["sweep", "report"],
                                         ["estimate", "examples/small_4x4.yaml"]]
    out_dir = str(tmp_path / "grid")               # the README's build/ stays untouched
    for argv, quoted in cmds:
        argv = [out_dir if a == "build/sweeps/systolic_grid" else a for a in argv]
        assert main(argv) == 0
        got = capsys.readouterr().out.replace(out_dir, "build/sweeps/systolic_grid").rstrip("\n").split("\n")
        assert _stable(got) == _stable(quoted)
