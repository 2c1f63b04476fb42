"""A simulated board on a pseudo-terminal: the UART build of the native harness, pumped by
a thread, behind ``/dev/pts/N`` — so the driver's ``serial`` transport (pyserial) talks to
the RTL exactly as it would talk to a board's USB UART.

``drop`` injects faults: a set of indices of host→device bytes to lose on the line.
"""
from __future__ import annotations

import os
import select
import threading
import tty

from ..config import HwgenConfig
from .native import NativeSim, build_native

__all__ = ["PtyBoard"]


class PtyBoard:
    def __init__(self, cfg: HwgenConfig, *, drop: set[int] | None = None, cycles_per_pump: int = 4000, log=None):
        self.sim = NativeSim(build_native(cfg, phy="uart", log=log))
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.drop = set(drop or ())
        self.sent = 0  # host→device bytes seen on the line
        self.cycles_per_pump = cycles_per_pump
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-board", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.001)
            data = b""
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
            if self.drop:
                kept = bytearray()
                for b in data:
                    if self.sent not in self.drop:
                        kept.append(b)
                    self.sent += 1
                data = bytes(kept)
            else:
                self.sent += len(data)
            out = self.sim.pump(data, self.cycles_per_pump)
            if out:
                os.write(self.master, out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.sim.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
