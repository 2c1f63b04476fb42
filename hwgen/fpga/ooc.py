"""Out-of-context synthesis statistics for an engine: generic cells, CMOS transistor
estimate and logic depth from yosys; LUT/carry/FF/DSP and Fmax from ECP5 nextpnr.

Every number comes from the tools' own reports; every run keeps its logs.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from ..tools import ToolError, nextpnr_ecp5_command, run_tool, yosys_command

__all__ = ["generic_stats", "synth_ecp5", "ecp5_ooc", "place_ooc", "over_capacity", "FLOWS", "DEFAULT_FLOW", "AREA_DELAY_PS",
           "ecp5_synth_steps", "YosysAssertion", "DoesNotFit"]


def _stage(verilog: Path, workdir: Path) -> str:
    """Copy the source into the work directory: the YoWASP tools see only their cwd."""
    workdir.mkdir(parents=True, exist_ok=True)
    if verilog.resolve() != (workdir / verilog.name).resolve():
        shutil.copy(verilog, workdir / verilog.name)
    return verilog.name


def _yosys(script: str, workdir: Path, name: str, what: str) -> str:
    """Run a yosys script in ``workdir`` with its complete log in ``<name>.log``; return the log."""
    log = workdir / f"{name}.log"
    run_tool([*yosys_command(), "-q", "-l", log.name, "-p", script], workdir / f"{name}.out", what=what, cwd=workdir)
    return log.read_text()


def _stat(path: Path) -> dict:
    """The single module's entry of a ``stat -json`` file."""
    return next(iter(json.loads(path.read_text())["modules"].values()))


def generic_stats(verilog: Path, top: str, workdir: Path) -> dict:
    """Technology-independent synthesis (``synth -flatten``): logic cells, flip-flop bits,
    yosys' ``stat -tech cmos`` transistor estimate (combinational cells only: yosys gives
    flip-flops no estimate), and the longest combinational path in cells (``ltp -noff``)."""
    src = _stage(verilog, workdir)
    t0 = time.time()
    log = _yosys(f"read_verilog {src}; synth -flatten -top {top}; tee -q -o generic_stat.json stat -json -tech cmos; "
                 "ltp -noff", workdir, "generic", f"yosys synth {top}")
    st = _stat(workdir / "generic_stat.json")
    by_type = st.get("num_cells_by_type", {})
    ff = sum(n for t, n in by_type.items() if "DFF" in t)
    logic = sum(n for t, n in by_type.items() if "DFF" not in t and t != "$scopeinfo")
    return {"logic_cells": logic, "ff_bits": ff,
            "cmos_transistors_comb": int(str(st.get("estimated_num_transistors", "0")).rstrip("+")),
            "logic_depth": _last_int(r"Longest topological path in \S+ \(length=(\d+)\)", log),
            "seconds": round(time.time() - t0, 1), "log": str(workdir / "generic.log")}


#: LUT-mapping flows for ``synth_ecp5``: its default (ABC9, mapped for the least delay);
#: ``abc9_area``, ABC9 given a delay target no path reaches (:data:`AREA_DELAY_PS`), so it
#: maps for area; or classic ABC — the fallback for designs where this yosys's ABC9 pass fails
#: an internal assertion (seen on 4×4×4 cubes before the debug-wire purge below; kept for
#: other designs). ABC9 at least delay spends LUTs on every path it can make shorter than the
#: design's longest, so a LUT-heavy PE (carry-save, compressor tree) costs LUT4s that depend on
#: the deepest path elsewhere: bench/area_flow.py measures both flows side by side.
FLOWS = ("abc9", "abc9_area", "abc")
#: what synth_ecp5 runs unless told otherwise, and what the dataset and the packaged surrogate learn
DEFAULT_FLOW = FLOWS[0]
#: ``abc9 -D``: the delay target (ps) of the ``abc9_area`` flow, 100 ns
AREA_DELAY_PS = 100_000


class YosysAssertion(ToolError):
    """yosys stopped on an internal assertion (a tool bug, not a design error)."""


