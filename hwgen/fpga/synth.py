"""``hwgen synth``: YAML → bitstream for a board, or the bare engine out of context.

Board flow, every step a real tool from PyPI, every log kept in the build directory:

1. fit estimate from the config (instant; refuses with numbers and a suggestion);
2. Amaranth elaborates the board shell (PLL, reset, UART pins from amaranth-boards) around
   the accelerator and writes RTLIL plus the pin constraints;
3. yosys ``synth_ice40``/``synth_ecp5``; exact cell counts checked against the device;
4. nextpnr places and routes (``--report`` gives utilization, Fmax, critical path);
5. ``icepack``/``ecppack`` writes the bitstream;
6. ``report.json`` (also the manifest ``hwgen flash`` checks) — and a clear error if the
   clock the PLL makes is faster than the design can run.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from ..config import HwgenConfig
from ..pe.mul import SB_MAC16_PARAMS, sb_mac16_param_width
from ..tools import ToolError, nextpnr_command, packer_command, run_tool, yosys_command
from .boards import CAPACITY, Board
from .fit import check_cells, check_estimate, dsp_target, used_from_cells
from .ooc import DEFAULT_FLOW, FLOWS, DoesNotFit, _stat, ecp5_ooc, ecp5_synth_steps, over_capacity

__all__ = ["synth_board", "synth_ooc", "TimingNotMet", "BUILD_MARK", "prepare_dir", "TOP", "yosys_script"]

TOP = "hwgen_board"
BUILD_MARK = ".hwgen-build"
#: nextpnr resource names → report keys
_PNR = {"ice40": {"lut4": "ICESTORM_LC", "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP", "pll": "ICESTORM_PLL",
                  "io": "SB_IO"},
        "ecp5": {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD", "dsp": "MULT18X18D",
                 "pll": "EHXPLLL", "io": "TRELLIS_IO"}}


class TimingNotMet(ToolError):
    """Placed and routed, but the clock asked for is faster than the design runs."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report


