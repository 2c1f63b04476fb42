"""Boards, PLL settings, the board shell and the fit check (no place-and-route here)."""
import dataclasses
import sys
import json

import pytest

from hwgen.config import load, loads
from hwgen.fpga.boards import BOARDS, CAPACITY, board
from hwgen.fpga.fit import NotFitting, bram_blocks, check_cells, check_estimate, dsp_plan, engine_dsps, estimate
from hwgen.fpga.ooc import DoesNotFit
from hwgen.fpga.shell import BoardShell, board_config, pll_ecp5, pll_for, pll_ice40
from hwgen.fpga.synth import prepare_dir
from hwgen.tools import ToolError


@pytest.mark.parametrize("fin,want", [(12e6, 42e6), (12e6, 48e6), (12e6, 30e6), (12e6, 100e6)])
def test_ice40_pll_within_limits(fin, want):
    p = pll_ice40(int(fin), want).params
    fpfd = fin / (p["DIVR"] + 1)
    fvco = fpfd * (p["DIVF"] + 1)
    fout = fvco / 2 ** p["DIVQ"]
    assert 10e6 <= fpfd <= 133e6 and 533e6 <= fvco <= 1066e6
    assert abs(fout - want) / want < 0.02
    assert pll_ice40(int(fin), want).fout_hz == fout


@pytest.mark.parametrize("fin,want", [(25e6, 50e6), (25e6, 100e6), (48e6, 48e6), (48e6, 65e6)])
def test_ecp5_pll_within_limits(fin, want):
    pll = pll_ecp5(int(fin), want)
    p = pll.params
    fout = fin / p["CLKI_DIV"] * p["CLKFB_DIV"]
    assert 400e6 <= fout * p["CLKOP_DIV"] <= 800e6
    assert fin / p["CLKI_DIV"] >= 3.125e6
    assert abs(fout - want) / want < 0.02 and pll.fout_hz == fout
    assert p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1


def test_pll_out_of_range():
    with pytest.raises(ValueError, match="iCE40 PLL cannot make 500.0 MHz"):
        pll_ice40(12_000_000, 500e6)


def test_unknown_board():
    with pytest.raises(KeyError, match="known boards: icebreaker, ulx3s, orangecrab"):
        board("arty")


@pytest.mark.parametrize("name", list(BOARDS))
def test_shell_elaborates_with_board_pins(name):
    """The shell gets clock, UART and PLL from amaranth-boards and the constraints list them."""
    b = BOARDS[name]
    cfg = load(b.example)
    pll = pll_for(b, b.sync_hz)
    plan = b.platform_instance().prepare(BoardShell(cfg, b, pll), name="t")
    cons = plan.files["t.pcf" if b.family == "ice40" else "t.lpf"]
    assert "uart_0__rx" in cons and "uart_0__tx" in cons
    il = plan.files["t.il"]
    assert ("SB_PLL40_PAD" if b.family == "ice40" else "EHXPLLL") in il
    # the accelerator's UART divisor follows the clock the PLL really makes
    assert board_config(cfg, pll).soc.clock_hz == int(round(pll.fout_hz))


def test_bundled_examples_pass_the_estimate():
    for b in BOARDS.values():
        check_estimate(board_config(load(b.example), pll_for(b, b.sync_hz)), b.capacity)


def test_estimate_refuses_early_with_numbers_and_a_suggestion():
    cfg = load("examples/systolic_8x8.yaml")
    with pytest.raises(NotFitting) as e:
        check_estimate(cfg, CAPACITY["ice40-up5k"])
    msg = str(e.value)
    assert "does not fit iCE40UP5K" in msg and "needs ~" in msg and "iCE40UP5K has 5,280" in msg
    assert "try rows: " in msg and "EBRs" in msg
    deep = loads("name: deep\narray: {rows: 2, cols: 2}\nsoc: {a_words: 16384, w_words: 16384, acc_words: 4096}\n")
    with pytest.raises(NotFitting, match=r"needs ~\d+ EBRs, iCE40UP5K has 30: try soc.a_words: \d+, soc.w_words: "):
        check_estimate(deep, CAPACITY["ice40-up5k"])


