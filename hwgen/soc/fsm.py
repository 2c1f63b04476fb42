"""A state machine with one flip-flop per state (one-hot), written like Amaranth's ``m.FSM()``.

Amaranth numbers an FSM's states in binary: "in state X" is then a compare of the whole
state register, and the next state an encoder over every transition. On a small FPGA
(4-input LUTs, slow routing) the host link's 26-state machine made the design's longest
paths that way. Here every state is its own flip-flop: "in state X" is that flip-flop,
and a state's next value depends only on its own transitions.

Use::

    with OneHotFSM(m, init="IDLE") as fsm:
        with fsm.state("IDLE"):
            with m.If(go):
                fsm.goto("RUN")
        with fsm.state("RUN"):
            ...

As with ``m.next``, the last ``goto`` a state executes in a cycle wins. Exactly one state
flip-flop is set after reset and on power-up (``init``).
"""
from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Cat, Module, Mux, Signal

__all__ = ["OneHotFSM", "StateWritten"]


class OneHotFSM:
    def __init__(self, m: Module, *, init: str, name: str = "st"):
        self.m, self.init, self.name = m, init, name
        self._bits: dict[str, Signal] = {}
        self._go: dict[str, dict[str, Signal]] = {}   # state → {target: taken this cycle}
        self._cur: str | None = None
        self._written: list[StateWritten] = []
        self._groups: list[tuple[Signal, frozenset]] = []
        self.bit(init)

    def bit(self, state: str) -> Signal:
        """The flip-flop of ``state`` (also "is the machine in ``state``")."""
        if state not in self._bits:
            self._bits[state] = Signal(name=f"{self.name}_{state}", init=int(state == self.init))
        return self._bits[state]

    ongoing = bit

    def group(self, states, name: str) -> Signal:
        """A flip-flop that is set exactly while the machine is in one of ``states``: the
        same as the OR of their flip-flops, but its next value comes from the transitions
        that cross the group's boundary, so a reader sees one flip-flop."""
        states = frozenset(states)
        g = Signal(name=f"{self.name}_{name}", init=int(self.init in states))
        self._groups.append((g, states))
        return g

    @contextmanager
    def state(self, state: str):
        """The statements of ``state``: they act while the machine is in it."""
        assert self._cur is None, f"state {state} inside state {self._cur}"
        self._cur = state
        self._go.setdefault(state, {})
        with self.m.If(self.bit(state)):
            yield
        self._cur = None

    def goto(self, target: str):
        """In the next cycle, be in ``target`` (overrides earlier ``goto``s of this cycle)."""
        cur = self._cur
        assert cur is not None, "goto outside a state"
        self.bit(target)
        go = self._go[cur]
        if target != cur and target not in go:
            go[target] = Signal(name=f"{self.name}_{cur}_to_{target}")
        self.m.d.comb += [g.eq(0) for t, g in go.items() if t != target]
        if target != cur:
            self.m.d.comb += go[target].eq(1)

    def written(self, sig: Signal) -> "StateWritten":
        """``sig`` as a register written only from this machine's states (see :class:`StateWritten`)."""
        w = StateWritten(self, sig)
        self._written.append(w)
        return w

    def _track(self, flag: Signal, states: frozenset):
        """``flag``'s next value: set while the machine is in one of ``states`` (a state's own
        flip-flop, or a group's), from the transitions that cross their boundary this cycle."""
        # in the states' order of appearance, not the set's (whose order changes from run to
        # run with Python's string hashing): the same design gives the same netlist
        leave = Cat(go for src, gos in self._go.items() if src in states for dst, go in gos.items() if dst not in states)
        enter = Cat(go for src, gos in self._go.items() if src not in states
                    for dst, go in gos.items() if dst in states)
        nxt = flag
        if len(leave):
            nxt = nxt & ~leave.any()
        if len(enter):
            nxt = nxt | enter.any()
        self.m.d.sync += flag.eq(nxt)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            return False
        missing = set(self._bits) - set(self._go)
        assert not missing, f"states without a body: {sorted(missing)}"
        for state, b in self._bits.items():
            self._track(b, frozenset((state,)))
        for g, states in self._groups:
            unknown = states - set(self._bits)
            assert not unknown, f"group {g.name}: no such states {sorted(unknown)}"
            self._track(g, states)
        for w in self._written:
            w._finish()
        return False


class StateWritten:
    """A register written from the states of a :class:`OneHotFSM` by ``set(value)``.

    The states are exclusive, so its next value is an AND-OR of the values written, each
    gated by its own enable, not the priority chain of multiplexers the same assignments
    written as ``m.d.sync += sig.eq(value)`` in every state would become. Within one state
    the last ``set`` of a cycle wins, as with ``m.d.sync``.
    """

    def __init__(self, fsm: OneHotFSM, sig: Signal):
        self.fsm, self.sig = fsm, sig
        self._sites: list[tuple[Signal, object]] = []
        self._by_state: dict[str, list[Signal]] = {}

    def set(self, value):
        state = self.fsm._cur
        assert state is not None, f"{self.sig.name}.set outside a state"
        en = Signal(name=f"{self.sig.name}_w{len(self._sites)}")
        same = self._by_state.setdefault(state, [])
        self.fsm.m.d.comb += [e.eq(0) for e in same] + [en.eq(1)]
        same.append(en)
        self._sites.append((en, value))

    def _finish(self):
        if not self._sites:
            return
        m = self.fsm.m
        value = 0
        for en, v in self._sites:
            value = value | Mux(en, v, 0)
        with m.If(Cat(en for en, _ in self._sites).any()):
            m.d.sync += self.sig.eq(value)
