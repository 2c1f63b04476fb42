"""UART PHY of the host link: 8N1 receiver and transmitter, and the host-side line model.

Frame (8N1): a start bit (low), 8 data bits LSB first, one stop bit (high); the line idles
high. Every bit lasts ``divisor`` clock cycles (``divisor`` = f_clk / baud, at least 4).

``UARTRx``
    ``rx`` passes a 2-FF synchronizer. A high-to-low transition (a low level after the line
    was seen high since the last frame) starts a frame; the start bit is re-checked at its
    middle (a shorter low pulse is ignored), the data bits and the stop bit are sampled at
    their middles, ``(divisor - 1) // 2`` cycles after the edge plus whole bit periods. The
    receiver is ready for the next start edge from the middle of the stop bit on, so the
    sender may send frames back to back and its bit period may differ from ``divisor`` by a
    few percent (see ``tests/soc/test_uart.py``: ±3 % at divisor 16). A byte appears on
    ``data`` 3 + ``(divisor - 1) // 2`` + 9·``divisor`` cycles after its start edge on
    ``rx`` and stays valid until taken. A stop bit sampled low drops the frame and counts
    it in ``framing_errors``; the receiver then waits for the line to go high before it
    looks for a start bit again. A good frame that completes while the previous byte is
    still held and not being taken (``data.ready`` low) is dropped and counted in
    ``overruns``; the held byte is kept. Both counters saturate at 65535.

``UARTTx``
    ``data.ready`` is high while the transmitter is idle and on the last cycle of a stop
    bit, so a stream of bytes leaves with no idle time between frames. The start bit of a
    byte taken on cycle ``t`` is on ``tx`` from cycle ``t + 1``. ``tx`` is a register.

``UARTPhy``
    Both, for one full-duplex link.

``uart_bits``
    The host side: the line level per clock cycle for a sequence of bytes, with an optional
    non-integer bit period to model a baud-rate mismatch.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Iterable

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "UARTPhy", "uart_bits", "MIN_DIVISOR", "COUNTER_MAX"]

MIN_DIVISOR = 4
"""Fewest clock cycles per bit: the receiver needs a start-bit middle distinct from its edge."""

COUNTER_MAX = 2**16 - 1
"""Where the error counters stop."""


def _check_divisor(divisor) -> int:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor must be an integer of at least {MIN_DIVISOR} clock cycles "
                         f"per bit, not {divisor!r}")
    return divisor


def _saturating_inc(m: Module, counter: Signal) -> None:
    with m.If(counter != COUNTER_MAX):
        m.d.sync += counter.eq(counter + 1)


class UARTRx(wiring.Component):
    """8N1 receiver: ``rx`` line in, one byte per good frame out on ``data``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Attributes
    ----------
    rx : In(1)
        The line, idle high; asynchronous to the clock (synchronized inside).
    data : Out(stream.Signature(8))
        Received bytes, held in one output register until taken.
    framing_errors : Out(16)
        Frames dropped because their stop bit was low (saturating).
    overruns : Out(16)
        Good frames dropped because the previous byte had not been taken (saturating).
    """

    def __init__(self, divisor: int):
        self._divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "framing_errors": Out(16),
            "overruns": Out(16),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        line = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, line, init=1)

        # Set while the line has been high since the last frame: a low level then is a
        # start edge. A frame with a low stop bit (or a held-low line) leaves it clear, so a
        # break is one framing error, not one per frame time.
        armed = Signal()
        timer = Signal(range(d))
        nbit = Signal(range(8))
        shreg = Signal(8)
        tick = timer == 0

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(line):
                    m.d.sync += armed.eq(1)
                with m.Elif(armed):
                    # The edge is seen 0..1 cycle after it happened: sample (d - 1) // 2
                    # cycles on, which is the middle of the bit on average.
                    m.d.sync += [armed.eq(0), timer.eq((d - 1) // 2 - 1)]
                    m.next = "START"
            with m.State("START"):
                with m.If(tick):
                    with m.If(line):
                        m.next = "IDLE"         # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), nbit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(tick):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(d - 1), nbit.eq(nbit + 1)]
                    with m.If(nbit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(tick):
                    with m.If(line):
                        m.d.sync += armed.eq(1)
                        with m.If(self.data.valid & ~self.data.ready):
                            _saturating_inc(m, self.overruns)
                        with m.Else():
                            m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                    with m.Else():
                        _saturating_inc(m, self.framing_errors)
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter: bytes in on ``data``, frames out on ``tx``, back to back.

    A one-byte holding register sits in front of the shift register (a UART's THR/TSR
    pair): ``data.ready`` is a flip-flop, and the frame a byte starts in never waits on
    ``data.valid`` through logic.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Attributes
    ----------
    data : In(stream.Signature(8))
        Bytes to send. ``ready`` while the holding register is empty: the first byte is
        taken at once, its start bit goes on the line the next cycle; the next byte is
        taken the cycle after, and its frame follows the first's stop bit with no gap.
    tx : Out(1)
        The line, a register, idle high.
    """

    def __init__(self, divisor: int):
        self._divisor = _check_divisor(divisor)
        super().__init__({
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        busy = Signal()
        left = Signal(range(10))    # bits still to put on the line after the current one
        timer = Signal(range(d))
        shreg = Signal(9)           # data bits, then the stop bit
        hold, full = Signal(8), Signal()
        # timer == 0 and left == 0 as flip-flops kept beside the counters: whether a frame
        # may start is one LUT of flip-flops
        bit_done, last_bit = Signal(init=1, name="bit_done"), Signal(init=1, name="last_bit")
        start = Signal()

        m.d.comb += [self.data.ready.eq(~full), start.eq(full & (~busy | (last_bit & bit_done)))]
        with m.If(busy):
            with m.If(~bit_done):
                m.d.sync += [timer.eq(timer - 1), bit_done.eq(timer == 1)]
            with m.Elif(last_bit):
                m.d.sync += busy.eq(0)  # the stop bit is over; tx stays high
            with m.Else():
                m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(shreg[1:]), left.eq(left - 1), last_bit.eq(left == 1),
                             timer.eq(d - 1), bit_done.eq(d == 1)]
        with m.If(start):
            m.d.sync += [busy.eq(1), self.tx.eq(0), shreg.eq(Cat(hold, 1)), full.eq(0),
                         left.eq(9), last_bit.eq(0), timer.eq(d - 1), bit_done.eq(d == 1)]
        with m.If(self.data.valid & ~full):
            m.d.sync += [hold.eq(self.data.payload), full.eq(1)]
        return m


class UARTPhy(wiring.Component):
    """Full-duplex 8N1 link: a ``UARTRx`` and a ``UARTTx`` sharing one divisor.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Attributes
    ----------
    rx : In(1)
        Incoming line, idle high.
    tx : Out(1)
        Outgoing line, idle high.
    rx_data : Out(stream.Signature(8))
        Received bytes (``UARTRx.data``).
    tx_data : In(stream.Signature(8))
        Bytes to send (``UARTTx.data``).
    framing_errors, overruns : Out(16)
        The receiver's saturating error counters.
    """

    def __init__(self, divisor: int):
        self._divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "rx_data": Out(stream.Signature(8)),
            "tx_data": In(stream.Signature(8)),
            "framing_errors": Out(16),
            "overruns": Out(16),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self._divisor)
        m.submodules.tx = tx = UARTTx(self._divisor)
        wiring.connect(m, rx.data, wiring.flipped(self.rx_data))
        wiring.connect(m, wiring.flipped(self.tx_data), tx.data)
        m.d.comb += [
            rx.rx.eq(self.rx),
            self.tx.eq(tx.tx),
            self.framing_errors.eq(rx.framing_errors),
            self.overruns.eq(rx.overruns),
        ]
        return m


