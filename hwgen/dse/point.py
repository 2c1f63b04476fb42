"""One sweep point, run in its own process: ``python -m hwgen.dse.point TASK.json RESULT.json``.

TASK.json has the config (YAML), the steps, the GEMM and the work directory; RESULT.json
gets the metrics, written atomically (a temporary file renamed) after every step, so a killed
point leaves no half record and loses no finished step (``done`` lists them). Tool output
goes to stdout/stderr, which the sweep keeps as the point's log.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["run_steps", "write_atomic"]


def write_atomic(path: Path, doc: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def run_steps(task: dict, result: Path | None = None) -> dict:
    from ..config import loads
    from ..generate import generate
    from .spec import step_name
    cfg = loads(task["config"], source=f"sweep point {task['key']}")
    work = Path(task["work"])
    metrics: dict = {}
    gen = None
    done = []
    for step in task["steps"]:
        t0 = time.monotonic()
        print(f"== {step}", flush=True)
        if gen is None:
            gen = generate(cfg, work / "rtl", force=True)
            text = gen.verilog.read_text()
            metrics.update(verilog_lines=text.count("\n"), verilog_bytes=len(text.encode()))
        if step == "generic":
            from ..fpga.ooc import generic_stats
            st = generic_stats(gen.verilog, cfg.name, work / "generic")
            metrics.update({k: v for k, v in st.items() if k not in ("log", "seconds")})
        elif step == "cycles":
            from ..sim.runner import sim
            g = task["gemm"]
            res = sim(cfg, seed=1, gemms=[g], work_dir=work / "sim", check=False).gemms[0]
            metrics.update(cycles=res["cycles"], bit_exact=res["ok"], gemm=f"{g['m']}x{g['k']}x{g['n']}",
                           sim_macs_per_cycle=round(g["m"] * g["k"] * g["n"] / res["cycles"], 4))
        elif step == "run":   # the accelerator's RUN counter (Verilated top) vs the golden device's model
            from ..driver.run import run_gemm
            g = task["gemm"]
            rtl = run_gemm(cfg, g["m"], g["k"], g["n"], transport="verilator", seed=1, log=print)
            model = run_gemm(cfg, g["m"], g["k"], g["n"], transport="golden", seed=1, log=print)
            metrics.update(run_cycles=rtl["run_cycles"], run_cycles_model=model["run_cycles"],
                           run_model_error=round(model["run_cycles"] / rtl["run_cycles"] - 1, 5),
                           run_bit_exact=rtl["ok"] and model["ok"], run_utilization=round(rtl["utilization"], 4))
        elif isinstance(step, dict) and "ecp5" in step:
            from ..fpga.ooc import DEFAULT_FLOW, DoesNotFit, ecp5_ooc
            o = step["ecp5"]
            try:
                r = ecp5_ooc(gen.verilog, cfg.name, work / "ecp5", dsp=o["dsp"], seeds=o["seeds"], place=o["place"],
                             freq_mhz=o["freq_mhz"], device=o["device"], flow=o.get("flow", DEFAULT_FLOW))
                metrics.update({f"ecp5_{k}": v for k, v in r.items()
                                if isinstance(v, (int, float, bool, dict)) or v is None})
                if r.get("fmax_by_seed"):
                    f = list(r["fmax_by_seed"].values())
                    metrics.update(ecp5_fmax_min=min(f), ecp5_fmax_max=max(f))
            except DoesNotFit as e:
                metrics.update({f"ecp5_{k}": v for k, v in e.used.items()})
                metrics.update(ecp5_fits=False, ecp5_note=str(e))
        elif isinstance(step, dict):
            cmd = [str(c) for c in step["command"]] + [str(gen.verilog)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            sys.stdout.write(out.stdout)
            sys.stderr.write(out.stderr)
            if out.returncode:
                raise RuntimeError(f"command {cmd[0]} exited with {out.returncode}")
            try:
                extra = json.loads(out.stdout or "{}")
            except ValueError:
                extra = {}
            if isinstance(extra, dict):
                metrics.update({f"cmd_{k}": v for k, v in extra.items()})
        metrics[f"seconds_{step_name(step)}"] = round(time.monotonic() - t0, 2)
        done.append(step_name(step))
        if result is not None:      # what is finished survives a timeout in a later step
            write_atomic(result, {"metrics": metrics, "done": done})
    return metrics


def main(argv: list[str]) -> int:
    task = json.loads(Path(argv[0]).read_text())
    result = Path(argv[1])
    write_atomic(result, {"metrics": run_steps(task, result), "done": "all"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
