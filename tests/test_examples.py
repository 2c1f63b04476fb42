"""Every bundled example generates and passes the simulated golden check."""
from pathlib import Path

import pytest

from hwgen.config import load
from hwgen.generate import generate
from hwgen.sim.runner import sim

EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_generates_and_simulates(path, tmp_path, seed):
    cfg = load(path)
    g = generate(cfg, tmp_path / "gen")
    assert g.verilog.exists()
    assert sim(cfg, seed=seed, work_dir=tmp_path / "sim").ok