def prepare_dir(out: Path) -> Path:
    """A build directory hwgen owns: refuse a non-empty one it did not create."""
    if out.exists() and any(out.iterdir()) and not (out / BUILD_MARK).exists():
        raise ToolError(f"{out} exists, is not empty and was not made by hwgen synth; "
                        "choose another --output (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    (out / BUILD_MARK).write_text("made by hwgen synth; files here are overwritten by the next build\n")
    return out


def _step(log, what: str):
    log(f"  {what} ...")
    return time.time()


#: a black box with SB_MAC16's ports and parameters, the private type hwgen's own SB_MAC16
#: cells have while yosys synthesizes (see :func:`yosys_script`)
_HIDDEN_SB_MAC16 = "(* blackbox *) module \\hwgen_SB_MAC16 (" + ", ".join(
    ["input CLK, CE", "input [15:0] C, A, B, D",
     "input AHOLD, BHOLD, CHOLD, DHOLD, IRSTTOP, IRSTBOT, ORSTTOP, ORSTBOT",
     "input OLOADTOP, OLOADBOT, ADDSUBTOP, ADDSUBBOT, OHOLDTOP, OHOLDBOT, CI, ACCUMCI, SIGNEXTIN",
     "output [31:0] O", "output CO, ACCUMCO, SIGNEXTOUT"]) + ");\n" + "".join(
    f"  parameter [{sb_mac16_param_width(name) - 1}:0] {name} = 0;\n" for name in SB_MAC16_PARAMS) + "endmodule"


#: the routing delay per LUT level abc9 assumes on the iCE40 (yosys' default is 250 ps; a
#: UP5K route between logic cells takes ~1.5-2 ns): with it, ABC keeps LUT chains short
#: rather than trading levels for area wherever a long carry chain sets its delay target
ICE40_WIRE_PS = 1700


def _synth_ice40(dsp: str, top: str, speed: str) -> list[str]:
    """synth_ice40 for the ``speed`` grade's timing model, its LUT mapping (the map_luts
    step) run with :data:`ICE40_WIRE_PS`."""
    grade = f"-device {speed}" if speed else ""
    return [f"synth_ice40 {dsp} {grade} -top {top} -run :map_luts",
            "check -latchonly -assert", "techmap -map +/ice40/latches_map.v",
            f"read_verilog -D ICE40_{(speed or 'hx').upper()} -icells -lib -specify +/ice40/abc9_model.v",
            f"abc9 -W {ICE40_WIRE_PS}", "ice40_wrapcarry -unwrap", "techmap -map +/ice40/ff_map.v", "clean",
            "opt_lut -tech ice40",
            f"synth_ice40 {dsp} {grade} -top {top} -run map_cells:"]


def yosys_script(family: str, engine_dsp: bool, any_dsp: bool, *, top: str = TOP, engine: str = f"{TOP}.accel.engine",
                 netlist: str = f"{TOP}_netlist.v", speed: str = "", flow: str = DEFAULT_FLOW) -> str:
    """The synthesis script of a board build (also used for the netlist check's top); ``flow``
    is the ECP5's LUT mapping (:data:`~hwgen.fpga.ooc.FLOWS`)."""
    check_flow(family, flow)
    synth = (_synth_ice40("-dsp" if any_dsp else "", top, speed) if family == "ice40" else
             ecp5_synth_steps(top, dsp=any_dsp, flow=flow))
    return "\n".join([
        f"read_rtlil {top}.il",
        f"hierarchy -top {top}",
        # drop Amaranth's debug alias wires (e.g. `acc[0]` beside `acc`): this yosys's
        # ABC reintegration asserts on the name clash
        "proc", "opt_clean -purge",
        # No memory of the accelerator reads and writes one address in the same cycle (the
        # scratchpads' ports are the link's or the sequencer's, the accumulator's read-add-
        # write goes to consecutive rows, a FIFO never reads the slot it writes, the counter
        # file's scanner reads ahead of its write-back): their collisions are don't-care, so
        # yosys keeps the block RAMs' own ports instead of emulating read-before-write in
        # fabric (on the iCE40UP5K that emulation took ~470 flip-flops and ~470 LUTs).
        "memory_collect",
        "setparam -set RD_COLLISION_X_MASK 1'1 t:$mem_v2 r:RD_PORTS=1 %i r:WR_PORTS=1 %i",
        # the PIM banks' data and vector memories (a read-write port and the GEMV's read port)
        # say so with no_rw_check, which this yosys's memory_libmap does not read: without the
        # mask it emulates read-before-write on both read ports by duplicating the memory
        # (an ECP5 bank of 4096 x 64 bits took 32 DP16KD instead of 16)
        "setparam -set RD_COLLISION_X_MASK 2'b11 t:$mem_v2 a:no_rw_check %i r:RD_PORTS=2 %i r:WR_PORTS=1 %i",
        # the engine's multipliers become Booth LUT logic when the DSPs are too few
        *([] if engine_dsp else [f"booth {engine}*"]),
        # hwgen's own DSP cells (SB_MAC16 pairs in 8x8 mode) under a private type during
        # synthesis: ice40_dsp would otherwise re-configure them as 16x16 multipliers
        "chtype -set hwgen_SB_MAC16 a:hwgen_keep",
        f"read_verilog -lib <<EOT\n{_HIDDEN_SB_MAC16}\nEOT",
        *synth,
        "chtype -set SB_MAC16 t:hwgen_SB_MAC16",
        "tee -q -o synth_stat.json stat -json",
        f"write_json {top}.json",
        f"write_verilog -noattr {netlist}",
    ]) + "\n"


def check_flow(family: str, flow: str):
    """``--flow`` chooses the ECP5's LUT mapping; the iCE40 build has its own (:func:`_synth_ice40`)."""
    if flow not in FLOWS:
        raise ToolError(f"--flow: one of {', '.join(FLOWS)}; got {flow!r}")
    if family != "ecp5" and flow != DEFAULT_FLOW:
        raise ToolError(f"--flow {flow}: the LUT-mapping flows are the ECP5's; an {family} build maps its LUTs "
                        "its own way (abc9 with the iCE40's routing delay)")


def _pnr_report(family: str, rep: dict) -> dict:
    util = rep.get("utilization", {})
    res = {}
    for key, cell in _PNR[family].items():
        if cell in util:
            res[key] = {"used": util[cell]["used"], "available": util[cell]["available"]}
    return res


def _critical(rep: dict, clock: str | None) -> dict:
    paths = rep.get("critical_paths", [])
    if not paths:
        return {}
    p = next((p for p in paths if clock and clock in p.get("from", "")), paths[0])
    steps = p.get("path", [])
    if not steps:
        return {}
    return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 2),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic")}


