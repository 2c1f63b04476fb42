"""The build cache: builds land whole or not at all, keep only what runs, and stay under the limit."""
import os
import time

import pytest

from hwgen import cache
from hwgen.cli import main
from hwgen.config import loads
from hwgen.sim.runner import build
from hwgen.tools import ToolError


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HWGEN_CACHE_MAX", raising=False)
    return tmp_path / "cache"


def fake_build(tag, key, *, size=1000, fail=False):
    """What a Verilator build leaves behind: objects, a precompiled header, the product, a log."""
    def make(d):
        (d / "obj").mkdir()
        (d / "obj" / "Vtop__ALL.o").write_bytes(b"o" * 5000)
        (d / "Vtop__pch.h.fast.gch").write_bytes(b"g" * 5000)
        (d / "build.log").write_text("built\n")
        if fail:
            raise ToolError(f"build failed; log: {d / 'build.log'}")
        (d / tag).write_bytes(b"x" * size)
    entry, _ = cache.cached("verilator", tag, key, tag, {"build.log"}, make)
    return entry


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_size_limit_forms(monkeypatch):
    for text, value in (("4G", 4 << 30), ("500M", 500 << 20), ("1.5G", 3 << 29), ("123", 123), ("0", 0),
                        ("2GiB", 2 << 30), ("64k", 64 << 10)):
        monkeypatch.setenv("HWGEN_CACHE_MAX", text)
        assert cache.size_limit() == value, text
    monkeypatch.delenv("HWGEN_CACHE_MAX")
    assert cache.size_limit() == 4 << 30
    monkeypatch.setenv("HWGEN_CACHE_MAX", "lots")
    with pytest.raises(ToolError, match=r"HWGEN_CACHE_MAX='lots' is not a size: .*4G, 500M.*0 for no limit"):
        cache.size_limit()


def test_a_build_keeps_only_its_product_and_log(tmp_cache):
    entry = fake_build("m", "k1")
    assert sorted(p.name for p in entry.iterdir()) == ["build.log", "hwgen-build.ok", "m"]
    assert cache.lookup("verilator", "m", "k1", "m") == entry
    assert cache.lookup("verilator", "m", "k2", "m") is None
    assert [p.name for p in entry.parent.iterdir()] == ["m-k1"]  # no build directory left behind


def test_a_failed_build_keeps_its_log_and_is_not_an_entry(tmp_cache):
    with pytest.raises(ToolError, match="build failed; log: ") as e:
        fake_build("m", "k1", fail=True)
    log = str(e.value).split("log: ")[1]
    assert os.path.exists(log) and open(log).read() == "built\n"
    assert cache.lookup("verilator", "m", "k1", "m") is None
    entry = fake_build("m", "k1")  # the next try builds and takes the name
    assert cache.lookup("verilator", "m", "k1", "m") == entry


def test_an_earlier_leftover_under_the_final_name_is_replaced(tmp_cache):
    final = cache.entry("verilator", "m", "k1")
    final.mkdir(parents=True)
    (final / "stale.o").write_bytes(b"s")
    entry = fake_build("m", "k1")
    assert sorted(p.name for p in entry.iterdir()) == ["build.log", "hwgen-build.ok", "m"]


def test_a_build_finished_first_elsewhere_is_kept(tmp_cache):
    theirs = fake_build("m", "k1", size=10)
    (theirs / "m").write_bytes(b"theirs")  # the copy another process may be running
    with cache.building("verilator", "m", "k1", keep={"m"}) as d:  # ours, started before theirs was there
        (d / "m").write_bytes(b"ours")
    assert (theirs / "m").read_bytes() == b"theirs"
    assert [p.name for p in theirs.parent.iterdir()] == ["m-k1"]


def test_prune_spares_a_build_in_progress_and_removes_a_dead_one(tmp_cache):
    root = tmp_cache / "verilator"
    live, dead = root / f"m-k.build-{os.getpid()}", root / "n-k.build-999999999"
    for d in (live, dead):
        d.mkdir(parents=True)
        (d / "obj.o").write_bytes(b"o" * 10_000)
        age(d, 3600)
    assert cache.prune(limit=1) == [dead]
    assert live.exists()


