"""Transports: how request bytes reach a device and response bytes come back.

* ``golden``   — :class:`hwgen.soc.golden_device.GoldenDevice`, the protocol in NumPy;
* ``verilator`` — the Verilated accelerator top in this process (:mod:`hwgen.sim.native`);
* ``serial:PORT[@BAUD]`` — a board (or anything speaking the protocol) through pyserial.

Every transport has one method, :meth:`Transport.exchange`: send a request, return the
raw bytes that came back before ``timeout`` — possibly none, possibly a broken frame. The
driver above decides what they mean.
"""
from __future__ import annotations

import abc
import time

from ..config import HwgenConfig
from ..soc.protocol import SOF_RSP, RSP_HEADER

__all__ = ["Transport", "GoldenTransport", "VerilatorTransport", "SerialTransport", "open_transport",
           "TransportError", "frame_complete"]


class TransportError(RuntimeError):
    """The transport itself failed (no such port, library missing, device gone)."""


def frame_complete(buf: bytes) -> bool:
    """Whether ``buf`` holds at least one whole response frame (from its first SOF)."""
    i = buf.find(bytes([SOF_RSP]))
    if i < 0 or len(buf) - i < 1 + RSP_HEADER.size + 2:
        return False
    length = int.from_bytes(buf[i + 3:i + 5], "little")
    return len(buf) - i >= 1 + RSP_HEADER.size + 2 + (length + 2 if length else 0)


class Transport(abc.ABC):
    name = "?"
    #: device clock cycles spent so far, when the transport can count them
    cycles: int | None = None

    @abc.abstractmethod
    def exchange(self, request: bytes, *, timeout: float) -> bytes:
        """Send ``request``; return the bytes that came back within ``timeout`` seconds."""

    def drain(self) -> int:
        """Wait until the device has nothing more to say (a partial frame it holds has timed
        out and been answered) and discard what arrives; returns the bytes discarded."""
        return 0

    def close(self) -> None:
        pass


class GoldenTransport(Transport):
    name = "golden"

    def __init__(self, cfg: HwgenConfig):
        from ..soc.golden_device import GoldenDevice
        self.device = GoldenDevice(cfg)

    def exchange(self, request: bytes, *, timeout: float) -> bytes:
        out = self.device.feed(request)
        if not out:  # nothing complete came back: the link goes idle, a partial frame times out
            out = self.device.idle()
        return out

    def drain(self) -> int:
        # the link goes quiet between requests: a partial frame left behind times out here
        return len(self.device.idle())


class VerilatorTransport(Transport):
    """The native harness; ``timeout`` is converted to a cycle budget (``cycles_per_second``
    is a generous lower bound of simulation speed, so a real hang ends in bounded time)."""
    name = "verilator"

    def __init__(self, cfg: HwgenConfig, *, log=None, cycles_per_second: float = 2e5):
        from ..sim.native import NativeSim, build_native
        from ..soc.top import link_timeout
        self.sim = NativeSim(build_native(cfg, log=log))
        self.cycles_per_second = cycles_per_second
        self.quiet_cycles = link_timeout(cfg, "stream") + 1000

    @property
    def cycles(self) -> int:
        return self.sim.cycles

    def exchange(self, request: bytes, *, timeout: float) -> bytes:
        return self.sim.xfer(request, frames=1, max_cycles=max(10_000, int(timeout * self.cycles_per_second)))

    def drain(self) -> int:
        # quiet for longer than the link's timeout: a partial frame has been answered by then
        n = 0
        for _ in range(64):
            out = self.sim.pump(b"", self.quiet_cycles)
            n += len(out)
            if not out:
                break
        return n

    def close(self) -> None:
        self.sim.close()


class SerialTransport(Transport):
    name = "serial"

    def __init__(self, port: str, baud: int):
        try:
            import serial
        except ImportError:
            raise TransportError("the serial transport needs pyserial: pip install pyserial") from None
        try:
            self.port = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
            self.baud = baud
        except (serial.SerialException, ValueError) as e:
            raise TransportError(f"cannot open serial port {port} at {baud} baud: {e}") from None
        self.port.reset_input_buffer()

    def exchange(self, request: bytes, *, timeout: float) -> bytes:
        self.port.write(request)
        self.port.flush()
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = self.port.read(max(1, self.port.in_waiting))
            if chunk:
                buf += chunk
                if frame_complete(bytes(buf)):
                    break
        return bytes(buf)

    def drain(self) -> int:
        # quiet for longer than the link's timeout (64 byte times) and an answer
        n, quiet = 0, max(0.05, 128 * 10 / self.baud)
        deadline = time.monotonic() + 10 * quiet
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            chunk = self.port.read(max(1, self.port.in_waiting))
            if chunk:
                n += len(chunk)
                last = time.monotonic()
        return n

    def close(self) -> None:
        self.port.close()


def open_transport(spec: str, cfg: HwgenConfig, *, log=None) -> Transport:
    """``golden``, ``verilator`` or ``serial:PORT[@BAUD]`` (BAUD defaults to ``soc.baud``)."""
    if spec == "golden":
        return GoldenTransport(cfg)
    if spec == "verilator":
        return VerilatorTransport(cfg, log=log)
    if spec.startswith("serial:"):
        port, _, baud = spec[len("serial:"):].partition("@")
        if not port:
            raise TransportError("serial transport needs a port: serial:/dev/ttyUSB1@1000000")
        try:
            rate = int(baud) if baud else cfg.soc.baud
        except ValueError:
            raise TransportError(f"bad baud rate {baud!r} in {spec!r}") from None
        return SerialTransport(port, rate)
    raise TransportError(f"unknown transport {spec!r}; use golden, verilator or serial:PORT[@BAUD]")
