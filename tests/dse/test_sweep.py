"""Sweeps on Dask (hwgen.dse): a grid on a LocalCluster, the same grid through a real
`dask scheduler` and `dask worker` started as separate processes, a point that hangs (killed by
its timeout), one that fails, resume after the sweep itself is killed, and the CLI's exit code."""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from hwgen.cli import main  # noqa: E402
from hwgen.dse import SweepError, load_sweep  # noqa: E402
from hwgen.dse.sweep import sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "small_4x4.yaml"


def write(tmp: Path, name: str, body: str) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(f"name: {name}\nbase: {BASE}\n" + body)
    return p


def cmd(code: str) -> str:
    """A command step: Python run with the point's Verilog path as argv[1]."""
    return json.dumps({"command": [sys.executable, "-c", code]})


GRID = "axes:\n  array.rows: [2, 4]\n  array.pe.w: [int4, int8, int99]\nsteps: [generate]\nlimits: {timeout_s: 120}\n"


def test_a_grid_on_a_local_cluster_and_its_resume(tmp_path):
    path = write(tmp_path, "grid", GRID)
    r = sweep(path, tmp_path / "out", workers=2, log=print)
    assert r["counts"] == {"ok": 4, "failed": 0, "timeout": 0, "invalid": 2, "cached": 0}
    rows = list(csv.DictReader(open(r["table"])))
    assert len(rows) == 6 and {row["status"] for row in rows} == {"ok", "invalid"}
    bad = next(row for row in rows if row["status"] == "invalid")
    assert "array.pe.w: must be intN or uintN" in bad["error"] and bad["axis.array.pe.w"] == "int99"
    ok = [row for row in rows if row["status"] == "ok"]
    assert all(int(row["verilog_lines"]) > 100 for row in ok)
    assert {(row["array.rows"], row["array.pe.w"]) for row in ok} == {("2", "int4"), ("2", "int8"), ("4", "int4"), ("4", "int8")}
    # an ok point's work directory (its Verilog) is gone, its record and log stay; the output
    # directory ignores the run's files for git
    assert not any((tmp_path / "out" / "work").glob("*/rtl"))
    assert all(Path(json.loads(p.read_text()).get("log", str(p))).exists() for p in (tmp_path / "out" / "points").glob("*.json"))
    assert "work/" in (tmp_path / "out" / ".gitignore").read_text().splitlines()
    (tmp_path / "out" / ".gitignore").write_text("mine\n")
    again = sweep(path, tmp_path / "out", workers=2, log=print)
    assert again["counts"]["cached"] == 6 and again["counts"]["ok"] == 0
    assert (tmp_path / "out" / ".gitignore").read_text() == "mine\n"      # a user's file is never overwritten
    import pyarrow.parquet as pq          # the dse extra's: the same table as Parquet
    table = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert len(table) == 6 and {r["status"] for r in table} == {"ok", "invalid"}
    assert sorted(r["array.rows"] for r in table if r["status"] == "ok") == [2, 2, 4, 4]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_same_grid_through_a_real_scheduler_and_worker(tmp_path):
    """The path a cluster takes: `dask scheduler` and `dask worker` as separate processes."""
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        time.sleep(2)
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        path = write(tmp_path, "grid", GRID)
        assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--scheduler", addr]) == 0
        recs = [json.loads(p.read_text()) for p in (tmp_path / "out" / "points").glob("*.json")]
        assert sorted(r["status"] for r in recs) == ["invalid"] * 2 + ["ok"] * 4
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_a_hanging_point_is_killed_and_a_failing_one_recorded(tmp_path, capsys):
    hang = ("import sys, time; t = open(sys.argv[1]).read(); "
            "time.sleep(600 if 'hang_0' in t else 0); sys.exit(3 if 'hang_1' in t else 0)")
    path = write(tmp_path, "hang", "axes:\n  array.rows: [2, 3, 4]\n"
                 f"steps: [generate, {cmd(hang)}]\nlimits: {{timeout_s: 20, retries: 1}}\n")
    t0 = time.monotonic()     # (20 s: a loaded 2-core machine once took 10 s to generate a 4-row array)
    r = sweep(path, tmp_path / "out", workers=2, log=print)
    assert time.monotonic() - t0 < 400      # not a speed check: the hanging point's 600 s sleep was cut short
    recs = {json.loads(p.read_text())["overrides"]["array.rows"]: json.loads(p.read_text())
            for p in (tmp_path / "out" / "points").glob("*.json")}
    assert recs[2]["status"] == "timeout" and "killed after 20 s" in recs[2]["error"] and recs[2]["attempts"] == 2
    assert recs[2]["metrics"]["verilog_lines"] > 100      # the step that finished before the hang is kept
    assert recs[3]["status"] == "failed" and "exit code 1" in recs[3]["error"]
    assert "command" in Path(recs[3]["log"]).read_text() and "exited with 3" in Path(recs[3]["log"]).read_text()
    assert recs[4]["status"] == "ok"
    assert r["counts"]["ok"] == 1 and not r["all_failed"]
    work = tmp_path / "out" / "work"     # limits.keep_work's default: a failed point's work stays, an ok one's goes
    assert (work / recs[2]["key"] / "rtl").is_dir() and (work / recs[3]["key"] / "rtl").is_dir()
    assert not (work / recs[4]["key"]).exists()
    # failed points stay failed on a rerun, unless asked
    assert sweep(path, tmp_path / "out", workers=1, log=print)["counts"]["cached"] == 3


