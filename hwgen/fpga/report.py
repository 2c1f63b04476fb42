"""Text for ``hwgen synth``'s reports."""
from __future__ import annotations

from ..report import table
from .ooc import DEFAULT_FLOW

__all__ = ["format_board", "format_ooc", "resource_rows"]

_NAMES = {"lut4": "logic (LUT4 / LC)", "ff": "flip-flops", "carry": "carry cells", "bram": "block RAM",
          "dsp": "DSP multipliers", "pll": "PLL", "io": "I/O"}


def resource_rows(report: dict) -> list[list]:
    rows = []
    for key, name in _NAMES.items():
        r = report["resources"].get(key)
        if r is None:
            continue
        avail = r.get("available")
        rows.append([name, f"{r['used']:,}", f"{avail:,}" if avail else "-",
                     f"{r['used'] / avail:.0%}" if avail else "-"])
    return rows


def format_board(r: dict) -> str:
    clk, cp, sec = r["clock"], r.get("critical_path", {}), r["seconds"]
    flow = f" (LUTs mapped by {r['flow']})" if r.get("flow", DEFAULT_FLOW) != DEFAULT_FLOW else ""
    head = (f"{r['config']} on {r['title']}: {r['array']}{flow}\n"
            f"clock {clk['requested_mhz']:.2f} MHz requested (PLL from {clk['oscillator_mhz']:g} MHz), "
            f"{clk['achieved_mhz']} MHz achievable: timing {'met' if r['timing_met'] else 'NOT met'}; "
            f"UART {r['uart']['baud']:,} baud (divisor {r['uart']['divisor']})")
    if cp:
        head += f"\ncritical path: {cp['from']} -> {cp['to']} ({cp['delay_ns']} ns, {cp['logic_levels']} logic levels)"
    tail = (f"wall time {sec['total_s']} s (yosys {sec['yosys_s']} s, nextpnr {sec['nextpnr_s']} s, "
            f"pack {sec['pack_s']} s)")
    return "\n".join([head, table(["resource", "used", "available", "util"], resource_rows(r), align="lrrr"), tail])


def format_ooc(r: dict) -> str:
    rows = [["LUT4", f"{r['lut4']:,}", f"{r['available']['lut4']:,}"],
            ["carry (CCU2C)", f"{r['carry_ccu2c']:,}", "-"],
            ["flip-flops", f"{r['ff']:,}", f"{r['available']['ff']:,}"],
            ["DSP (MULT18X18D)", f"{r['dsp_mult18']:,}", f"{r['available']['dsp']:,}"]]
    cp = r.get("critical_path") or {}
    path = (f"\ncritical path: {cp['from']} -> {cp['to']} ({cp['delay_ns']} ns, {cp['logic_levels']} logic levels)"
            if cp else "")
    return "\n".join([f"{r['config']} out of context on {r['device']} ({r['flow']}): Fmax {r['fmax_mhz']} MHz "
                      f"(target {r['requested_mhz']} MHz), {r['macs_per_cycle']} MACs/cycle, {r['seconds']} s{path}",
                      table(["resource", "used", "available"], rows, align="lrr")])
