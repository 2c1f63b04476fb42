"""The fit estimate of the PIM banks (soc.pim): block RAM by the ports each memory has, LUT RAM
for the small ones on the ECP5, the GEMV units' LUT4s/FFs and their DSPs, and a refusal that
names the banks. Calibration numbers: ``python bench/pim_fit.py`` (bench/results/pim_fit.json)."""
import dataclasses
import json
import subprocess

import pytest

from hwgen.config import load, loads
from hwgen.fpga.boards import BOARDS, CAPACITY
from hwgen.fpga.fit import NotFitting, bram_blocks, check_estimate, dsp_plan, estimate, pim_dsps, pim_logic
from hwgen.fpga.shell import board_config, pll_for

BASE = """name: p
array: {rows: 4, cols: 8}
soc:
  a_words: 1024
  w_words: 16
  acc_words: 256
  scale_words: 4
  pim: {banks: %d, rows: %d, lanes: %d, vec_words: %d, out_words: %d, row_buffers: %d, formats: %s}
"""


def cfg(banks=4, rows=512, lanes=8, vec=16, out=16, rb=2, formats="[int8]"):
    return loads(BASE % (banks, rows, lanes, vec, out, rb, formats))


def pim_bram(c, family):
    return sum(v for k, v in estimate(c, CAPACITY["ecp5-85k" if family == "ecp5" else "ice40-up5k"])
               .detail["bram_by_memory"].items() if k.startswith("pim"))


def test_two_read_ports_need_true_dual_port_blocks():
    # ECP5: a read-write port and the GEMV's read port: 1024x18 blocks (36 wide only write + read)
    assert bram_blocks("ecp5", 512, 64) == 2 and bram_blocks("ecp5", 512, 64, read_ports=2) == 4
    assert bram_blocks("ecp5", 4096, 64, read_ports=2) == 16
    # iCE40: one read port per SB_RAM40_4K, so a copy per read port
    assert bram_blocks("ice40", 512, 64, read_ports=2) == 2 * bram_blocks("ice40", 512, 64) == 16


# (banks, rows, lanes, vec, out, row buffers, formats) -> PimBanks alone, yosys 0.70 synth_ecp5 / synth_ice40 -dsp
# with the board script's memory settings: (LUT4 + 2·CCU2C + 2·TRELLIS_DPR16X4 | SB_LUT4, FF, block RAMs, DSPs)
MEASURED = {
    ("ecp5", 1, 4096, 8, 16, 16, 2, "[int8]"): (1654, 1125, 16, 8),
    ("ecp5", 4, 512, 8, 16, 16, 2, "[int8]"): (6981, 4209, 16, 32),
    ("ecp5", 4, 4096, 8, 16, 16, 2, "[int8, int4]"): (7430, 4279, 64, 32),
    ("ecp5", 4, 512, 8, 64, 64, 2, "[int8]"): (6266, 2677, 64, 32),
    ("ecp5", 4, 512, 8, 32, 32, 2, "[int8]"): (9327, 4211, 16, 32),
    ("ecp5", 4, 512, 8, 16, 16, 1, "[int8]"): (6961, 4209, 8, 32),
    ("ecp5", 4, 512, 4, 16, 16, 2, "[int8]"): (3395, 2154, 8, 16),
    ("ecp5", 4, 512, 16, 16, 16, 2, "[int8]"): (14195, 8312, 32, 64),
    ("ice40", 1, 512, 8, 16, 16, 2, "[int8]"): (1372, 735, 40, 8),
    ("ice40", 2, 256, 4, 16, 16, 2, "[int8]"): (1475, 735, 32, 8),
    ("ice40", 4, 512, 8, 64, 64, 2, "[int8]"): (5845, 2677, 160, 32),
    ("ice40", 1, 256, 4, 16, 16, 1, "[int8]"): (773, 409, 14, 4),
}


