"""``hwgen sim``: build the Verilog with Verilator (cached by content hash) and run the bench."""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..config import HwgenConfig, dumps
from ..generate import emit_verilog
from .. import cache
from ..tools import ToolError, first_error, verilator_env, verilator_identity

__all__ = ["SimResult", "SimFailure", "sim", "build", "build_verilog", "default_plan", "VERILATOR_ARGS"]

#: Amaranth's Verilog trips these lint warnings; none is a functional problem.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                  "-Wno-UNOPTFLAT", "-Wno-CASEINCOMPLETE", "-Wno-PINCONNECTEMPTY", "-O3"]
BENCH_MODULE = "hwgen.sim.bench_gemm"
#: cocotb builds compile the model's C++ unoptimized: Python drives every cycle there, so the
#: model's speed hardly shows (an 8x8 pipelined array: build 137 -> 68 s, its simulation
#: 16 -> 19 s), and the builds are most of `make test`. The native harness keeps -O2.
COCOTB_CFLAGS = ["-CFLAGS", "-O0"]


class SimFailure(AssertionError):
    """The simulation ran and the hardware disagreed with the golden model (or hung)."""


@dataclass
class SimResult:
    seed: int
    gemms: list[dict]
    build_dir: Path
    work_dir: Path
    log: Path
    waves: Path | None = None
    cached_build: bool = False
    verilog_bytes: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and all(g["ok"] for g in self.gemms)