def test_bram_count_is_exact_for_the_block_shapes():
    assert bram_blocks("ice40", 512, 32) == 4          # 2 x 256x16 deep, 2 wide
    assert bram_blocks("ice40", 2048, 2) == 1
    assert bram_blocks("ecp5", 2048, 64) == 8          # 2048x9 x 8 (or 512x36 x 2 x 4)
    assert bram_blocks("ecp5", 1024, 36) == 2


def test_dsp_plan_engine_in_dsps_only_when_all_fit():
    small = load("examples/icebreaker_2x2.yaml")
    eng, other, used = dsp_plan(small, CAPACITY["ice40-up5k"])
    assert eng and other and used <= 8
    big = load("examples/small_4x4.yaml")
    eng, other, used = dsp_plan(big, CAPACITY["ice40-up5k"])
    assert not eng and other and used <= 8             # 16 engine multipliers do not fit 8 DSPs
    assert dsp_plan(big, CAPACITY["ecp5-25k"])[0]
    paired = load("examples/icebreaker_4x4.yaml")   # pipeline 2: two multipliers per SB_MAC16
    assert engine_dsps(paired, "ice40") == 8 and engine_dsps(paired, "ecp5") == 16
    assert dsp_plan(paired, CAPACITY["ice40-up5k"]) == (True, False, 8)   # output stage: shift-and-add


def test_nextpnr_over_capacity_is_read_from_its_log():
    from hwgen.fpga.ooc import over_capacity
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    5838/   5280   110%\n"
           "Info: \t        ICESTORM_RAM:      27/     30    90%\n")
    assert over_capacity(log) == [("ICESTORM_LC", 5838, 5280)]
    assert over_capacity(log.replace("5838", "5198")) == []
    assert over_capacity("Info:     Total LUT4s:     126031/83640   150%\n") == [("LUT4s", 126031, 83640)]


def test_cells_check_names_the_resource():
    cfg = load("examples/icebreaker_2x2.yaml")
    used = {"lut4": 6000, "ff": 2000, "bram": 10, "dsp": 9, "carry": 0}
    with pytest.raises(DoesNotFit, match=r"after synthesis: needs 9 DSPs, iCE40UP5K has 8; needs 6,000 logic cells"):
        check_cells(cfg, CAPACITY["ice40-up5k"], used)