@pytest.mark.parametrize("key", list(MEASURED), ids=lambda k: "-".join(map(str, k[:7])).replace(" ", ""))
def test_pim_estimate_matches_the_measured_banks(key):
    family, *shape = key
    lut, ff, bram, dsp = MEASURED[key]
    c = cfg(*shape)
    assert pim_bram(c, family) == bram                  # exact
    assert pim_dsps(c) == dsp                           # a lane's 9x8 product: one MULT18X18D / SB_MAC16
    e_lut, e_ff = pim_logic(c, family, True)
    tol = 0.08 if family == "ecp5" else 0.16            # calibrated on the ECP5
    assert abs(e_lut / lut - 1) < tol and abs(e_ff / ff - 1) < tol, (e_lut, lut, e_ff, ff)


def test_pim_multipliers_take_dsps_first():
    cap = CAPACITY["ecp5-85k"]
    c = cfg(banks=11, rows=4096)
    eng, rq, used = dsp_plan(c, cap)
    assert eng and rq and used == 88 + 32 + 2 and estimate(c, cap).detail["pim_dsp"] == 88
    # 16 banks x 8 lanes leave 28 of 156: the engine's 32 multipliers go to LUTs, the output stage keeps one
    eng, rq, used = dsp_plan(cfg(banks=16, rows=16), cap)
    assert not eng and rq and used == 128 + 2
    # more lanes than the device has DSPs: no DSPs at all (yosys would map every product to one)
    assert dsp_plan(cfg(banks=20, rows=16), cap) == (False, False, 0)
    assert estimate(cfg(banks=20, rows=16), cap).lut4 > estimate(cfg(banks=16, rows=16), cap).lut4 + 4 * 8 * 100


def test_refusal_names_the_pim_banks_and_suggests_smaller_ones():
    cap = CAPACITY["ecp5-85k"]
    with pytest.raises(NotFitting) as e:
        check_estimate(cfg(banks=14, rows=4096), cap)
    msg = str(e.value)
    assert "needs ~240 block RAMs (~224 in the PIM banks), LFE5U-85F has 208" in msg
    assert "try soc.pim.rows: 2048 or soc.pim.banks: 12" in msg
    with pytest.raises(NotFitting, match=r"LUT4 \(~[\d,]+ in the PIM banks\).*try soc.pim.banks: \d+$"):
        check_estimate(cfg(banks=4, rows=512, lanes=64), cap)


def test_ulx3s_pim_example_fits_and_reads_the_banks():
    from hwgen.soc.layout import Geometry
    b = BOARDS["ulx3s"]
    c = board_config(load("examples/ulx3s_pim.yaml"), pll_for(b, b.sync_hz))
    e = check_estimate(c, b.capacity)
    assert Geometry(c).npu_reads_pim and e.engine_dsp and e.dsp <= b.capacity.dsp
    p = c.soc.pim
    assert e.detail["bram_by_memory"]["pim"] == p.banks * p.rows * p.word_bits // 16384   # every bit of 16 Kbit used


def test_board_script_maps_a_bank_to_one_copy_of_block_ram(tmp_path):
    """The board script's memory settings (hwgen.fpga.synth.yosys_script): a bank's data memory
    with port A read-write and the GEMV's port B maps to true dual-port DP16KDs once, as the
    estimate counts it (without the collision mask yosys built two copies: 32 for 16)."""
    from amaranth.back import rtlil

    from hwgen.config import PimConfig
    from hwgen.fpga.synth import yosys_script
    from hwgen.memory.pim import PimBanks
    from hwgen.tools import yosys_command
    p = PimConfig(banks=1, rows=4096, lanes=8, vec_words=16, out_words=16)
    (tmp_path / "t.il").write_text(rtlil.convert(PimBanks(p), name="t"))
    (tmp_path / "s.ys").write_text(yosys_script("ecp5", True, True, top="t", engine="t.none", netlist="n.v"))
    subprocess.run([*yosys_command(), "-q", "s.ys"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    cells = json.loads((tmp_path / "synth_stat.json").read_text())["design"]["num_cells_by_type"]
    c = dataclasses.replace(cfg(banks=1, rows=4096), name="t")
    assert cells["DP16KD"] == pim_bram(c, "ecp5") == 16
    assert cells["MULT18X18D"] == 8
