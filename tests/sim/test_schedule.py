"""The stream schedules, replayed by a tiny Python model of each array's contract."""
import numpy as np
import pytest

from hwgen import golden
from hwgen.config import ArrayConfig, PEConfig
from hwgen.numerics import Format
from hwgen.sim.schedule import OutRef, pack, schedule_gemm, unpack


def test_pack_unpack_round_trip(seed):
    rng = np.random.default_rng(seed)
    for bits, signed in ((8, True), (4, True), (2, True), (8, False), (32, True)):
        f = Format(bits, signed) if bits <= 16 else None
        vals = (f.random(rng, 7) if f else rng.integers(-2**31, 2**31, 7)).tolist()
        assert unpack(pack(vals, bits), bits, 7, signed=signed) == vals


def model(cfg: ArrayConfig, sched):
    """Execute the schedule the way the stream contract says the hardware does."""
    R, C, pe = cfg.rows, cfg.cols, cfg.pe
    outs = []
    if cfg.dataflow == "output_stationary":
        cols_a, rows_w = [], []
        for ab, wb in zip(sched.inputs["a"], sched.inputs["w"]):
            cols_a.append(unpack(ab, pe.a.bits, R))
            rows_w.append(unpack(wb, pe.w.bits, C))
            if ab >> (R * pe.a.bits) & 1:  # last
                tile = golden.gemm(np.array(cols_a).T, np.array(rows_w), acc_bits=pe.acc, overflow=pe.overflow)
                outs += [pack(row, pe.acc) for row in tile]
                cols_a, rows_w = [], []
        return outs
    w_beats = iter(sched.inputs["w"])
    wt = None
    for ab, cb in zip(sched.inputs["a"], sched.inputs["c"]):
        if wt is None:
            wt = np.array([unpack(next(w_beats), pe.w.bits, C) for _ in range(R)])
        c = outs[cb.index] if isinstance(cb, OutRef) else cb
        row = golden.gemm(np.array([unpack(ab, pe.a.bits, R)]), wt, acc_bits=pe.acc, overflow=pe.overflow,
                          c=np.array([unpack(c, pe.acc, C)]))
        outs.append(pack(row[0], pe.acc))
        if ab >> (R * pe.a.bits) & 1:
            wt = None
    return outs


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary"])
@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 3), (4, 4)])
def test_schedule_computes_the_gemm(seed, dataflow, rows, cols):
    rng = np.random.default_rng(seed)
    cfg = ArrayConfig(rows=rows, cols=cols, dataflow=dataflow, pe=PEConfig(acc=16, overflow="saturate"))
    for _ in range(3):
        m, k, n = (int(x) for x in rng.integers(1, 12, 3))
        a = Format(8).random(rng, (m, k), extremes=0.3)
        w = Format(8).random(rng, (k, n), extremes=0.3)
        sched = schedule_gemm(cfg, a, w)
        outs = model(cfg, sched)
        assert len(outs) == sched.out_beats
        got = sched.assemble([unpack(o, 16, cols) for o in outs], m, n)
        assert np.array_equal(got, golden.gemm(a, w, acc_bits=16, overflow="saturate")), (m, k, n)
