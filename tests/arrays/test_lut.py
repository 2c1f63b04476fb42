"""The table-lookup engine (``array.kind: lut``), simulated with cocotb + Verilator and checked
bit-exactly against hwgen.golden: the default plan (every weight kind at the widest and the
narrowest bits, shapes not multiple of the tile, random stalls, extremes), symmetric and full
tables, int8 and uint8 activations; and its cycles, linear in the weight bits."""
import random

import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig
from hwgen.numerics import parse_format
from hwgen.sim.runner import default_plan, sim

# (rows, cols, g, table, a, w (widest), acc, dequant)
CASES = [
    (2, 3, 4, "symmetric", "int8", "int4", 24, "none"),
    (1, 5, 3, "full", "uint8", "int3", 20, "none"),
    (3, 2, 2, "symmetric", "int8", "int2", 14, "none"),
    (2, 3, 4, "symmetric", "int8", "int3", 40, "group"),   # + group-quantized GEMMs, stalls on the scales too
]


def make(rows, cols, g, table, a, w, acc, dequant="none") -> HwgenConfig:
    pe = PEConfig(a=parse_format(a), w=parse_format(w), acc=acc)
    return HwgenConfig(name=f"lut{rows}x{cols}g{g}_{table[:3]}_{a}_{w}_{acc}" + ("_dq" if dequant == "group" else ""),
                       array=ArrayConfig(rows=rows, cols=cols, kind="lut", depth=g, table=table, dequant=dequant, pe=pe))


@pytest.mark.parametrize("case", CASES, ids=lambda c: make(*c).name)
def test_lut_engine_matches_golden(case, seed, tmp_path):
    cfg = make(*case)
    res = sim(cfg, seed=seed, work_dir=tmp_path)  # raises SimFailure (with the seed) on a mismatch
    plan = default_plan(cfg, random.Random(seed))
    assert len(res.gemms) == len(plan) and all(g["ok"] for g in res.gemms)
    kinds = {g.get("wfmt") for g in plan}
    assert {"binary", "ternary", "int2", "uint1", f"bipolar{cfg.array.pe.w.bits}"} <= kinds
    if cfg.array.dequant == "group":
        assert sorted(g["group"] for g in plan if g.get("group")) == [4, 8, 32]


def test_lut_cycles_are_linear_in_weight_bits(tmp_path):
    """One tile of K/g groups at b-bit weights takes K/g·b beats + R + 4 cycles (four pipeline
    stages, then R rows): T-MAC's linear scaling, measured on the RTL."""
    cfg = make(2, 4, 4, "symmetric", "int8", "int4", 32, "none")
    K = 64
    fmts = ["binary", "int2", "uint3", "int4"]
    res = sim(cfg, seed=7, gemms=[dict(m=2, k=K, n=4, wfmt=f) for f in fmts], work_dir=tmp_path)
    assert [g["cycles"] for g in res.gemms] == [K // 4 * b + cfg.array.rows + 4 for b in (1, 2, 3, 4)]


def test_short_group_tiles_under_stalls_take_their_own_scales(tmp_path):
    """Group tiles of one or two beats back to back, with stalls on every stream: a tile's
    last beat waits until the tile before it has freed the scale buffer. With one cycle less
    of spacing a tile took the previous tile's scales (a random plan, seed 919072352)."""
    cfg = make(2, 3, 4, "symmetric", "int8", "int3", 40, "group")
    gemms = [dict(m=m, k=k, n=n, group=4, wfmt=f, stall_in=0.3, stall_out=0.3, extremes=0.2)
             for m, k, n, f in [(1, 16, 5, "binary"), (2, 12, 4, "uint1"), (1, 10, 7, "int2"), (2, 20, 3, "ternary"),
                                (1, 8, 6, "binary"), (2, 16, 5, "int2")]]
    for seed in (1, 2, 3):
        res = sim(cfg, seed=seed, gemms=gemms, work_dir=tmp_path / str(seed))
        assert all(g["ok"] for g in res.gemms)