class DoesNotFit(ToolError):
    """nextpnr could not place the design: it needs more of a resource than the device has."""

    def __init__(self, message: str, used: dict):
        super().__init__(message)
        self.used = used


def ecp5_synth_steps(top: str, *, dsp: bool = True, flow: str = DEFAULT_FLOW, widelut: bool = True) -> list[str]:
    """The yosys commands of ``synth_ecp5`` with the LUT-mapping ``flow`` (:data:`FLOWS`): the
    other flows replace its ``map_luts`` step (latch map, ``abc9 -W 300``, clean). Out-of-context
    runs (:func:`synth_ecp5`) and ECP5 board builds (:func:`hwgen.fpga.synth.yosys_script`) both
    use it."""
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}, got {flow!r}")
    opts = ("" if dsp else " -nodsp") + ("" if widelut else " -nowidelut")
    if flow == DEFAULT_FLOW:
        return [f"synth_ecp5{opts} -top {top}"]
    lut_map = {"abc9_area": ["techmap -map +/lattice/latches_map.v",
                             f"abc9 -W 300{'' if widelut else ' -maxlut 4'} -D {AREA_DELAY_PS}"],
               "abc": [f"abc -lut {'4:7' if widelut else '4'} -dress"]}[flow]
    return [f"synth_ecp5{opts} -top {top} -run :map_luts", *lut_map, "clean",
            f"synth_ecp5{opts} -top {top} -run map_cells:"]


def synth_ecp5(verilog: Path, top: str, workdir: Path, *, dsp: bool = True, flow: str = DEFAULT_FLOW,
               widelut: bool = True) -> dict:
    """``synth_ecp5`` alone: writes the netlist ``<top>.json`` (for :func:`place_ooc`) and
    ``ecp5_stat.json`` in ``workdir``; returns the cell counts by type (``LUT4``, ``CCU2C``,
    ``TRELLIS_FF``, ``MULT18X18D``, ``PFUMX`` …).

    ``dsp=False`` maps multipliers to LUTs (``-nodsp``), so designs compare in one unit.
    ``flow`` is one of :data:`FLOWS`. ``widelut=False`` maps to
    LUT4s only (``-nowidelut``): the default LUT5-7 mapping (LUT4 pairs joined by the
    slice's PFUMX/L6MUX21 muxes) is chosen for depth and can double the LUT4s of a
    mux-heavy design (bench/lut_compare.py measures it per engine)."""
    src = _stage(verilog, workdir)
    netlist = workdir / f"{top}.json"
    synth = "; ".join(ecp5_synth_steps(top, dsp=dsp, flow=flow, widelut=widelut))
    try:
        # `opt_clean -purge` drops Amaranth's debug alias wires (`acc[0]` beside `acc`), on
        # whose names this yosys's ABC reintegration asserts
        _yosys(f"read_verilog {src}; hierarchy -top {top}; proc; opt_clean -purge; {synth}; write_json {netlist.name}; tee -q -o ecp5_stat.json stat -json",
               workdir, "synth_ecp5", f"yosys synth_ecp5 {top}")
    except ToolError as e:
        log = workdir / "synth_ecp5.log"
        if log.exists() and "ERROR: Assert" in log.read_text()[-4000:]:
            raise YosysAssertion(f"{e} (an internal yosys assertion; try flow='abc')") from None
        raise
    return dict(_stat(workdir / "ecp5_stat.json").get("num_cells_by_type", {}))