def test_a_sweep_whose_every_point_failed_exits_non_zero(tmp_path, capsys):
    path = write(tmp_path, "fail", f"axes:\n  array.rows: [2, 3]\nsteps: [{cmd('import sys; sys.exit(2)')}]\n")
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--workers", "1"]) == 1
    assert "every point that ran failed" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--flow is for fit; a sweep maps LUTs as its ecp5 step says"):
        main(["sweep", str(path), "--flow", "abc9_area"])       # not silently ignored


def test_resume_after_the_sweep_itself_is_killed(tmp_path):
    slow = "import sys, time; time.sleep(1.5)"
    path = write(tmp_path, "resume", f"axes:\n  array.rows: [2, 3, 4, 5, 6, 7]\nsteps: [generate, {cmd(slow)}]\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hwgen.cli", "sweep", str(path), "-o", str(out), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "points").glob("*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)        # the sweep, its cluster and the running point
    proc.wait()
    done = len(list((out / "points").glob("*.json")))
    assert 2 <= done < 6
    r = sweep(path, out, workers=2, log=print)
    assert r["counts"]["cached"] == done and r["counts"]["ok"] == 6 - done


def test_sweep_file_errors_name_the_file_and_key(tmp_path):
    for body, msg in [("axes: {array.rows: 3}\n", "axes: each axis is a dotted config key with a non-empty list"),
                      ("steps: [synthesize]\n", "steps: 'synthesize' is not a step; allowed: generate"),
                      ("limits: {timeout: 3}\n", "limits: unknown key 'timeout'"),
                      ("limits: {keep_work: some}\n", "keep_work: 'some'; allowed: failed, all, none"),
                      ("axis: {}\n", "unknown key 'axis'")]:
        with pytest.raises(SweepError, match=msg):
            load_sweep(write(tmp_path, "bad", body))


def test_parts_linked_axes_and_step_settings(tmp_path):
    """Several families in one sweep (each its own base and GEMM), a mapping axis moving keys
    together, and the ecp5 step's settings filled in (the defaults are part of the key)."""
    path = tmp_path / "parts.yaml"
    path.write_text(f"name: parts\nbase: {BASE}\nparts:\n"
                    "  - name: cubes\n    base: {array: {kind: cube, rows: 2, cols: 2, pe: {a: int8, w: int8}}}\n"
                    "    axes: {array: [{rows: 2, cols: 2}, {rows: 3, cols: 3}, {rows: 3, cols: 2}]}\n"
                    "    gemm: {m: 8, k: 8, n: 8}\n"
                    "  - axes: {array.cols: [2, 4]}\n"
                    "steps: [generate, {ecp5: {dsp: false, seeds: [1, 2]}}]\n")
    sw = load_sweep(path)
    pts = sw.points()
    assert [p.part for p in pts] == ["cubes"] * 3 + [""] * 2
    assert [p.config is not None for p in pts] == [True, True, False, True, True]
    assert "cube is N×N×N" in pts[2].error and pts[1].config.array.depth == 3
    assert pts[0].gemm == {"m": 8, "k": 8, "n": 8} and pts[3].gemm == {"m": 16, "k": 16, "n": 16}
    assert sw.steps[1] == {"ecp5": {"dsp": False, "place": True, "seeds": [1, 2], "freq_mhz": 200, "device": "85k"}}
    for body, msg in [("steps: [{ecp5: {seed: 3}}]\n", "ecp5: unknown setting 'seed'; allowed: dsp, place, seeds"),
                      ("steps: [{ecp5: {seeds: []}}]\n", "seeds: a non-empty list of integers"),
                      ("steps: [{ecp5: {flow: yosys}}]\n", "flow: one of abc9, abc9_area, abc"),
                      ("parts: [{axes: {array.rows: [2]}, size: 3}]\n", r"parts\[0\]: unknown key 'size'"),
                      ("axes: {array.rows: [2]}\nparts: [{axes: {array.rows: [3]}}]\n", "go in each of the parts")]:
        with pytest.raises(SweepError, match=msg):
            load_sweep(write(tmp_path, "bad", body))


def test_a_part_of_the_engines_earlier_sweeps_synthesized(tmp_path):
    """``engines: [DIR]``: one point per distinct config an earlier sweep synthesized, as
    recorded (an engine two records share is one point; a failed or unsynthesized record is
    none), each under this sweep's steps and names."""
    old = tmp_path / "old" / "points"
    old.mkdir(parents=True)
    cfgs = [BASE.read_text().replace("rows: 4", f"rows: {r}") for r in (2, 3)]
    assert cfgs[0] != cfgs[1]
    recs = {"a": ("ok", cfgs[0], 100), "b": ("ok", cfgs[0].replace("small_4x4", "twin"), 100),
            "c": ("ok", cfgs[1], 200), "d": ("failed", cfgs[1].replace("rows: 3", "rows: 5"), 300),
            "e": ("ok", cfgs[1].replace("rows: 3", "rows: 6"), None)}
    for key, (status, text, lut) in recs.items():
        metrics = {} if lut is None else {"ecp5_lut4_equiv": lut}
        (old / f"{key}.json").write_text(json.dumps({"key": key, "status": status, "config_yaml": text,
                                                     "metrics": metrics}))
    path = write(tmp_path, "again", "parts:\n  - name: again\n    engines: [old]\n"
                 "steps: [generate, {ecp5: {dsp: false, place: false, flow: abc9_area}}]\n")
    pts = load_sweep(path).points()
    assert [p.overrides for p in pts] == [{"engine": "a"}, {"engine": "c"}]
    assert [(p.config.array.rows, p.config.name, p.part) for p in pts] == [(2, "again_0", "again"), (3, "again_1", "again")]
    for body, msg in [("parts: [{engines: [nowhere]}]\n", r"engines: nowhere: no sweep records there"),
                      ("parts: [{engines: [old], axes: {array.rows: [2]}}]\n", "a part with engines has no 'axes'"),
                      ("parts: [{engines: old}]\n", "engines: a list of sweep directories")]:
        with pytest.raises(SweepError, match=msg):
            load_sweep(write(tmp_path, "bad", body))


def test_ecp5_synthesis_is_kept_when_a_later_step_fails(tmp_path):
    """Real synth_ecp5 (no placement: quick) then a failing step: the record is a failure that
    still has the synthesized resources (a timeout keeps them the same way); every engine field
    is in the table."""
    path = write(tmp_path, "keep", "axes:\n  array.rows: [1]\n  array.cols: [1]\n"
                 f"steps: [generate, {{ecp5: {{dsp: false, place: false}}}}, {cmd('import sys; sys.exit(5)')}]\n")
    r = sweep(path, tmp_path / "out", workers=1, log=print)
    (rec,) = r["records"]
    assert rec["status"] == "failed" and rec["metrics"]["ecp5_lut4"] > 0 and rec["metrics"]["ecp5_ff"] > 0
    assert rec["metrics"]["ecp5_fmax_mhz"] is None and rec["metrics"]["ecp5_dsp"] is False
    (row,) = list(csv.DictReader(open(r["table"])))
    assert row["array.pe.acc"] == "32" and row["array.kind"] == "systolic" and int(row["ecp5_lut4"]) > 0


def test_sigterm_keeps_the_table_and_stops_the_running_points(tmp_path):
    """Ctrl-C or SIGTERM: the finished points' table is written, the running points' process
    groups are killed (no orphans left placing), and the exit status is 130."""
    slow = "import sys, time; time.sleep(0.5 if sys.argv[1].endswith('_0.v') else 300)"
    path = write(tmp_path, "term", f"axes:\n  array.rows: [2, 3, 4]\nsteps: [generate, {cmd(slow)}]\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hwgen.cli", "sweep", str(path), "-o", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # wait for the sweep itself to count the first point done (its record on disk comes a
    # moment before: a signal in between finds 0 points finished), and the others to run
    head = []
    while not head or not (head[-1].startswith("[1/3]") or head[-1] == ""):   # "": the sweep ended
        head.append(proc.stdout.readline())
    assert head[-1].startswith("[1/3] ok"), head
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "tasks").glob("*.pid"))) < 2:
        time.sleep(0.2)
    pids = [int(p.read_text()) for p in (out / "tasks").glob("*.pid")]
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=60)
    text = "".join(head) + text
    assert proc.returncode == 130, text
    assert "interrupted: 1 points finished in this run are kept" in text
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["ok"]
    time.sleep(0.5)
    recs = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    assert [r["status"] for r in recs] == ["ok"]       # the stopped points left no record: they rerun
    for pid in pids:                      # the sleeping points' groups are gone (zombies awaiting a reaper aside)
        assert not _live_in_group(pid), pid
    if _alive(proc.pid):                  # whatever of the sweep's own group is left
        os.killpg(proc.pid, signal.SIGKILL)


def _live_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (from /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
