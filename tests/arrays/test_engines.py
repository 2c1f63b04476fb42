"""Every engine kind × every arithmetic it supports, simulated with cocotb + Verilator and
checked bit-exactly against hwgen.golden (``hwgen.sim.default_plan``: no-stall shapes,
random shapes with stalls, extremes and zeros, all-extreme overflow GEMMs, and for
bit-serial engines run-time precisions and normally distributed weights), with int8 and
a narrower weight format each; plus the cycle counts each engine promises."""
import random

import numpy as np
import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
from hwgen.golden.encoding import sparse_serial_cycles
from hwgen.numerics import parse_format
from hwgen.sim.runner import default_plan, sim

# (kind, rows, cols, depth, arith, a, w, acc, overflow)
CASES = [
    ("cube", 2, 2, 2, "mac", "int8", "int8", 32, "wrap"),
    ("cube", 3, 3, 3, "mac", "uint8", "int4", 16, "saturate"),
    ("cube", 2, 2, 2, "carry_save", "int8", "int8", 20, "wrap"),
    ("cube", 3, 3, 3, "carry_save", "int8", "uint4", 16, "wrap"),
    ("cube", 2, 2, 2, "compressor_tree", "int8", "int8", 32, "wrap"),
    ("cube", 3, 3, 3, "compressor_tree", "uint8", "int2", 14, "wrap"),
    ("matrix2d", 2, 3, 4, "mac", "int8", "int8", 32, "wrap"),
    ("matrix2d", 3, 2, 2, "mac", "int8", "int4", 16, "saturate"),
    ("matrix2d", 2, 3, 4, "carry_save", "int8", "int8", 32, "wrap"),
    ("matrix2d", 3, 2, 3, "carry_save", "uint8", "int4", 16, "wrap"),
    ("matrix2d", 2, 3, 4, "compressor_tree", "int8", "int8", 20, "wrap"),
    ("matrix2d", 3, 2, 5, "compressor_tree", "int4", "uint4", 14, "wrap"),
    ("adder_tree", 4, 3, 1, "mac", "int8", "int8", 32, "wrap"),
    ("adder_tree", 5, 2, 1, "mac", "uint8", "int4", 16, "saturate"),
    ("adder_tree", 4, 3, 1, "compressor_tree", "int8", "int8", 20, "wrap"),
    ("adder_tree", 5, 2, 1, "compressor_tree", "int8", "int3", 16, "wrap"),
    ("bit_serial", 3, 2, 1, "mac", "int8", "int8", 32, "wrap"),
    ("bit_serial", 2, 3, 1, "mac", "uint8", "uint4", 16, "wrap"),
    ("bit_serial", 3, 2, 1, "sparse_serial", "int8", "int8", 20, "wrap"),
    ("bit_serial", 2, 3, 1, "sparse_serial", "int8", "int4", 16, "wrap"),
]


def make(kind, rows, cols, depth, arith, a, w, acc, overflow) -> HwgenConfig:
    flow = "weight_stationary" if kind == "adder_tree" else "output_stationary"
    name = f"e_{kind}{rows}x{cols}x{depth}_{arith}_{a}_{w}_{acc}{overflow[0]}"
    pe = PEConfig(a=parse_format(a), w=parse_format(w), acc=acc, overflow=overflow, arith=arith)
    return HwgenConfig(name=name, array=ArrayConfig(rows=rows, cols=cols, kind=kind, dataflow=flow, depth=depth, pe=pe))


@pytest.mark.parametrize("case", CASES, ids=lambda c: make(*c).name[2:])
def test_engine_matches_golden(case, seed, tmp_path):
    cfg = make(*case)
    res = sim(cfg, seed=seed, work_dir=tmp_path)  # raises SimFailure (with the seed) on mismatch
    assert len(res.gemms) == len(default_plan(cfg, random.Random(seed)))
    assert all(g["ok"] and g["mismatches"] == 0 for g in res.gemms)


def test_dot_engine_cycles(tmp_path):
    """One tile of K/D beats takes K/D + R + 2 cycles; tiles with K/D ≥ R overlap fully."""
    cfg = make("cube", 4, 4, 4, "compressor_tree", "int8", "int8", 32, "wrap")
    res = sim(cfg, seed=3, gemms=[dict(m=4, k=256, n=4), dict(m=8, k=64, n=8)], work_dir=tmp_path)
    assert res.gemms[0]["cycles"] == 64 + 4 + 2
    assert res.gemms[1]["cycles"] == 4 * 16 + 4 + 2


def test_adder_tree_cycles(tmp_path):
    """K weight rows load, then one output per activation row, two cycles later."""
    cfg = make("adder_tree", 8, 4, 1, "mac", "int8", "int8", 32, "wrap")
    res = sim(cfg, seed=4, gemms=[dict(m=100, k=8, n=4), dict(m=64, k=16, n=8)], work_dir=tmp_path)
    assert res.gemms[0]["cycles"] == 8 + 100 + 2
    assert res.gemms[1]["cycles"] == 8 + 4 * 64 + 2  # 4 weight tiles, loads hidden after the first


def test_bit_serial_cycles_linear_in_precision(tmp_path):
    """Plain bit-serial: one tile of K steps at run-time precision p takes K·p + R + 2 cycles."""
    cfg = make("bit_serial", 4, 4, 1, "mac", "int8", "int8", 32, "wrap")
    K = 32
    res = sim(cfg, seed=5, gemms=[dict(m=4, k=K, n=4, w_bits=p) for p in (1, 2, 4, 8)], work_dir=tmp_path)
    assert [g["cycles"] for g in res.gemms] == [K * p + 4 + 2 for p in (1, 2, 4, 8)]


def test_sparse_serial_cycles_follow_digits(tmp_path, seed):
    """Sparse-serial: each step lasts max over columns of max(1, non-zero NAF digits),
    predicted by hwgen.golden.encoding (independent of the hardware encoder)."""
    cfg = make("bit_serial", 4, 2, 1, "sparse_serial", "int8", "int8", 32, "wrap")
    res = sim(cfg, seed=seed, gemms=[dict(m=4, k=50, n=2), dict(m=4, k=64, n=2, w_sigma=16)],
              work_dir=tmp_path)
    from hwgen.sim.bench_gemm import make_operands
    rng = np.random.default_rng([seed, 0])
    for g in res.gemms:  # regenerate the bench's operands from the same seed
        _, w = make_operands(rng, cfg.array, g)
        assert g["cycles"] == sparse_serial_cycles(w) + 4 + 2
