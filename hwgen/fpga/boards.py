"""The boards ``hwgen synth --board`` builds for, taken from ``amaranth-boards``.

A :class:`Board` names its Amaranth platform (pins, clock, UART come from there, not from
a hand-written list), the device's capacity for the fit check, the clock hwgen runs the
accelerator at (made by the on-chip PLL from the board oscillator) and how
openFPGALoader reaches it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["Board", "BOARDS", "Capacity", "CAPACITY", "board", "DEVICES"]


@dataclass(frozen=True)
class Capacity:
    """What a device has, in the units the fit check and nextpnr's report use."""
    device: str
    family: str        # "ice40" | "ecp5"
    lut4: int          # logic cells (iCE40) / LUT4s (ECP5)
    ff: int
    bram: int          # EBR (iCE40, 4 Kbit) / DP16KD (ECP5, 18 Kbit)
    dsp: int           # SB_MAC16 / MULT18X18D
    nextpnr: tuple[str, ...]  # device options for nextpnr
    speed: str = ""    # synth_ice40 -device (its timing model for LUT mapping): hx, lp or u


CAPACITY = {
    "ice40-up5k": Capacity("iCE40UP5K", "ice40", 5280, 5280, 30, 8, ("--up5k",), speed="u"),
    "ecp5-25k": Capacity("LFE5U-25F", "ecp5", 24288, 24288, 56, 28, ("--25k",)),
    "ecp5-45k": Capacity("LFE5U-45F", "ecp5", 43848, 43848, 108, 72, ("--45k",)),
    "ecp5-85k": Capacity("LFE5U-85F", "ecp5", 83640, 83640, 208, 156, ("--85k",)),
}
#: device names accepted by ``hwgen synth --ooc --device``
DEVICES = tuple(CAPACITY)


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    platform: str          # "module:Class" in amaranth_boards
    device: str            # key of CAPACITY
    package: tuple[str, ...]  # nextpnr package options
    clk: str               # oscillator resource
    clk_hz: int
    sync_hz: int           # default accelerator clock (PLL output)
    loader: str            # openFPGALoader -b name
    modes: tuple[str, ...]  # "sram" and/or "flash", first is the default
    example: str           # bundled example that fits
    note: str = ""
    extra_uart: dict = field(default_factory=dict)  # UART on a connector when the board has none

    @property
    def capacity(self) -> Capacity:
        return CAPACITY[self.device]

    @property
    def family(self) -> str:
        return self.capacity.family

    def platform_instance(self):
        mod, cls = self.platform.split(":")
        try:
            plat = getattr(importlib.import_module(mod), cls)()
        except ImportError as e:
            raise RuntimeError(f"board {self.name} needs amaranth-boards: pip install -e . ({e})") from None
        if self.extra_uart:
            from amaranth.build import Attrs
            from amaranth_boards.resources import UARTResource
            plat.add_resources([UARTResource(0, **self.extra_uart["pins"], conn=self.extra_uart["conn"],
                                             attrs=Attrs(**self.extra_uart["attrs"]))])
        return plat


BOARDS = {b.name: b for b in (
    Board("icebreaker", "1BitSquared iCEBreaker (iCE40UP5K-SG48)", "amaranth_boards.icebreaker:ICEBreakerPlatform",
          "ice40-up5k", ("--package", "sg48"), "clk12", 12_000_000, 24_000_000, "icebreaker", ("flash", "sram"),
          "examples/icebreaker_2x2.yaml", note="UART through the on-board FTDI (second interface)"),
    Board("ulx3s", "Radiona ULX3S (LFE5U-85F-6BG381)", "amaranth_boards.ulx3s:ULX3S_85F_Platform",
          "ecp5-85k", ("--package", "CABGA381", "--speed", "6"), "clk25", 25_000_000, 50_000_000, "ulx3s",
          ("sram", "flash"), "examples/systolic_8x8.yaml", note="UART through the on-board FT231X (US1 port)"),
    Board("orangecrab", "Good Stuff Dept. OrangeCrab r0.2 (LFE5U-25F-8MG285)",
          "amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_25FPlatform", "ecp5-25k",
          ("--package", "CSFBGA285", "--speed", "8"), "clk", 48_000_000, 48_000_000, "orangeCrab", ("flash",),
          "examples/small_4x4.yaml",
          note="no USB-UART on board: connect a 3.3 V USB-serial adapter to Feather pins 0 (RX) and 1 (TX); "
               "openFPGALoader writes flash through the DFU bootloader (hold the button while plugging in)",
          extra_uart={"pins": {"rx": "0", "tx": "1"}, "conn": ("io", 0), "attrs": {"IO_TYPE": "LVCMOS33"}}),
)}


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise KeyError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None
