"""The one-hot state machine and its state-written registers behave exactly like Amaranth's
``m.FSM()`` with ``m.next`` and ``m.d.sync`` writes, overrides included, under random inputs."""
import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hwgen.soc.fsm import OneHotFSM

STATES = ("IDLE", "A", "B", "C")


def _body(m, x, reg, state, goto, write):
    """Four states; ``x`` (4 bits) picks transitions, with later gotos/writes overriding earlier ones."""
    with state("IDLE"):
        with m.If(x[0]):
            goto("A")
            write(x + 1)
        with m.If(x[1] & x[2]):       # overrides the first goto and write
            goto("B")
            write(7)
    with state("A"):
        write(reg + 2)
        with m.If(x[3]):
            goto("C")
        with m.Elif(x[1]):
            goto("A")                 # staying, after no other goto
    with state("B"):
        goto("C")
        with m.If(x[0]):
            goto("B")                 # staying overrides leaving
            write(3)
    with state("C"):
        with m.If(x[2]):
            goto("IDLE")
            write(0)


class Reference(Elaboratable):
    def __init__(self):
        self.x, self.reg, self.code = Signal(4), Signal(8), Signal(2)

    def elaborate(self, platform):
        m = Module()
        with m.FSM() as fsm:
            def state(name):
                return m.State(name)

            def goto(name):
                m.next = name

            def write(value):
                m.d.sync += self.reg.eq(value)
            _body(m, self.x, self.reg, state, goto, write)
        for i, s in enumerate(STATES):
            with m.If(fsm.ongoing(s)):
                m.d.comb += self.code.eq(i)
        return m


class OneHot(Elaboratable):
    def __init__(self):
        self.x, self.reg, self.code, self.hot = Signal(4), Signal(8), Signal(2), Signal(4)
        self.in_ab, self.in_a_or_b = Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        fsm = OneHotFSM(m, init="IDLE", name="t")
        w = fsm.written(self.reg)
        m.d.comb += self.in_ab.eq(fsm.group(("A", "B"), "ab"))
        with fsm:
            _body(m, self.x, self.reg, fsm.state, fsm.goto, w.set)
        for i, s in enumerate(STATES):
            with m.If(fsm.ongoing(s)):
                m.d.comb += self.code.eq(i)
        m.d.comb += [self.hot.eq(sum(fsm.ongoing(s) << i for i, s in enumerate(STATES))),
                     self.in_a_or_b.eq(fsm.ongoing("A") | fsm.ongoing("B"))]
        return m


def test_onehot_matches_amaranth_fsm(seed):
    rng = np.random.default_rng(seed)
    xs = [int(v) for v in rng.integers(0, 16, 600)]

    def trace(dut, hot=False):
        out = []

        async def bench(ctx):
            for x in xs:
                ctx.set(dut.x, x)
                await ctx.tick()
                out.append((ctx.get(dut.code), ctx.get(dut.reg)))
                if hot:
                    h = ctx.get(dut.hot)
                    assert h and not h & (h - 1), f"not one-hot: {h:04b}"
                    # a group's flip-flop is the OR of its states' (A stays in A; B leaves for C)
                    assert ctx.get(dut.in_ab) == ctx.get(dut.in_a_or_b)
        sim = Simulator(dut)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        return out

    ref, got = trace(Reference()), trace(OneHot(), hot=True)
    assert {c for c, _ in ref} == set(range(len(STATES))), "the inputs should visit every state"
    assert got == ref
