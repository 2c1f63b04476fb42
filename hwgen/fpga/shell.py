"""The board shell around the accelerator: oscillator → PLL → ``sync`` clock, a reset held
until the PLL locks, and the accelerator's UART on the board's UART pins.

PLL settings are searched here (the same arithmetic as ``icepll``/``ecppll``), so the
accelerator runs at the frequency asked for, or the nearest one the PLL can make.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..config import HwgenConfig
from ..soc.top import Accelerator
from .boards import Board

__all__ = ["PLL", "pll_ice40", "pll_ecp5", "pll_for", "BoardShell", "board_config"]


@dataclass(frozen=True)
class PLL:
    fin_hz: int
    fout_hz: float
    params: dict  # the primitive's parameters

    @property
    def fout_mhz(self) -> float:
        return self.fout_hz / 1e6


def _close_enough(family: str, fin_hz: float, want_hz: float, got_hz: float) -> None:
    if abs(got_hz - want_hz) > 0.02 * want_hz:
        raise ValueError(f"the {family} PLL cannot make {want_hz / 1e6:.1f} MHz from {fin_hz / 1e6:.1f} MHz "
                         f"(nearest: {got_hz / 1e6:.2f} MHz)")


def pll_ice40(fin_hz: int, want_hz: float) -> PLL:
    """SB_PLL40 in SIMPLE feedback: fout = fin·(DIVF+1) / ((DIVR+1)·2^DIVQ), with the PFD at
    10–133 MHz and the VCO at 533–1066 MHz (iCE40 sysCLOCK PLL guide)."""
    best = None
    for divr in range(16):
        fpfd = fin_hz / (divr + 1)
        if not 10e6 <= fpfd <= 133e6:
            continue
        for divf in range(128):
            fvco = fpfd * (divf + 1)
            if not 533e6 <= fvco <= 1066e6:
                continue
            for divq in range(1, 7):
                fout = fvco / 2 ** divq
                if 16e6 <= fout <= 275e6 and (best is None or abs(fout - want_hz) < abs(best[0] - want_hz)):
                    best = (fout, divr, divf, divq, fpfd)
    if best is None:
        raise ValueError(f"the iCE40 PLL cannot make {want_hz / 1e6:.1f} MHz from {fin_hz / 1e6:.1f} MHz")
    fout, divr, divf, divq, fpfd = best
    _close_enough("iCE40", fin_hz, want_hz, fout)
    filt = next(i for i, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12), 1) if fpfd < lim)
    return PLL(fin_hz, fout, {"FEEDBACK_PATH": "SIMPLE", "DIVR": divr, "DIVF": divf, "DIVQ": divq,
                              "FILTER_RANGE": filt})


def pll_ecp5(fin_hz: int, want_hz: float) -> PLL:
    """EHXPLLL with CLKOP feedback: fout = fin·CLKFB_DIV / CLKI_DIV, VCO = fout·CLKOP_DIV at
    400–800 MHz, PFD ≥ 3.125 MHz (the ranges ``ecppll`` uses)."""
    best = None
    for clki in range(1, 129):
        fpfd = fin_hz / clki
        if fpfd < 3.125e6 or fpfd > 400e6:
            continue
        for clkfb in range(1, 81):
            fout = fpfd * clkfb
            if not 3.125e6 <= fout <= 400e6:
                continue
            for clkop in range(1, 129):
                if 400e6 <= fout * clkop <= 800e6:
                    if best is None or abs(fout - want_hz) < abs(best[0] - want_hz):
                        best = (fout, clki, clkfb, clkop)
                    break
    if best is None:
        raise ValueError(f"the ECP5 PLL cannot make {want_hz / 1e6:.1f} MHz from {fin_hz / 1e6:.1f} MHz")
    fout, clki, clkfb, clkop = best
    _close_enough("ECP5", fin_hz, want_hz, fout)
    return PLL(fin_hz, fout, {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop, "CLKOP_CPHASE": clkop - 1,
                              "CLKOP_FPHASE": 0, "CLKOP_ENABLE": "ENABLED", "FEEDBK_PATH": "CLKOP",
                              "OUTDIVIDER_MUXA": "DIVA", "PLLRST_ENA": "DISABLED", "INTFB_WAKE": "DISABLED",
                              "STDBY_ENABLE": "DISABLED", "DPHASE_SOURCE": "DISABLED", "PLL_LOCK_MODE": 0})


def pll_for(b: Board, want_hz: float) -> PLL:
    return (pll_ice40 if b.family == "ice40" else pll_ecp5)(b.clk_hz, want_hz)


def board_config(cfg: HwgenConfig, pll: PLL) -> HwgenConfig:
    """The config with ``soc.clock_hz`` set to the clock the PLL really makes (the UART
    divisor comes from it)."""
    return dataclasses.replace(cfg, soc=dataclasses.replace(cfg.soc, clock_hz=int(round(pll.fout_hz))))


class BoardShell(Elaboratable):
    """Oscillator, PLL, reset and UART pins around :class:`~hwgen.soc.top.Accelerator`."""

    def __init__(self, cfg: HwgenConfig, b: Board, pll: PLL):
        self.cfg, self.board, self.pll = board_config(cfg, pll), b, pll

    def elaborate(self, platform):
        m = Module()
        b, pll = self.board, self.pll
        # iCE40: the PLL takes its pad directly (SB_PLL40_PAD), no input buffer in between
        clk_pad = platform.request(b.clk, 0, dir="-")
        if b.family != "ice40":
            m.submodules.clk_buf = clk_in = io.Buffer("i", clk_pad)
        m.domains.sync = cd = ClockDomain("sync")
        locked = Signal()
        if b.family == "ice40":
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", **{f"p_{k}": v for k, v in pll.params.items()},
                i_PACKAGEPIN=clk_pad.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=cd.clk, o_LOCK=locked)
        else:
            m.submodules.pll = Instance(
                "EHXPLLL", **{f"p_{k}": v for k, v in pll.params.items()},
                a_FREQUENCY_PIN_CLKI=f"{pll.fin_hz / 1e6:.3f}", a_FREQUENCY_PIN_CLKOP=f"{pll.fout_mhz:.3f}",
                i_CLKI=clk_in.i, i_CLKFB=cd.clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
                i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=cd.clk, o_LOCK=locked)
        platform.add_clock_constraint(cd.clk, pll.fout_hz)
        m.submodules.rst_sync = ResetSynchronizer(~locked, domain="sync", stages=4)

        m.submodules.accel = accel = Accelerator(self.cfg, phy="uart")
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [accel.uart_rx.eq(rx.i), tx.o.eq(accel.uart_tx)]
        if b.name == "ulx3s":  # the FT231X's TX is enabled by the FPGA
            m.submodules.uart_en = en = io.Buffer("o", platform.request("uart_tx_enable", 0, dir="-"))
            m.d.comb += en.o.eq(1)
        return m
