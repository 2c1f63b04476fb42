"""The build cache: Verilator models keyed by content hash, kept small and bounded.

An entry is a directory ``<kind>/<tag>-<key>`` under :func:`cache_dir`. It is built in a
private directory beside it (``<tag>-<key>.build-<pid>``) and renamed into place only when
complete, so an interrupted build, or two processes building the same model at once,
never leave a half-built entry under the final name. A failed build stays where it was
built, so the log its error names is still there; it is evicted like any other entry.

A finished entry keeps only what running the model needs (the executable or shared
library, the logs, optionally the source): Verilator's objects and precompiled headers are
~95% of a build and are deleted. When the cache grows past ``HWGEN_CACHE_MAX`` (default
4G; ``0`` disables the limit), the least recently used entries are removed.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .tools import ToolError

__all__ = ["CacheStats", "cache_dir", "cached", "entry", "lookup", "building", "prune", "stats", "clear", "size_limit", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = "4G"
OK = "hwgen-build.ok"
KINDS = ("verilator", "native")  # only these folders are ever pruned or cleared
RECENT_S = 600.0  # an entry used this recently may be in use by another process: never evicted
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def cache_dir() -> Path:
    """Where builds are cached: ``HWGEN_CACHE``, else ``$XDG_CACHE_HOME/hwgen`` or ``~/.cache/hwgen``."""
    base = os.environ.get("HWGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hwgen")
    return Path(base)


def size_limit() -> int:
    """``HWGEN_CACHE_MAX`` in bytes (``0`` = no limit): a number with an optional K/M/G/T suffix."""
    text = os.environ.get("HWGEN_CACHE_MAX", DEFAULT_LIMIT).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if not m:
        raise ToolError(f"HWGEN_CACHE_MAX={text!r} is not a size: use bytes or a number with K, M, G or T "
                        f"(for example 4G, 500M), or 0 for no limit")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def entry(kind: str, tag: str, key: str) -> Path:
    """The directory a finished entry lives in."""
    return cache_dir() / kind / f"{tag}-{key}"


def lookup(kind: str, tag: str, key: str, product: str) -> Path | None:
    """The finished entry's directory if it holds ``product``; marks it as just used."""
    entry_dir = entry(kind, tag, key)
    if (entry_dir / OK).exists() and (entry_dir / product).exists():
        with contextlib.suppress(OSError):
            os.utime(entry_dir)
        return entry_dir
    return None


def cached(kind: str, tag: str, key: str, product: str, keep: set[str], make) -> tuple[Path, bool]:
    """(the entry's directory, whether it was there already). When it is not, ``make(d)``
    builds ``product`` into a private directory ``d`` (:func:`building`); ``product`` and
    the files named in ``keep`` are what stays of it."""
    hit = lookup(kind, tag, key, product)
    if hit:
        return hit, True
    with building(kind, tag, key, keep | {product}) as d:
        make(d)
    return entry(kind, tag, key), False


@contextlib.contextmanager
def building(kind: str, tag: str, key: str, keep: set[str]):
    """Yield a fresh private directory to build in. On success, delete everything but the
    top-level files in ``keep``, move it into place (:func:`entry`) and prune the cache.
    On failure the directory stays for its logs."""
    final = entry(kind, tag, key)
    work = final.with_name(f"{final.name}.build-{os.getpid()}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    yield work
    slim(work, keep)
    (work / OK).write_text(key + "\n")
    if (final / OK).exists():  # another process finished the same build first: keep its copy
        shutil.rmtree(work, ignore_errors=True)
    else:
        if final.exists():  # a leftover without the stamp
            shutil.rmtree(final, ignore_errors=True)
        try:
            work.rename(final)
        except OSError:  # another process renamed its copy in between: use that one
            shutil.rmtree(work, ignore_errors=True)
    prune(keep_entry=final)


def slim(directory: Path, keep: set[str]) -> None:
    """Delete everything in ``directory`` except its top-level files named in ``keep``."""
    for p in directory.iterdir():
        if p.name in keep and p.is_file():
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


@dataclass
class CacheStats:
    path: Path
    entries: int
    bytes: int
    limit: int
    #: of the entries, Verilator run-time libraries shared by every model's build (not models)
    runtimes: int = 0

    @property
    def models(self) -> int:
        return self.entries - self.runtimes


def _entries() -> list[tuple[float, int, Path]]:
    """(last use, size, directory) of every entry of every kind."""
    out = []
    root = cache_dir()
    if not root.exists():
        return out
    for kind in KINDS:
        if not (root / kind).is_dir():
            continue
        for entry in (root / kind).iterdir():
            try:
                size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file()) if entry.is_dir() \
                    else entry.stat().st_size
                out.append((entry.stat().st_mtime, size, entry))
            except OSError:  # removed by another process meanwhile
                continue
    return out


def prune(*, keep_entry: Path | None = None, limit: int | None = None) -> list[Path]:
    """Remove least recently used entries until the cache fits ``limit`` (default
    :func:`size_limit`). Entries used in the last ten minutes are never removed."""
    limit = size_limit() if limit is None else limit
    if limit <= 0:
        return []
    entries = sorted(_entries())
    total = sum(size for _, size, _ in entries)
    now, removed = time.time(), []
    for used, size, entry in entries:
        if total <= limit:
            break
        if entry == keep_entry or now - used < RECENT_S or _building_now(entry):
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        total -= size
        removed.append(entry)
    return removed


def _building_now(entry: Path) -> bool:
    """Whether ``entry`` is a build directory whose process is still running."""
    _, sep, pid = entry.name.rpartition(".build-")
    if not sep or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


#: an entry's tag ends so when it holds a Verilator run-time library (``cocotb-runtime``,
#: ``native-runtime``: :func:`hwgen.sim.runner.publish_runtime`), not a model
RUNTIME_SUFFIX = "-runtime"


def stats() -> CacheStats:
    entries = _entries()
    runtimes = sum(RUNTIME_SUFFIX + "-" in e.name for *_, e in entries)
    return CacheStats(cache_dir(), len(entries), sum(size for _, size, _ in entries), size_limit(), runtimes)


def clear() -> int:
    """Delete every entry; returns the bytes freed."""
    freed = sum(size for _, size, _ in _entries())
    root = cache_dir()
    for kind in KINDS:
        shutil.rmtree(root / kind, ignore_errors=True)
    return freed