def _fmax(rep: dict) -> tuple[str | None, float | None]:
    """The accelerator clock's net and its achieved MHz in a nextpnr report (unrounded:
    timing is met only if it is at least the clock asked for)."""
    fmax = rep.get("fmax", {})
    clk = next((k for k in fmax if "sync" in k), next(iter(fmax), None))
    return clk, (fmax[clk]["achieved"] if clk else None)


def seed_sweep(place, seeds, target_mhz: float, keep: list[Path], log=print) -> tuple[int, list[dict]]:
    """Place and route with ``place(seed)`` (returns the achieved MHz) for each of ``seeds``
    until one reaches ``target_mhz``; the files in ``keep`` (the placed design, its report,
    its log) are those of the chosen seed: the first that meets the target, else the fastest.
    Returns the chosen seed and every try."""
    tries, best = [], None
    for s in seeds:
        mhz = place(s)
        tries.append({"seed": s, "achieved_mhz": None if mhz is None else round(mhz, 2)})
        log(f"    seed {s}: {mhz if mhz is None else round(mhz, 2)} MHz (target {target_mhz:.2f})")
        if best is None or (mhz or 0) > (best[1] or 0):
            best = (s, mhz)
            for f in keep:
                if f.exists():
                    shutil.copyfile(f, f.with_name(f.name + ".best"))
        if mhz is not None and mhz >= target_mhz:
            break
    if tries[-1]["seed"] != best[0]:   # the last run was not the one kept: put the best one back
        for f in keep:
            if f.with_name(f.name + ".best").exists():
                shutil.copyfile(f.with_name(f.name + ".best"), f)
    for f in keep:
        f.with_name(f.name + ".best").unlink(missing_ok=True)
    return best[0], tries


