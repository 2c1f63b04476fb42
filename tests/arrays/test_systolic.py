"""cocotb + Verilator on the emitted Verilog, checked bit-exactly against hwgen.golden.

Each config runs ``hwgen.sim.default_plan``: no-stall performance shapes, random shapes
that are not multiples of the array with random valid/ready stalls, extreme values and
zeros, and all-extreme operands that overflow narrow accumulators.
"""
import dataclasses
import random

import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
from hwgen.numerics import parse_format
from hwgen.sim.runner import default_plan, sim

# (rows, cols, dataflow, a, w, acc, overflow[, arith]): every size, format and overflow rule
# the foundation promises appears with both dataflows somewhere in this list.
CASES = [
    (1, 1, "output_stationary", "int8", "int8", 32, "wrap"),
    (1, 1, "weight_stationary", "int8", "int8", 16, "saturate"),
    (2, 3, "output_stationary", "int4", "int8", 16, "saturate"),
    (2, 3, "weight_stationary", "int8", "int2", 32, "wrap"),
    (3, 2, "output_stationary", "int2", "int8", 16, "wrap"),
    (4, 4, "output_stationary", "uint8", "int8", 32, "wrap"),
    (4, 4, "weight_stationary", "uint8", "int8", 16, "saturate"),
    (4, 4, "weight_stationary", "int8", "int4", 16, "wrap"),
    (8, 8, "output_stationary", "int8", "int8", 32, "wrap"),
    (8, 8, "weight_stationary", "int8", "int8", 16, "saturate"),
    # carry-save PEs (OPT1); acc 20 wraps on the all-extreme GEMMs
    (4, 3, "output_stationary", "int8", "int8", 20, "wrap", "carry_save"),
    (3, 4, "weight_stationary", "uint8", "int4", 16, "wrap", "carry_save"),
    # input-stationary: the WS grid with the activations held (C^T = W^T A^T)
    (3, 4, "input_stationary", "uint8", "int4", 16, "saturate"),
    (4, 2, "input_stationary", "int4", "int8", 14, "wrap", "carry_save"),
]


def make(rows, cols, dataflow, a, w, acc, overflow, arith="mac") -> HwgenConfig:
    name = f"t{rows}x{cols}_{dataflow[0]}s_{a}_{w}_{acc}{overflow[0]}_{arith}"
    return HwgenConfig(name=name, array=ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, pe=PEConfig(
        a=parse_format(a), w=parse_format(w), acc=acc, overflow=overflow, arith=arith)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: make(*c).name)
def test_array_matches_golden(case, seed, tmp_path):
    cfg = make(*case)
    res = sim(cfg, seed=seed, work_dir=tmp_path)  # raises SimFailure (with the seed) on mismatch
    assert res.ok and len(res.gemms) == len(default_plan(cfg, random.Random(seed)))
    assert all(g["ok"] and g["mismatches"] == 0 for g in res.gemms)


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary"])
def test_one_tile_cycle_count(dataflow, tmp_path):
    """OS: one tile of K steps takes K + R + C + 1 cycles; WS: M + R + C + 1 after the load."""
    cfg = make(8, 8, dataflow, "int8", "int8", 32, "wrap")
    shape = dict(m=8, k=256, n=8) if dataflow == "output_stationary" else dict(m=256, k=8, n=8)
    res = sim(cfg, seed=1, gemms=[shape], work_dir=tmp_path)
    g = res.gemms[0]
    if dataflow == "output_stationary":
        assert g["cycles"] == 256 + 8 + 8 + 1
        assert g["utilization"] >= 0.90
    else:
        assert g["cycles"] == 8 + 256 + 8 + 8 + 1  # weight load, rows, pipeline depth


