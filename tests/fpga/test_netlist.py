"""The netlist check on one iCE40 and one ECP5 build: the technology-mapped accelerator,
simulated with yosys' cell models (plus hwgen's DP16KD/MULT18X18D models) in Verilator,
runs a driver GEMM bit-exactly. Slow (a gate-level Verilator build each): run by
``make netlist-check`` (CI runs it), not by ``make test``."""
import pytest

from hwgen.config import load
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.netlist import UNMODELLED, cell_models, check_netlist

pytestmark = pytest.mark.netlist


@pytest.mark.parametrize("board", ["icebreaker", "orangecrab"])
def test_netlist_gemm_is_bit_exact(tmp_path, seed, board):
    b = BOARDS[board]
    res = check_netlist(load(b.example), b, tmp_path, seed=seed, log=print)
    print(res["summary"])
    assert res["ok"], res["summary"]
    assert res["cycles"] > 100_000  # it really pushed frames through the UART


def test_models_cover_the_mapped_cells():
    ecp5 = cell_models("ecp5")
    assert "module DP16KD" in ecp5["dp16kd_sim.v"] and "module MULT18X18D" in ecp5["mult18x18d_sim.v"]
    assert "module DP16KD(" not in ecp5["cells_sim.v"]  # yosys' parameter-only stub is replaced
    assert "module SB_RAM40_4K" in cell_models("ice40")["cells_sim.v"]
    assert "PDPW16KD" in UNMODELLED["ecp5"]
