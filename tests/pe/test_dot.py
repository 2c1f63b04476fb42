"""Dot-product units, every arithmetic, against exact integers (Amaranth's simulator)."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from hwgen.config import PEConfig
from hwgen.numerics import acc_range, parse_format
from hwgen.pe.dot import dot_step
from hwgen.pe.mac import operand_shape


def _check_dot(pe: PEConfig, depth: int, rng, n: int = 60):
    m = Module()
    a = [Signal(operand_shape(pe.a), name=f"a{d}") for d in range(depth)]
    w = [Signal(operand_shape(pe.w), name=f"w{d}") for d in range(depth)]
    nw = 2 if pe.arith == "carry_save" else 1
    acc = [Signal(signed(pe.acc), name=f"acc{i}") for i in range(nw)]
    out = [Signal(signed(pe.acc), name=f"out{i}") for i in range(nw)]
    m.d.comb += [o.eq(v) for o, v in zip(out, dot_step(m, pe, acc, a, w))]
    lo, hi = acc_range(pe.acc)
    cases = []
    for i in range(n):
        ext = 0.5 if i % 3 == 0 else 0.0
        av = pe.a.random(rng, (depth,), extremes=ext)
        wv = pe.w.random(rng, (depth,), extremes=ext)
        accv = [int(rng.integers(lo, hi + 1)) for _ in range(nw)]
        if i % 5 == 0:
            accv = [hi if i % 2 else lo] + [0] * (nw - 1)
        cases.append((av, wv, accv))

    failures = []

    async def bench(ctx):
        for av, wv, accv in cases:
            for s, v in zip(a + w + acc, list(av) + list(wv) + accv):
                ctx.set(s, int(v))
            got = sum(ctx.get(o) for o in out)
            start = sum(accv)
            start = ((start - lo) % (1 << pe.acc)) + lo
            exact = start + int(np.dot(av.astype(object), wv.astype(object)))
            if pe.overflow == "saturate":
                want = min(max(exact, lo), hi)
            else:
                want = ((exact - lo) % (1 << pe.acc)) + lo
            got = ((got - lo) % (1 << pe.acc)) + lo
            if got != want:
                failures.append((list(av), list(wv), accv, got, want))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, failures[:3]


@pytest.mark.parametrize("arith", ["mac", "compressor_tree", "carry_save"])
@pytest.mark.parametrize("a,w,depth", [("int8", "int8", 4), ("uint8", "int4", 3), ("int4", "uint4", 5),
                                       ("uint3", "uint3", 2), ("int2", "int8", 1), ("int8", "int2", 8)])
def test_dot_step_exact(arith, a, w, depth, seed):
    pe = PEConfig(a=parse_format(a), w=parse_format(w), acc=20, arith=arith)
    _check_dot(pe, depth, np.random.default_rng(seed))


@pytest.mark.parametrize("depth", [1, 4])
def test_dot_step_saturates_per_group(depth, seed):
    pe = PEConfig(a=parse_format("int8"), w=parse_format("int8"), acc=16, overflow="saturate")
    _check_dot(pe, depth, np.random.default_rng(seed))
