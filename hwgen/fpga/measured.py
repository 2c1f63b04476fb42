"""Board builds that were measured (``make boards`` → ``bench/boards.py``), as the library
needs them: which engine met timing at which clock on which board.

The package carries a copy (``hwgen/fpga/data/boards.json``, package data) so that
``hwgen run llm`` projects onto a real board clock when hwgen is installed from a wheel,
where ``bench/results/`` does not exist. ``bench/boards.py`` writes that copy beside its
results (:func:`write_packaged`), keeping only the fields read here; a test checks that the
two agree. A user's own builds are passed in as a file instead (``hwgen run llm --boards
FILE``): a ``bench/boards.py`` results file, this package copy, or one ``report.json`` of
``hwgen synth --board``.
"""
from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

__all__ = ["BoardsError", "FIELDS", "packaged", "load_results", "summary", "write_packaged", "board_clock"]

#: what the package copy keeps of each build (``clock``: requested_mhz and achieved_mhz only)
FIELDS = ("board", "title", "device", "config", "config_hash", "array", "timing_met", "clock")


class BoardsError(ValueError):
    """A board results file is missing or malformed."""


def _results(doc, where: str) -> list[dict]:
    """The build records of a results document, each checked for the fields :func:`board_clock` reads."""
    if isinstance(doc, dict) and "results" in doc:
        records = doc["results"]
    elif isinstance(doc, dict) and "board" in doc and "clock" in doc:   # one hwgen synth report.json
        records = [doc]
    else:
        raise BoardsError(f"{where}: expected a board results file (an object with \"results\", as bench/boards.py "
                          "writes) or one report.json of hwgen synth --board")
    if not isinstance(records, list):
        raise BoardsError(f"{where}: \"results\" must be a list of builds")
    for i, r in enumerate(records):
        at = f"{where}: results[{i}]"
        if not isinstance(r, dict):
            raise BoardsError(f"{at}: expected an object (one board build)")
        for key, kind in (("board", str), ("array", str), ("timing_met", bool), ("clock", dict)):
            if not isinstance(r.get(key), kind):
                raise BoardsError(f"{at}: {key} must be a {kind.__name__}, got {r.get(key)!r:.60}")
        mhz = r["clock"].get("requested_mhz")
        if isinstance(mhz, bool) or not isinstance(mhz, (int, float)) or not math.isfinite(mhz) or mhz <= 0:
            raise BoardsError(f"{at}: clock.requested_mhz must be a positive number of MHz, got {mhz!r:.60}")
    return records


def load_results(path: Path) -> list[dict]:
    """The builds in ``path`` (see the module docstring for the files accepted)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise BoardsError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, RecursionError) as e:   # JSON and UTF-8 errors are ValueErrors
        raise BoardsError(f"{path}: not JSON ({e})") from None
    return _results(doc, str(path))


def packaged() -> list[dict]:
    """The builds shipped with hwgen (empty when the copy is absent, e.g. before the first ``make boards``)."""
    res = resources.files("hwgen.fpga") / "data" / "boards.json"
    if not res.is_file():
        return []
    return _results(json.loads(res.read_text(encoding="utf-8")), "hwgen/fpga/data/boards.json (package data)")


def summary(doc: dict) -> dict:
    """The package copy of a ``bench/boards.py`` results document: the fields the library reads."""
    keep = []
    for r in _results(doc, "results"):
        rec = {k: r[k] for k in FIELDS if k in r}
        rec["clock"] = {k: r["clock"][k] for k in ("requested_mhz", "achieved_mhz") if k in r["clock"]}
        keep.append(rec)
    return {"benchmark": "boards", "date": doc.get("date"), "source": "bench/results/boards.json (make boards)",
            "results": keep}


def write_packaged(doc: dict, path: Path) -> None:
    """Write :func:`summary` of ``doc`` to ``path`` (``hwgen/fpga/data/boards.json`` of the source tree)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(doc), indent=1) + "\n")


def _engine(array: str) -> list[str]:
    """``"systolic 4x4 int8xint8"`` → ``["systolic", "4x4"]`` (kind and dimensions)."""
    return array.split()[:2]


def board_clock(cfg, results: list[dict]) -> tuple[str, float] | None:
    """(label, MHz) of a timing-met board build of ``cfg``: a build of this very config (same content
    hash) first, else one of the same engine kind and dimensions; None when there is none."""
    a = cfg.array
    dims = f"{a.rows}x{a.cols}" + (f"x{a.depth}" if a.depth > 1 else "")
    met = [r for r in results if r["timing_met"]]
    same = [r for r in met if r.get("config_hash") == cfg.content_hash]
    shape = [r for r in met if _engine(r["array"]) == [a.kind, dims]]
    for r in same or shape:
        clk = r["clock"]
        return (f"{r['board']} ({r.get('device', '?')}, {r['array']}; its clock, timing met, Fmax "
                f"{clk.get('achieved_mhz', '?')} MHz)", clk["requested_mhz"])
    return None