def uart_bits(byte_values: Iterable[int], divisor: float, *, lead: int = 0, gap: int = 0) -> list[int]:
    """The 8N1 line level, one entry per clock cycle, for sending ``byte_values``.

    Parameters
    ----------
    byte_values : iterable of int
        Bytes (0..255), sent in order.
    divisor : float
        The sender's bit period in clock cycles. A non-integer period models a sender whose
        baud rate differs from the receiver's; bit ``k`` then starts on cycle
        ``floor(k * divisor + 1/2)``.
    lead : int
        Idle (high) bit periods before the first frame.
    gap : int
        Idle bit periods between frames, after each stop bit (0: back to back).

    Returns
    -------
    list of int
        Levels (0 or 1) up to the end of the last stop bit; the line idles high after it.
    """
    if isinstance(divisor, bool) or not isinstance(divisor, (int, float)) or not divisor >= 1:
        raise ValueError(f"bit period must be a number of at least 1 clock cycle, not {divisor!r}")
    lead, gap = operator.index(lead), operator.index(gap)
    if lead < 0 or gap < 0:
        raise ValueError(f"lead and gap must be non-negative bit counts, not {lead} and {gap}")
    bits = [1] * lead
    for i, value in enumerate(byte_values):
        value = operator.index(value)
        if not 0 <= value <= 255:
            raise ValueError(f"byte {i} must be 0..255, not {value}")
        if i:
            bits += [1] * gap
        bits += [0] + [(value >> j) & 1 for j in range(8)] + [1]
    levels = []
    for k, bit in enumerate(bits):
        levels += [bit] * (math.floor((k + 1) * divisor + 0.5) - math.floor(k * divisor + 0.5))
    return levels