def test_prune_evicts_least_recently_used_but_not_recent_ones(tmp_cache, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE_MAX", "0")
    entries = [fake_build(f"m{i}", "k", size=10_000) for i in range(5)]
    for i, e in enumerate(entries):
        age(e, 3600 * (5 - i))  # m0 oldest … m4 newest
    assert cache.lookup("verilator", "m1", "k", "m1")  # a hit makes m1 the newest
    age(entries[4], 60)  # m4 was used a minute ago: possibly in use elsewhere
    (tmp_cache / "notes").mkdir()  # not a cache folder: never touched
    (tmp_cache / "notes" / "big").write_bytes(b"n" * 100_000)
    removed = cache.prune(limit=25_000)
    assert removed == [entries[0], entries[2], entries[3]]
    assert all(e.exists() for e in (entries[1], entries[4])) and (tmp_cache / "notes" / "big").exists()
    assert cache.prune(limit=0) == []  # 0: no limit


def test_building_prunes_to_the_limit(tmp_cache, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE_MAX", "25000")
    old = [fake_build(f"m{i}", "k", size=10_000) for i in range(2)]
    for e in old:
        age(e, 3600)
    new = fake_build("m9", "k", size=10_000)
    assert not old[0].exists() and old[1].exists() and new.exists()


def test_real_verilator_entry_is_slim_and_hits():
    """A real build (shared with other tests through the user's cache): the executable, its
    source and log, nothing else; the second build is a hit in the same directory."""
    cfg = loads("name: cache_tiny\narray: {rows: 1, cols: 2, pe: {a: int4, w: int4, acc: 8}}\n")
    d1, _ = build(cfg)
    d2, cached = build(cfg)
    assert cached and d1 == d2
    assert sorted(p.name for p in d1.iterdir()) == ["build.log", "cache_tiny", "cache_tiny.v", "hwgen-build.ok"]
    assert os.access(d1 / "cache_tiny", os.X_OK)


def test_verilator_runtime_is_compiled_once_and_reused(tmp_cache, seed):
    """Verilator's run-time library is compiled by the first cocotb build only: it becomes an
    entry of its own, and a second, different model links copies of its objects (make finds
    them up to date) and still simulates bit-exactly."""
    from hwgen.sim.runner import RUNTIME_TAG, sim
    first = loads("name: rt_a\narray: {rows: 1, cols: 2, pe: {a: int4, w: int4, acc: 10}}\n")
    second = loads("name: rt_b\narray: {rows: 2, cols: 1, pe: {a: int4, w: int4, acc: 10}}\n")
    d1, _ = build(first)
    assert "verilated_vpi.cpp" in (d1 / "build.log").read_text()
    (rt,) = (tmp_cache / "verilator").glob(f"{RUNTIME_TAG}-*")
    assert {"verilated.o", "verilated_vpi.o"} <= {p.name for p in rt.iterdir()}
    d2, cached = build(second)
    log = (d2 / "build.log").read_text()
    assert not cached and "verilated.cpp" not in log and "verilated_vpi.cpp" not in log and "Vtop" in log
    assert sim(second, seed=seed, work_dir=tmp_cache.parent / "sim").ok


def test_cli_cache_info_prune_and_clear(tmp_cache, capsys, monkeypatch):
    fake_build("m", "k", size=2 << 20)
    assert main(["cache"]) == 0
    assert f"{tmp_cache}: 1 build, 2.0 MiB; limit 4.0 GiB (HWGEN_CACHE_MAX)" in capsys.readouterr().out
    fake_build("cocotb-runtime", "r", size=10)         # a shared run-time library is not a model
    assert main(["cache"]) == 0
    assert "1 build and 1 Verilator run-time library, 2.0 MiB" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert "(2.0 MiB)" in capsys.readouterr().out and not cache.entry("verilator", "m", "k").exists()
    fake_build("m", "k", size=10)
    monkeypatch.setenv("HWGEN_CACHE_MAX", "huge")
    assert main(["cache", "--prune"]) == 1
    assert "HWGEN_CACHE_MAX='huge' is not a size" in capsys.readouterr().err
    assert main(["cache", "--clear"]) == 0  # clearing does not need the limit
    assert not cache.entry("verilator", "m", "k").exists()