def ecp5_ooc(verilog: Path, top: str, workdir: Path, *, device: str = "85k", freq_mhz: float = 200,
             seed: int = 1, dsp: bool = True, flow: str = DEFAULT_FLOW, widelut: bool = True,
             seeds: tuple[int, ...] | list[int] | None = None, place: bool = True) -> dict:
    """:func:`synth_ecp5` then out-of-context ``nextpnr-ecp5`` (:func:`place_ooc`):
    resources and achieved Fmax. With ``seeds`` the one netlist is placed once per seed
    (nextpnr's results vary by 10-25 % with it): ``fmax_mhz`` is their median and
    ``fmax_by_seed`` each one. ``place=False`` stops after synthesis (``fmax_mhz`` None)."""
    t0 = time.time()
    netlist = workdir / f"{top}.json"
    cells = synth_ecp5(verilog, top, workdir, dsp=dsp, flow=flow, widelut=widelut)
    used = {"lut4": cells.get("LUT4", 0), "carry_ccu2c": cells.get("CCU2C", 0), "ff": cells.get("TRELLIS_FF", 0)}
    seeds = list(seeds or [seed])
    achieved = []
    for i, s in enumerate(seeds if place else []):
        suffix = "" if i == 0 else f"_seed{s}"
        try:
            achieved.append(place_ooc(netlist, device=device, freq_mhz=freq_mhz, seed=s, suffix=suffix))
        except ToolError as e:
            log = workdir / f"nextpnr{suffix}.log"
            text = log.read_text() if log.exists() else ""
            over = over_capacity(text)
            if "Unable to find legal placement" in text or over:
                detail = ", ".join(f"{n} {u}/{a} ({u * 100 // a}%)" for n, u, a in over)
                raise DoesNotFit(f"{top} does not fit LFE5U-{device.upper()}: {detail or 'placement failed'}; "
                                 f"log: {log}", used) from None
            raise e
    fmax = sorted(achieved)[len(achieved) // 2] if len(achieved) % 2 else (
        sum(sorted(achieved)[len(achieved) // 2 - 1:len(achieved) // 2 + 1]) / 2 if achieved else None)
    return {
        "device": f"LFE5U-{device.upper()}",
        "lut4": cells.get("LUT4", 0), "carry_ccu2c": cells.get("CCU2C", 0),
        "ff": cells.get("TRELLIS_FF", 0), "dsp_mult18": cells.get("MULT18X18D", 0),
        "bram_dp16kd": cells.get("DP16KD", 0), "lutram_dpr16x4": cells.get("TRELLIS_DPR16X4", 0),
        "lut4_equiv": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "fmax_mhz": None if fmax is None else round(fmax, 1), "requested_mhz": freq_mhz, "flow": flow,
        "widelut": widelut, "dsp": dsp,
        **({"fmax_by_seed": {str(s): round(f, 1) for s, f in zip(seeds, achieved)}} if len(achieved) > 1 else {}),
        "seconds": round(time.time() - t0, 1), "logs": str(workdir),
    }


def place_ooc(netlist: Path, *, device: str = "85k", freq_mhz: float = 200, seed: int = 1,
              suffix: str = "") -> float:
    """``nextpnr-ecp5 --out-of-context`` on a ``synth_ecp5`` JSON netlist, in its directory:
    log ``nextpnr<suffix>.log``, report ``nextpnr_report<suffix>.json``; returns the Fmax
    achieved (MHz). Another ``seed`` on the same netlist needs no new synthesis."""
    workdir = netlist.parent
    report = workdir / f"nextpnr_report{suffix}.json"
    run_tool([*nextpnr_ecp5_command(), f"--{device}", "--out-of-context", "--json", netlist.name,
              "--freq", str(freq_mhz), "--timing-allow-fail", "--seed", str(seed), "--report", report.name],
             workdir / f"nextpnr{suffix}.log", what=f"nextpnr-ecp5 {netlist.stem}", cwd=workdir)
    fmax = json.loads(report.read_text()).get("fmax", {})
    return max((v.get("achieved", 0.0) for v in fmax.values()), default=0.0)


def over_capacity(log_text: str) -> list[tuple[str, int, int]]:
    """(resource, used, available) for what a nextpnr log reports over 100%: its device
    utilisation table (``ICESTORM_LC:  5838/ 5280  110%``) or an out-of-context run's
    totals (``Total LUT4s:  126031/83640  150%``). yosys' cell counts can fit while the
    packed cells do not."""
    found = re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text, re.M)
    found += re.findall(r"Total (\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text)
    return [(n, int(u), int(a)) for n, u, a in found if int(u) > int(a)]


def _last_int(pattern: str, text: str) -> int | None:
    found = re.findall(pattern, text, re.M)
    return int(found[-1]) if found else None