def test_back_to_back_os_tiles_overlap(tmp_path):
    """Tiles with K ≥ max(R, C) follow each other without gaps: 4 tiles cost 4·K + R + C + 1."""
    cfg = make(4, 4, "output_stationary", "int8", "int8", 32, "wrap")
    res = sim(cfg, seed=2, gemms=[dict(m=8, k=16, n=8), dict(m=4, k=1, n=4), dict(m=8, k=2, n=8)],
              work_dir=tmp_path)
    assert res.gemms[0]["cycles"] == 4 * 16 + 4 + 4 + 1
    # short tiles (K < max(R, C)) are spaced out by the array, still exact
    assert all(g["ok"] for g in res.gemms)


@pytest.mark.parametrize("overflow,acc", [("wrap", 32), ("saturate", 18)])
@pytest.mark.parametrize("pipeline", [1, 2, 3])
def test_pipelined_pe_is_exact_and_later_by_its_depth(pipeline, overflow, acc, seed, tmp_path):
    """``pe.pipeline: 1`` registers the product, ``2`` the operands too, ``3`` the product
    twice (with ``>= 2`` the stall enable is registered, behind an output buffer): same
    results under stalls and extremes, that many more cycles per tile, back-to-back tiles
    still overlap."""
    base = make(3, 4, "output_stationary", "int8", "uint4", acc, overflow)
    cfg = HwgenConfig(name=f"{base.name}_p{pipeline}", array=ArrayConfig(rows=3, cols=4, pe=PEConfig(
        a=base.array.pe.a, w=base.array.pe.w, acc=acc, overflow=overflow, pipeline=pipeline)))
    res = sim(cfg, seed=seed, work_dir=tmp_path)
    assert res.ok and all(g["ok"] for g in res.gemms)
    one = sim(cfg, seed=1, gemms=[dict(m=3, k=64, n=4), dict(m=6, k=16, n=8)], work_dir=tmp_path / "one")
    extra = pipeline + (pipeline >= 3) + (pipeline == 2)  # the output buffer (3), the hold step (2)
    assert one.gemms[0]["cycles"] == 64 + 3 + 4 + 1 + extra
    assert one.gemms[1]["cycles"] == 4 * 16 + 3 + 4 + 1 + extra


@pytest.mark.parametrize("pipeline,overflow", [(0, "saturate"), (2, "wrap"), (3, "wrap")])
def test_shift_drain_is_exact_and_overlaps_from_its_min_k(pipeline, overflow, seed, tmp_path):
    """``drain: shift`` (hold registers move up their columns, no row multiplexer): the same
    results under stalls, extremes and short tiles; a tile's last row leaves R - 1 cycles
    later; tiles of K >= 2R + C - 1 still follow each other (``pipeline: 2``: with one
    bubble), and shorter ones (down to K = 1, or one short of the minimum) are spaced out
    and still exact."""
    from hwgen.arrays.systolic import os_extra_latency, os_min_tile_k, os_tile_gap
    R, C = 3, 4
    cfg = HwgenConfig(name=f"t3x4_drain_shift_p{pipeline}", array=ArrayConfig(rows=R, cols=C, drain="shift", pe=PEConfig(
        a=parse_format("int8"), w=parse_format("uint4"), acc=18 if overflow == "saturate" else 32, overflow=overflow,
        pipeline=pipeline)))
    res = sim(cfg, seed=seed, work_dir=tmp_path)
    assert res.ok and all(g["ok"] for g in res.gemms)
    L = os_min_tile_k(cfg.array)
    assert L == 2 * R + C - 1 and os_extra_latency(cfg.array) >= R - 1
    one = sim(cfg, seed=1, gemms=[dict(m=R, k=64, n=C), dict(m=2 * R, k=L, n=2 * C), dict(m=2 * R, k=1, n=2 * C),
                                  dict(m=2 * R, k=L - 1, n=2 * C)], work_dir=tmp_path / "one")
    assert all(g["ok"] for g in one.gemms)
    extra = os_extra_latency(cfg.array)
    assert one.gemms[0]["cycles"] == 64 + R + C + 1 + extra
    # pipeline 2 clears each accumulator in a bubble after a tile's last beat
    assert os_tile_gap(cfg.array) == (pipeline == 2)
    assert one.gemms[1]["cycles"] == 4 * max(L, L + os_tile_gap(cfg.array)) - os_tile_gap(cfg.array) + R + C + 1 + extra