def synth_board(cfg: HwgenConfig, source: Path | None, b: Board, out: Path, *, freq_mhz: float | None = None,
                seed: int = 1, seeds: int = 1, allow_timing_fail: bool = False, flow: str = DEFAULT_FLOW, log=print) -> dict:
    """Build a bitstream of ``cfg``'s accelerator for board ``b`` in ``out``; returns the report.
    ``seeds > 1``: nextpnr tries seeds ``seed, seed + 1, …`` until one meets the clock
    (:func:`seed_sweep`); the report lists every try. ``flow``: the ECP5's LUT mapping
    (:data:`~hwgen.fpga.ooc.FLOWS`; ``abc9_area`` maps for area, docs/sweep.md)."""
    from .shell import BoardShell, board_config, pll_for
    check_flow(b.family, flow)
    cap = b.capacity
    t_all = time.time()
    try:
        pll = pll_for(b, (freq_mhz or b.sync_hz / 1e6) * 1e6)
    except ValueError as e:
        raise ToolError(f"--freq: {e}") from None
    bcfg = board_config(cfg, pll)
    est = check_estimate(bcfg, cap)
    div = bcfg.soc.clock_hz // bcfg.soc.baud
    if div < 4:
        raise ToolError(f"soc.baud {bcfg.soc.baud} is too fast for a {pll.fout_mhz:.1f} MHz clock "
                        "(the UART needs >= 4 clocks per bit)")
    if abs(bcfg.soc.clock_hz / div - bcfg.soc.baud) > 0.02 * bcfg.soc.baud:
        raise ToolError(f"at {pll.fout_mhz:.3f} MHz the UART divisor {div} gives {bcfg.soc.clock_hz / div:,.0f} baud, "
                        f"{abs(bcfg.soc.clock_hz / div / bcfg.soc.baud - 1):.1%} off soc.baud {bcfg.soc.baud:,} "
                        "(a UART tolerates about 2%): choose --freq a multiple of the baud rate")
    out = prepare_dir(out)
    log(f"[{b.name}] {cfg.name}: {b.title}, accelerator clock {pll.fout_mhz:.2f} MHz "
        f"(PLL from {b.clk_hz / 1e6:g} MHz); estimate ~{est.lut4:,} LUT4, {est.bram} block RAMs, {est.dsp} DSPs "
        f"(engine multipliers in {'DSPs' if est.engine_dsp else 'LUTs'})")
    times = {}

    t = _step(log, "elaborating (Amaranth, amaranth-boards pins)")
    plat = b.platform_instance()
    # pe.pipeline >= 2 multipliers become the device's registered DSP cells where hwgen.pe.mul has them;
    # the output stage does without a multiplier when the engine takes every DSP
    target = dsp_target(cfg, cap)
    plat.hwgen_dsp, plat.hwgen_soc_dsp, plat.hwgen_fabric = target.hwgen_dsp, target.hwgen_soc_dsp, target.hwgen_fabric
    plan = plat.prepare(BoardShell(cfg, b, pll), name=TOP)
    for name, content in plan.files.items():
        if name.endswith((".il", ".pcf", ".lpf")):
            p = out / name
            p.write_bytes(content if isinstance(content, bytes) else content.encode())
    times["elaborate_s"] = round(time.time() - t, 1)

    t = _step(log, f"yosys synth_{b.family} (log: {out / 'yosys.log'})")
    (out / f"{TOP}.ys").write_text(yosys_script(b.family, est.engine_dsp, est.dsp > 0, speed=cap.speed, flow=flow))
    run_tool([*yosys_command(), "-l", "yosys.log", f"{TOP}.ys"], out / "yosys.out", what="yosys", cwd=out,
             progress=log)
    cells = _stat(out / "synth_stat.json").get("num_cells_by_type", {})
    synth_used = used_from_cells(b.family, cells)
    check_cells(bcfg, cap, synth_used)
    times["yosys_s"] = round(time.time() - t, 1)

    t = _step(log, f"nextpnr-{b.family} place and route (log: {out / 'nextpnr.log'})")
    cons = ["--pcf", f"{TOP}.pcf", "--asc", f"{TOP}.asc"] if b.family == "ice40" else \
        ["--lpf", f"{TOP}.lpf", "--textcfg", f"{TOP}.config"]

    def place(s: int) -> float | None:
        run_tool([*nextpnr_command(b.family), *cap.nextpnr, *b.package, "--json", f"{TOP}.json", *cons,
                  "--report", "pnr_report.json", "--timing-allow-fail", "--seed", str(s),
                  "--freq", f"{pll.fout_mhz:.2f}"], out / "nextpnr.log", what=f"nextpnr-{b.family}", cwd=out,
                 progress=log)
        return _fmax(json.loads((out / "pnr_report.json").read_text()))[1]
    try:
        placed = out / (f"{TOP}.asc" if b.family == "ice40" else f"{TOP}.config")
        seed, tries = seed_sweep(place, range(seed, seed + max(1, seeds)), pll.fout_mhz,
                                 [placed, out / "pnr_report.json", out / "nextpnr.log"], log=log)
    except ToolError as e:
        text = (out / "nextpnr.log").read_text() if (out / "nextpnr.log").exists() else ""
        over = ", ".join(f"{u:,} {n} of {a:,}" for n, u, a in over_capacity(text))
        if over:
            raise DoesNotFit(f"{cfg.name} does not fit {cap.device} after packing: {over}; "
                             f"log: {out / 'nextpnr.log'}", synth_used) from None
        if "Unable to find legal placement" in text or "Failed to place" in text or "too many" in text:
            raise DoesNotFit(f"{cfg.name} does not fit {cap.device} (placement failed); log: {out / 'nextpnr.log'}",
                             synth_used) from None
        raise e
    times["nextpnr_s"] = round(time.time() - t, 1)

    t = _step(log, "packing the bitstream")
    if b.family == "ice40":
        bit = out / f"{TOP}.bin"
        run_tool([*packer_command("ice40"), f"{TOP}.asc", bit.name], out / "pack.log", what="icepack", cwd=out)
    else:
        bit = out / f"{TOP}.bit"
        extra = ["--freq", "38.8"] if b.name == "orangecrab" else []
        run_tool([*packer_command("ecp5"), "--compress", *extra, "--input", f"{TOP}.config", "--bit", bit.name],
                 out / "pack.log", what="ecppack", cwd=out)
    times["pack_s"] = round(time.time() - t, 1)
    times["total_s"] = round(time.time() - t_all, 1)

    rep = json.loads((out / "pnr_report.json").read_text())
    clk, achieved_raw = _fmax(rep)
    achieved = None if achieved_raw is None else round(achieved_raw, 2)
    report = {
        "board": b.name, "title": b.title, "device": cap.device, "config": cfg.name,
        "config_file": str(source) if source else None, "config_hash": cfg.content_hash,
        "array": f"{cfg.array.kind} {cfg.array.rows}x{cfg.array.cols}" + (
            f"x{cfg.array.depth}" if cfg.array.depth > 1 else "") + f" {cfg.array.pe.a}x{cfg.array.pe.w}",
        "pipeline": cfg.array.pe.pipeline,
        "bitstream": bit.name, "bitstream_sha256": hashlib.sha256(bit.read_bytes()).hexdigest(),
        "clock": {"oscillator_mhz": b.clk_hz / 1e6, "requested_mhz": round(pll.fout_mhz, 3), "achieved_mhz": achieved,
                  "net": clk, "pll": pll.params},
        "timing_met": achieved_raw is not None and achieved_raw >= pll.fout_mhz,
        "uart": {"baud": bcfg.soc.baud, "divisor": bcfg.soc.clock_hz // bcfg.soc.baud},
        "resources": _pnr_report(b.family, rep),
        "synth_cells": synth_used, "estimate": est.as_dict(),
        "critical_path": _critical(rep, clk), "seconds": times, "seed": seed, "seeds_tried": tries, "flow": flow,
        "logs": {"yosys": "yosys.log", "nextpnr": "nextpnr.log", "pack": "pack.log"},
    }
    if b.family == "ice40":
        report["resources"]["ff"] = {"used": synth_used["ff"], "available": cap.ff}
    report["resources"]["carry"] = {"used": synth_used["carry"], "available": None}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if not report["timing_met"] and not allow_timing_fail:
        cp = report["critical_path"]
        raise TimingNotMet(
            f"{cfg.name} on {b.name}: timing not met: achieved {achieved} MHz < requested {pll.fout_mhz:.2f} MHz "
            f"(critical path {cp.get('from')} -> {cp.get('to')}, {cp.get('logic_levels')} logic levels); "
            f"rebuild with --freq {int(achieved or 0)} or fewer/narrower PEs. The bitstream {bit} was written but "
            f"not marked as good (report: {out / 'report.json'}; --allow-timing-fail accepts it)", report)
    return report


def check_ooc_device(device: str):
    cap = CAPACITY.get(device)
    if cap is None or cap.family != "ecp5":
        raise ToolError(f"--ooc needs an ECP5 device (nextpnr-ice40 has no out-of-context mode); "
                        f"choose one of {', '.join(k for k, c in CAPACITY.items() if c.family == 'ecp5')}")
    return cap


def synth_ooc(cfg: HwgenConfig, verilog: Path | None, device: str, out: Path, *, freq_mhz: float = 200,
              dsp: bool = True, seed: int = 1, flow: str = DEFAULT_FLOW, log=print) -> dict:
    """The bare engine (``<name>.v``) out of context on an ECP5: resources and Fmax.

    With ``dsp`` the engine is elaborated again for ECP5 DSPs (``pe.pipeline >= 2``
    multipliers become registered MULT18X18D cells) into ``<name>_ecp5.v``, and
    ``verilog`` is not read (it may be None)."""
    from ..generate import emit_verilog
    from ..pe.mul import DspTarget
    cap = check_ooc_device(device)
    out = prepare_dir(out)
    if dsp:
        verilog = out / f"{cfg.name}_ecp5.v"
        verilog.write_text(emit_verilog(cfg, platform=DspTarget("ecp5"))[0])
    log(f"[ooc {device}] {cfg.name}: synth_ecp5{'' if dsp else ' -nodsp'} + nextpnr-ecp5 --out-of-context "
        f"(logs in {out})")
    r = ecp5_ooc(verilog, cfg.name, out, device=device.split("-")[1], freq_mhz=freq_mhz, seed=seed, dsp=dsp,
                 flow=flow)
    pnr = json.loads((out / "nextpnr_report.json").read_text())
    report = {"mode": "out-of-context", **r, "device": cap.device, "config": cfg.name, "config_hash": cfg.content_hash,
              "macs_per_cycle": cfg.array.macs_per_cycle, "critical_path": _critical(pnr, None),
              "available": {"lut4": cap.lut4, "ff": cap.ff, "dsp": cap.dsp}}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
