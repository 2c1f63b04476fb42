"""cocotb stream drivers and monitors for ``amaranth.lib.stream`` ports.

All ports are stepped by one clocked loop (:func:`run_until`): after each rising edge
every port drives its signals, then in the read-only phase every port samples whether
its handshake happened. One loop is both faster than a coroutine per port and exact
about which cycle each transfer took place in.
"""
from __future__ import annotations

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from .schedule import OutRef

__all__ = ["Source", "Sink", "run_until"]


class Source:
    """Drives ``<name>__valid/__payload``; idles at random with probability ``p_idle``.

    Beats may be :class:`OutRef` (resolved from ``sink``'s collected beats when available).
    """

    def __init__(self, dut, name: str, rng: np.random.Generator, p_idle: float = 0.0, sink=None):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.name, self.rng, self.p_idle, self.sink = name, rng, p_idle, sink
        self.beats: list = []
        self.pos = 0
        self.first_fire: int | None = None
        self._offered = False
        self.valid.value = 0

    def load(self, beats) -> None:
        self.beats, self.pos, self.first_fire = list(beats), 0, None

    @property
    def done(self) -> bool:
        return self.pos >= len(self.beats)

    def _current(self):
        beat = self.beats[self.pos]
        if isinstance(beat, OutRef):
            got = self.sink.raw
            return got[beat.index] if beat.index < len(got) else None
        return beat

    def drive(self) -> None:
        self._offered = False
        if not self.done and (self.p_idle == 0 or self.rng.random() >= self.p_idle):
            beat = self._current()
            if beat is not None:
                self.payload.value = beat
                self._offered = True
        self.valid.value = int(self._offered)

    def sample(self, cycle: int) -> None:
        if self._offered and int(self.ready.value):
            if self.first_fire is None:
                self.first_fire = cycle
            self.pos += 1


class Sink:
    """Drives ``<name>__ready`` (low at random with probability ``p_stall``) and collects beats."""

    def __init__(self, dut, name: str, rng: np.random.Generator, p_stall: float = 0.0):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.rng, self.p_stall = rng, p_stall
        self.raw: list[int] = []
        self.last_fire: int | None = None
        self._ready = False
        self.ready.value = 0

    def reset(self) -> None:
        self.raw, self.last_fire = [], None

    def drive(self) -> None:
        self._ready = self.p_stall == 0 or self.rng.random() >= self.p_stall
        self.ready.value = int(self._ready)

    def sample(self, cycle: int) -> None:
        if self._ready and int(self.valid.value):
            self.raw.append(int(self.payload.value))
            self.last_fire = cycle


async def run_until(clk, ports, done, *, start_cycle: int, timeout: int) -> int:
    """Step all ports once per clock until ``done()``; returns the cycle count reached."""
    cycle = start_cycle
    while not done():
        await RisingEdge(clk)
        cycle += 1
        if cycle - start_cycle > timeout:
            raise TimeoutError(f"no progress after {timeout} cycles")
        for p in ports:
            p.drive()
        await ReadOnly()
        for p in ports:
            p.sample(cycle)
    return cycle