def test_shift_drain_only_where_it_applies():
    from hwgen.config import FieldError
    with pytest.raises(FieldError, match="drain"):
        ArrayConfig(rows=2, cols=2, dataflow="weight_stationary", drain="shift")
    with pytest.raises(FieldError, match="drain"):
        ArrayConfig(rows=2, cols=2, drain="shift", pe=PEConfig(arith="carry_save"))


def test_pipeline_only_where_it_applies():
    from hwgen.config import FieldError
    with pytest.raises(FieldError, match="pipeline"):
        ArrayConfig(rows=2, cols=2, dataflow="weight_stationary", pe=PEConfig(pipeline=1))
    with pytest.raises(FieldError, match="registers a MAC's product"):
        PEConfig(arith="carry_save", pipeline=1)


def test_registered_multiplier_targets():
    """``pipeline >= 2``: generic RTL unless the elaboration targets ECP5 DSPs, then one
    MULT18X18D per PE with input/output registers on the sync clock and the stall enable."""
    from hwgen.generate import emit_verilog
    from hwgen.pe.mul import DspTarget
    cfg = HwgenConfig(name="p3", array=ArrayConfig(rows=2, cols=3, pe=PEConfig(pipeline=3)))
    generic, _ = emit_verilog(cfg)
    ecp5, _ = emit_verilog(cfg, platform=DspTarget("ecp5"))
    assert "MULT18X18D" not in generic
    assert ecp5.count("MULT18X18D #(") == 6 and '.REG_INPUTA_CLK("CLK0")' in ecp5 and '.REG_OUTPUT_CE("CE0")' in ecp5
    assert emit_verilog(dataclasses.replace(cfg, name="p1", array=dataclasses.replace(
        cfg.array, pe=PEConfig(pipeline=1))), platform=DspTarget("ecp5"))[0].count("MULT18X18D") == 0


def test_ice40_dual_multipliers_and_accumulator_cells():
    """``pipeline: 2`` for iCE40 DSPs: neighbouring PEs of a row share one SB_MAC16 in its
    8×8 mode (an odd last column keeps a multiplier of its own), and each accumulator bit
    is one SB_LUT4 (sum, or the product on a tile's first step) beside one SB_CARRY."""
    from hwgen.generate import emit_verilog
    from hwgen.pe.mac import _RESTART_ADD_INIT
    from hwgen.pe.mul import DspTarget
    cfg = HwgenConfig(name="p2", array=ArrayConfig(rows=2, cols=3, pe=PEConfig(pipeline=2)))
    ice40, _ = emit_verilog(cfg, platform=DspTarget("ice40"))
    assert ice40.count("SB_MAC16 #(") == 2 and ".MODE_8x8(1'h1)" in ice40 and ".A_SIGNED(1'h1)" in ice40
    assert ".TOPOUTPUT_SELECT(2'h2)" in ice40 and ".BOT_8x8_MULT_REG(1'h1)" in ice40
    assert ice40.count("SB_LUT4 #(") == 6 * 32 and ice40.count("SB_CARRY ") == 6 * 31
    assert f"16'h{_RESTART_ADD_INIT:04x}" in ice40
    generic, _ = emit_verilog(cfg)
    assert "SB_MAC16" not in generic and "SB_LUT4" not in generic
    sat = dataclasses.replace(cfg, name="p2s", array=dataclasses.replace(
        cfg.array, pe=PEConfig(pipeline=2, overflow="saturate")))
    assert "SB_LUT4" not in emit_verilog(sat, platform=DspTarget("ice40"))[0]   # saturation: generic adder