def test_build_dir_never_takes_over_a_users_directory(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    with pytest.raises(ToolError, match="was not made by hwgen synth"):
        prepare_dir(d)
    assert (d / "notes.txt").read_text() == "keep me"
    ok = prepare_dir(tmp_path / "new")
    assert prepare_dir(ok) == ok  # its own directory is reused


def test_estimate_scales_with_the_engine():
    cfg = loads("name: e\narray: {rows: 4, cols: 4}\n")
    e4 = estimate(cfg, CAPACITY["ecp5-85k"])
    e8 = estimate(dataclasses.replace(cfg, array=dataclasses.replace(cfg.array, rows=8, cols=8)),
                  CAPACITY["ecp5-85k"])
    assert e8.lut4 > e4.lut4 and e8.ff > e4.ff and json.dumps(e8.as_dict())


def test_synth_cli_errors(tmp_path, capsys):
    from hwgen.cli import main
    assert main(["synth", "examples/icebreaker_2x2.yaml"]) == 2
    assert "give --board (icebreaker, ulx3s, orangecrab) or --ooc" in capsys.readouterr().err
    assert main(["synth", "examples/icebreaker_2x2.yaml", "--ooc", "--device", "ice40-up5k",
                 "-o", str(tmp_path / "o")]) == 1
    assert "--ooc needs an ECP5 device" in capsys.readouterr().err
    # too big for the board: refused from the estimate, before any tool runs, nothing written
    out = tmp_path / "big"
    assert main(["synth", "examples/systolic_8x8.yaml", "--board", "icebreaker", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not fit iCE40UP5K" in err and "try rows: " in err
    assert not out.exists()
    assert main(["synth", "examples/icebreaker_2x2.yaml", "--board", "icebreaker", "--freq", "900"]) == 1
    assert "PLL cannot make 900.0 MHz" in capsys.readouterr().err


def test_baud_error_is_refused(capsys):
    """19.875 MHz (the nearest iCE40 PLL clock to 20 MHz) gives 1.046 Mbaud with divisor 19."""
    from hwgen.cli import main
    assert main(["synth", "examples/icebreaker_2x2.yaml", "--board", "icebreaker", "--freq", "20"]) == 1
    assert "4.6% off soc.baud 1,000,000" in capsys.readouterr().err


def test_default_board_clocks_divide_the_baud_exactly():
    for b in BOARDS.values():
        cfg = board_config(load(b.example), pll_for(b, b.sync_hz))
        assert cfg.soc.clock_hz % cfg.soc.baud == 0, (b.name, cfg.soc.clock_hz)


def test_long_tools_report_progress(tmp_path):
    """run_tool streams the log and reports its last line while the tool runs."""
    from hwgen.tools import run_tool
    seen = []
    script = "import time\nfor i in range(6):\n    print('Info: step', i, flush=True)\n    time.sleep(0.25)\n"
    out = run_tool([sys.executable, "-c", script], tmp_path / "t.log", what="t", progress=seen.append, every=0.4)
    assert "Info: step 5" in out and seen and all("Info: step" in s for s in seen)
    with pytest.raises(ToolError, match="timed out after 0.5 s; log: "):
        run_tool([sys.executable, "-c", "import time; time.sleep(5)"], tmp_path / "u.log", what="t", timeout=0.5)
    with pytest.raises(ToolError, match=r"t failed \(exit 3\); log: "):
        run_tool([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "v.log", what="t")


@pytest.mark.parametrize("speed", ["", "u"])
def test_synthesis_keeps_hwgen_dsp_configuration(tmp_path, speed):
    """yosys' ice40_dsp re-configures every SB_MAC16 it meets as a 16×16 multiplier; the
    board script hides hwgen's own (the 8×8 pairs of ``pe.pipeline: 2``) from it, so they
    come out of synthesis as they went in. The script's own LUT-mapping step (abc9 with the
    grade's timing model) runs for the default grade and the UP5K's."""
    import re
    import subprocess

    from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
    from hwgen.fpga.synth import yosys_script
    from hwgen.generate import emit_verilog
    from hwgen.pe.mul import DspTarget
    from hwgen.tools import yosys_command
    cfg = HwgenConfig(name="dual8", array=ArrayConfig(rows=1, cols=2, pe=PEConfig(pipeline=2)))
    (tmp_path / "in.v").write_text(emit_verilog(cfg, platform=DspTarget("ice40"))[0])
    script = yosys_script("ice40", True, True, top="dual8", engine="dual8", netlist="net.v", speed=speed)
    (tmp_path / "s.ys").write_text(script.replace("read_rtlil dual8.il", "read_verilog in.v"))
    subprocess.run([*yosys_command(), "-q", "s.ys"], cwd=tmp_path, check=True, capture_output=True)
    net = (tmp_path / "net.v").read_text()
    cells = re.findall(r"SB_MAC16 #\((.*?)\)\s*\S+\s*\(", net, re.S)
    assert len(cells) == 1
    assert ".MODE_8x8(1'h1)" in cells[0] and ".A_REG(1'h1)" in cells[0] and ".TOPOUTPUT_SELECT(2'h2)" in cells[0]
    assert re.search(r"\bSB_LUT4\b", net) and re.search(r"\bSB_CARRY\b", net)   # mapped, accumulators on carries


def test_up5k_script_maps_luts_for_the_up5k():
    """The iCEBreaker's build asks yosys for the UP5K's timing model and a routing delay per
    LUT level like the UP5K's (yosys' default, 250 ps, lets ABC trade levels for area)."""
    from hwgen.fpga.boards import BOARDS
    from hwgen.fpga.synth import ICE40_WIRE_PS, yosys_script
    cap = BOARDS["icebreaker"].capacity
    script = yosys_script("ice40", True, True, speed=cap.speed)
    assert cap.speed == "u" and "-device u" in script and "-D ICE40_U " in script
    assert f"abc9 -W {ICE40_WIRE_PS}" in script and ICE40_WIRE_PS >= 1000
    assert script.index("-run :map_luts") < script.index("abc9") < script.index("-run map_cells:")


def test_seed_sweep_keeps_the_first_seed_that_meets_else_the_fastest(tmp_path):
    """``hwgen synth --seeds N``: seeds are tried in order until one meets the clock; the
    placed design, report and log left in the build directory are the chosen seed's."""
    from hwgen.fpga.synth import seed_sweep
    placed, report = tmp_path / "d.asc", tmp_path / "pnr_report.json"

    def fake(results):
        def place(seed):
            placed.write_text(f"design of seed {seed}")
            report.write_text(str(results[seed]))
            return results[seed]
        return place
    chosen, tries = seed_sweep(fake({1: 38.0, 2: 41.0, 3: 45.0}), range(1, 4), 40.5, [placed, report], log=lambda *a: None)
    assert chosen == 2 and [t["seed"] for t in tries] == [1, 2] and placed.read_text() == "design of seed 2"
    chosen, tries = seed_sweep(fake({1: 38.0, 2: 39.5, 3: 37.0}), range(1, 4), 40.5, [placed, report], log=lambda *a: None)
    assert chosen == 2 and len(tries) == 3 and placed.read_text() == "design of seed 2" and report.read_text() == "39.5"
    assert not list(tmp_path.glob("*.best"))
    chosen, tries = seed_sweep(fake({5: 50.0}), range(5, 6), 40.5, [placed, report], log=lambda *a: None)
    assert chosen == 5 and tries == [{"seed": 5, "achieved_mhz": 50.0}]
    # 40.479 MHz is not 40.5 MHz, however it is rounded for the report
    chosen, tries = seed_sweep(fake({1: 40.479, 2: 40.52}), range(1, 3), 40.5, [placed, report], log=lambda *a: None)
    assert chosen == 2 and tries == [{"seed": 1, "achieved_mhz": 40.48}, {"seed": 2, "achieved_mhz": 40.52}]


def test_an_ecp5_board_build_can_map_its_luts_for_area_and_an_ice40_one_says_it_cannot(tmp_path):
    """``hwgen synth --flow abc9_area``: the ECP5 board script (and the netlist check's, which
    reads the build's flow from its report) runs synth_ecp5 up to its LUT mapping, ABC9 with a
    delay target no path reaches, then the rest; the iCE40 build maps its own way, and asking
    it for another flow is an error before anything runs."""
    import pytest

    from hwgen.cli import main
    from hwgen.fpga.ooc import AREA_DELAY_PS
    from hwgen.fpga.synth import yosys_script
    from hwgen.tools import ToolError
    assert "\nsynth_ecp5 -top hwgen_board\n" in yosys_script("ecp5", True, True)     # yosys' default mapping
    script = yosys_script("ecp5", False, False, flow="abc9_area")
    assert script.index("synth_ecp5 -nodsp -top hwgen_board -run :map_luts") < \
        script.index(f"abc9 -W 300 -D {AREA_DELAY_PS}") < script.index("-run map_cells:")
    with pytest.raises(ToolError, match="--flow abc9_area: the LUT-mapping flows are the ECP5's"):
        yosys_script("ice40", True, True, flow="abc9_area")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: c\narray: {rows: 1, cols: 1, pe: {a: int4, w: int4, acc: 12}}\n")
    assert main(["synth", str(cfg), "--board", "icebreaker", "--flow", "abc9_area", "-o", str(tmp_path / "b")]) != 0
    assert not (tmp_path / "b").exists()