def default_plan(cfg: HwgenConfig, rng: random.Random) -> list[dict]:
    """The GEMMs ``hwgen sim`` runs: performance shapes without stalls, then random shapes
    (not multiples of the array) with stalls, extreme values and zeros, then all-extreme
    operands that exercise the accumulator's overflow rule; bit-serial engines add run-time
    precisions and normally distributed weights."""
    arr = cfg.array
    R, C, D = arr.rows, arr.cols, arr.depth
    serial = arr.kind == "bit_serial"
    long_k = 64 if serial else 256
    # one tile with a long streamed dimension, then 2x2 tiles of the stationary dimensions
    perf = {"output_stationary": [dict(m=R, k=long_k, n=C, note="one tile, no stalls"),
                                  dict(m=2 * R, k=64, n=2 * C, note="2x2 tiles, no stalls")],
            "weight_stationary": [dict(m=256, k=R, n=C, note="one weight tile, no stalls"),
                                  dict(m=64, k=2 * R, n=2 * C, note="2x2 weight tiles, no stalls")],
            "input_stationary": [dict(m=C, k=R, n=256, note="one input tile, no stalls"),
                                 dict(m=2 * C, k=2 * R, n=64, note="2x2 input tiles, no stalls")]}[arr.dataflow]

    def odd(base):  # a size that is not a multiple of base (unless base is 1)
        v = rng.randint(1, 3 * base)
        return v + 1 if base > 1 and v % base == 0 else v

    random_shapes = [dict(m=odd(R), k=odd(D) if D > 1 else rng.randint(1, 3 * max(R, C) + 5), n=odd(C),
                          stall_in=0.3, stall_out=0.3, extremes=0.15, zeros=0.1, note="random, stalls")
                     for _ in range(3)]
    extreme = [dict(m=R + (R > 1), k=2 * R * D + 3, n=C, stall_in=0.2, stall_out=0.4, fill="min*min",
                    note="all min × min, stalls"),
               dict(m=R, k=R * D + 2, n=C + (C > 1), stall_in=0.1, stall_out=0.1, fill="min*max",
                    note="all min × max, stalls")]
    extra = []
    if serial and arr.pe.arith == "mac":
        extra = [dict(m=odd(R), k=rng.randint(1, 40), n=odd(C), w_bits=b, stall_in=0.2, stall_out=0.2,
                      extremes=0.2, note=f"run-time precision {b} bits, stalls")
                 for b in sorted({1, max(1, arr.pe.w.bits // 2), rng.randint(1, arr.pe.w.bits)})]
    if serial and arr.pe.arith == "sparse_serial" and arr.pe.w.bits >= 4:
        extra = [dict(m=R, k=128, n=C, w_sigma=(1 << (arr.pe.w.bits - 1)) / 5, note="normal weights (σ = range/10)")]
    if arr.kind == "lut":   # every weight kind, at the widest and the narrowest bits, with stalls
        B = arr.pe.w.bits
        fmts = ["binary", "ternary", "int2", f"int{B}", "uint1", f"uint{B}", f"bipolar{B}",
                rng.choice([f"int{b}" for b in range(2, B + 1)] + [f"uint{b}" for b in range(1, B + 1)]
                           + [f"bipolar{b}" for b in range(1, B + 1)])]
        extra = [dict(m=odd(R), k=odd(D), n=odd(C), wfmt=f, stall_in=0.25, stall_out=0.25, extremes=0.2,
                      zeros=0.1, note=f"weights {f}, stalls") for f in dict.fromkeys(fmts)]
        extra += [dict(m=R, k=3 * D, n=C, wfmt=f"bipolar{B}", fill="min*max", stall_in=0.1, stall_out=0.3,
                       note=f"all min × bipolar{B} max, stalls")]
        if arr.dequant == "group":   # group-quantized: groups of 1, 2 and 8 beats, the last one short
            extra += [dict(m=odd(R), k=rng.randint(1, 5) * gb * D + rng.randint(1, D), n=odd(C), group=gb * D,
                           wfmt=f, stall_in=0.3, stall_out=0.3, extremes=0.2, note=f"{f}, groups of {gb * D}, stalls")
                      for gb, f in ((1, f"uint{B}"), (2, "int2"), (8, "ternary"))]
    return perf + random_shapes + extreme + extra


def _build_key(verilog_text: str, waves: bool) -> str:
    import cocotb
    return short_key(verilog_text, verilator_identity(), cocotb.__version__,
                      " ".join(VERILATOR_ARGS + COCOTB_CFLAGS), str(waves))


#: Verilator's run-time library (verilated.cpp and its VPI, DPI and threads parts) is the same
#: C++ in every cocotb build with the same Verilator, flags and tracing: it is compiled by the
#: first build, kept as a cache entry of its own, and copied into later builds between
#: verilation and make, which then finds the objects up to date (about 10 s of compiling per
#: build at -O0; a cold `make test` builds ~75 models).
RUNTIME_TAG = f"cocotb{cache.RUNTIME_SUFFIX}"
RUNTIME_GLOB = "verilated*.o"
_COPY_RUNTIME = ("import sys, pathlib; from hwgen.sim.runner import copy_runtime; "
                 "copy_runtime(*map(pathlib.Path, sys.argv[1:]))")


def _runtime_key() -> str:
    import cocotb
    return short_key(verilator_identity(), cocotb.__version__, " ".join(VERILATOR_ARGS + COCOTB_CFLAGS))


def short_key(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _runner(runtime: Path | None):
    """cocotb's Verilator runner; given ``runtime`` (a cache entry of run-time objects), one
    whose build copies them in after verilating. Should cocotb's build ever stop being the two
    steps verilate, make, the build is left as it is and compiles its own."""
    from cocotb_tools.runner import get_runner
    runner = get_runner("verilator")
    if runtime is None:
        return runner

    class WithRuntime(type(runner)):
        def _build_command(self):
            cmds = super()._build_command()
            if len(cmds) == 2 and list(cmds[1][:1]) == ["make"]:
                cmds.insert(1, [sys.executable, "-c", _COPY_RUNTIME, str(runtime), str(self.build_dir)])
            return cmds
    return WithRuntime()


def runtime_entry(tag: str, key: str) -> Path | None:
    """The cached run-time objects for ``key``, if some build kept them."""
    return cache.lookup("verilator", tag, key, "verilated.o")


def copy_runtime(entry: Path, obj_dir: Path) -> None:
    """Copy the run-time objects into a verilated build's directory (after verilating: newer
    than its makefiles, so make takes them as built)."""
    for p in entry.glob(RUNTIME_GLOB):
        shutil.copyfile(p, obj_dir / p.name)


def publish_runtime(obj_dir: Path, tag: str, key: str) -> None:
    """Keep a finished build's run-time objects as the entry later builds copy from."""
    objs = sorted(obj_dir.glob(RUNTIME_GLOB))
    if not objs or runtime_entry(tag, key):
        return
    with cache.building("verilator", tag, key, {p.name for p in objs}) as d:
        copy_runtime(obj_dir, d)


def build(cfg: HwgenConfig, *, waves: bool = False, log=None) -> tuple[Path, bool]:
    """Verilate the config's Verilog into a cached directory; returns (build dir, was cached).

    The directory holds ``<name>.v`` (the exact source that was built) and ``build.log``."""
    text, _ = emit_verilog(cfg)
    return build_verilog(cfg.name, text, waves=waves, log=log)


def build_verilog(name: str, text: str, *, waves: bool = False, log=None) -> tuple[Path, bool]:
    """Verilate ``text`` (top module ``name``) for cocotb into a cached directory."""
    key = _build_key(text, waves)
    rt_key = None if waves else _runtime_key()     # a traced build's run-time differs: its own

    def make(build_dir: Path):
        src = build_dir / f"{name}.v"
        src.write_text(text)
        build_log = build_dir / "build.log"
        if log:
            log(f"building {name} with Verilator (cached in {build_dir.parent})")
        extra = ["--trace-fst", "--trace-structs", *_lz4_args(build_dir)] if waves else []
        runtime = rt_key and runtime_entry(RUNTIME_TAG, rt_key)
        with verilator_env():
            runner = _runner(runtime)
            try:
                runner.build(sources=[src], hdl_toplevel=name, build_dir=build_dir,
                             build_args=VERILATOR_ARGS + COCOTB_CFLAGS + extra,
                             waves=waves, log_file=build_log, always=True)
            except (SystemExit, Exception) as e:  # cocotb raises SystemExit / CalledProcessError
                detail = first_error(build_log.read_text(errors="replace")) if build_log.exists() else ""
                raise ToolError(f"Verilator build of {name} failed ({e}){detail}; full log: {build_log}") from None
        if rt_key and not runtime:
            publish_runtime(build_dir, RUNTIME_TAG, rt_key)
    return cache.cached("verilator", name, key, name, {f"{name}.v", "build.log"}, make)


def _lz4_args(build_dir: Path) -> list[str]:
    """Verilator's FST writer needs <lz4.h> and -llz4. Where the system has no lz4
    development files, use hwgen's literal-only LZ4 header and an empty liblz4.a."""
    if Path("/usr/include/lz4.h").exists():
        return []
    shim = build_dir / "lz4shim"
    shim.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).parent / "csrc" / "lz4.h", shim / "lz4.h")
    (shim / "liblz4.a").write_bytes(b"!<arch>\n")  # an empty static archive
    return ["-CFLAGS", f"-I{shim}", "-LDFLAGS", f"-L{shim}"]


def sim(cfg: HwgenConfig, *, seed: int | None = None, waves: bool = False, gemms: list[dict] | None = None,
        work_dir: str | Path | None = None, log=None, check: bool = True) -> SimResult:
    """Simulate the config's Verilog on a plan of GEMMs, checked bit-exactly against ``hwgen.golden``.

    ``seed`` (random when None, and always reported) fixes data and stalls. Raises
    :class:`SimFailure` on any mismatch when ``check``.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    seed = random.randrange(2**31) if seed is None else int(seed)
    plan_gemms = gemms if gemms is not None else default_plan(cfg, random.Random(seed))
    build_dir, cached = build(cfg, waves=waves, log=log)
    work = Path(work_dir) if work_dir else Path("build") / cfg.name / "sim"
    work.mkdir(parents=True, exist_ok=True)
    plan_path, results_path = work / "plan.json", work / "results.json"
    results_path.unlink(missing_ok=True)
    plan_path.write_text(json.dumps({"config_yaml": dumps(cfg), "seed": seed, "gemms": plan_gemms,
                                     "results_path": str(results_path.resolve())}, indent=1))
    sim_log = work / "sim.log"
    if log:
        log(f"simulating {len(plan_gemms)} GEMMs, seed {seed}")
    with verilator_env():
        runner = get_runner("verilator")
        xml = runner.test(test_module=BENCH_MODULE, hdl_toplevel=cfg.name, hdl_toplevel_lang="verilog",
                          build_dir=build_dir,
                          test_dir=work.resolve(), extra_env={"HWGEN_SIM_PLAN": str(plan_path.resolve())},
                          waves=waves, seed=seed, log_file=sim_log, results_xml=str((work / "results.xml").resolve()))
    _, failed = get_results(xml)
    if not results_path.exists():
        raise SimFailure(f"simulation of {cfg.name} (seed {seed}) ended without results; log: {sim_log}")
    data = json.loads(results_path.read_text())
    res = SimResult(seed=seed, gemms=data["gemms"], build_dir=build_dir, work_dir=work, log=sim_log,
                    waves=(work / "dump.fst") if waves else None, cached_build=cached,
                    verilog_bytes=(build_dir / f"{cfg.name}.v").stat().st_size)
    res.failures = [f"GEMM {g['index']} {g['m']}x{g['k']}x{g['n']}: {g['mismatches']} mismatches "
                    f"(first {g.get('first_mismatch')})" for g in res.gemms if not g["ok"]]
    if failed and not res.failures:
        res.failures.append(f"bench failed; see {sim_log}")
    if check and not res.ok:
        raise SimFailure(f"{cfg.name} seed {seed}: " + "; ".join(res.failures) + f" (log: {sim_log})")
    return res
