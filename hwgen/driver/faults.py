"""A transport that damages what crosses the link, for tests and soaks of the driver's
retries: flipped bits, lost and added bytes, frames cut short or lost, each way.

Which exchange gets which fault is a *plan*: a function of the exchange's number, or a
random one drawn from a seed at a given rate. Every fault injected is counted in
:attr:`FaultyTransport.injected`, so a soak can say how many faults its driver survived.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from .transports import Transport

__all__ = ["FAULTS", "FaultyTransport", "random_plan"]

#: what can go wrong: on the way to the device, then on the way back
FAULTS = ("flip_request", "drop_byte", "garbage", "truncate", "lose_request",
          "flip_response", "truncate_response", "lose_response")


def random_plan(rng: np.random.Generator, rate: float, faults=FAULTS, *, spare: int = 1) -> Callable[[int], str | None]:
    """A plan that damages each exchange with probability ``rate`` (a fault chosen uniformly),
    sparing the first ``spare`` exchanges (the driver's identity check)."""
    faults = tuple(faults)

    def plan(n: int) -> str | None:
        if n <= spare or rng.random() >= rate:
            return None
        return faults[int(rng.integers(len(faults)))]
    return plan


class FaultyTransport(Transport):
    """Wraps ``inner``; ``plan(n)`` names the fault of the ``n``-th exchange (1-based) or None."""

    def __init__(self, inner: Transport, plan: Callable[[int], str | None], *, seed: int = 0):
        self.inner, self.plan, self.n = inner, plan, 0
        self.name = f"faulty {inner.name}"
        self.rng = np.random.default_rng(seed)
        self.injected: Counter = Counter()
        #: per fault: the driver sent the same request again (a retry), or went on (the fault
        #: did no harm, e.g. garbage without a SOF byte, which the device skips)
        self.retried: Counter = Counter()
        self.absorbed: Counter = Counter()
        self._last: tuple[str, bytes] | None = None

    @property
    def cycles(self):
        return self.inner.cycles

    def _pos(self, data) -> int:
        return int(self.rng.integers(len(data)))

    def exchange(self, request: bytes, *, timeout: float) -> bytes:
        self.n += 1
        if self._last is not None:
            (self.retried if request == self._last[1] else self.absorbed)[self._last[0]] += 1
        fault = self.plan(self.n)
        self._last = (fault, request) if fault is not None else None
        req = bytearray(request)
        if fault == "flip_request":
            req[self._pos(req)] ^= 1 << int(self.rng.integers(8))
        elif fault == "drop_byte":
            del req[self._pos(req)]
        elif fault == "garbage":   # random bytes, SOF bytes likely among them
            junk = self.rng.integers(0, 256, int(self.rng.integers(1, 8)), dtype=np.uint8)
            junk[self.rng.random(len(junk)) < 0.3] = 0xA5
            req = bytearray(junk.tobytes()) + req
        elif fault == "truncate":
            req = req[:self._pos(req)]
        elif fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if fault is not None:
            self.injected[fault] += 1
        rsp = b"" if fault == "lose_request" else self.inner.exchange(bytes(req), timeout=timeout)
        if fault == "flip_response" and rsp:
            i = self._pos(rsp)
            rsp = rsp[:i] + bytes([rsp[i] ^ (1 << int(self.rng.integers(8)))]) + rsp[i + 1:]
        elif fault == "truncate_response" and rsp:
            rsp = rsp[:self._pos(rsp)]
        elif fault == "lose_response":
            rsp = b""
        return rsp

    def drain(self) -> int:
        return self.inner.drain()

    def close(self) -> None:
        self.inner.close()
