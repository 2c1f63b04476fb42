"""Sweep files: a base config, axes, the steps per point and limits.

```yaml
name: systolic_widths
base: ../examples/systolic_8x8.yaml      # relative to this file (or `base: {inline config}`)
axes:                                    # lists: the grid of every combination
  array.rows: [2, 4, 8]
  # array: [{rows: 2, cols: 2}, {rows: 4, cols: 4}]   a mapping is merged: linked axes
  array.pe.w: [int4, int8]
random:                                  # or: sampled points (added to the grid's)
  samples: 20
  seed: 1
  axes:
    array.cols: {range: [2, 16]}         # integers lo..hi inclusive
    array.pe.acc: {choice: [24, 32]}
steps: [generate, generic]               # generate, generic (yosys), cycles (the engine in Verilator),
  # run (the accelerator's RUN cycles in Verilator beside the golden device's model), ecp5 (out of context)
  # {ecp5: {dsp: false, seeds: [1, 2, 3], place: true, freq_mhz: 200, device: 85k}}: its settings
  # {command: [prog, args...]}: run with the point's Verilog path appended; JSON on stdout is kept
gemm: {m: 16, k: 16, n: 16}              # for `cycles`
limits: {timeout_s: 600, retries: 0}
```

Several engine families in one sweep: ``parts``, a list of ``{name, base, axes, random, gemm}``
each swept as above (``base`` defaults to the sweep's), one results table for all.

The engines of earlier sweeps under other steps (another LUT mapping, device or tool version):
a part ``{name, engines: [DIR, ...]}`` (directories relative to this file) has one point per
distinct config that those sweeps synthesized (a record with ECP5 cell counts), as recorded.

A point's config is the base with each axis key set (dotted keys into the YAML mapping).
Configs the loader rejects are recorded as ``invalid`` with its message, not run.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import ConfigError, HwgenConfig, loads
from ..fpga.ooc import DEFAULT_FLOW, FLOWS

__all__ = ["SweepError", "Sweep", "Part", "Point", "load_sweep", "STEPS", "ECP5_DEFAULTS", "step_name"]

STEPS = ("generate", "generic", "cycles", "run", "ecp5")
#: the ``ecp5`` step's settings and their defaults (the board builds' flow: multipliers in DSPs)
ECP5_DEFAULTS = {"dsp": True, "place": True, "seeds": [1], "freq_mhz": 200, "device": "85k", "flow": DEFAULT_FLOW}


class SweepError(ValueError):
    """A sweep file that cannot be run: names the file and the key."""


@dataclass
class Point:
    index: int
    overrides: dict
    config: HwgenConfig | None      # None: invalid
    error: str | None = None
    key: str = ""
    part: str = ""
    gemm: dict | None = None


@dataclass
class Part:
    """One family of points: a base config with grid axes and random samples."""
    name: str
    base: dict
    grid: dict = field(default_factory=dict)
    random: dict | None = None
    gemm: dict | None = None          # the sweep's unless given
    #: ``engines``: (record key, config mapping) of every engine the named sweeps synthesized
    engines: list[tuple[str, dict]] | None = None

    def configs(self) -> list[tuple[dict, dict]]:
        """(overrides, config mapping) of every point: a recorded engine's config as it was,
        else the base with the overrides set."""
        if self.engines is not None:
            return [({"engine": key}, copy.deepcopy(doc)) for key, doc in self.engines]
        out = []
        for over in self.combos():
            doc = copy.deepcopy(self.base)
            for dotted, value in over.items():
                _set(doc, dotted, value)
            out.append((over, doc))
        return out

    def combos(self) -> list[dict]:
        combos = [{}]
        for key, values in self.grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        if self.random:
            rng = random.Random(self.random.get("seed", 0))
            for _ in range(int(self.random.get("samples", 0))):
                combos.append({k: (rng.randint(*spec["range"]) if "range" in spec else rng.choice(spec["choice"]))
                               for k, spec in self.random["axes"].items()})
        return combos


#: ``limits.keep_work``'s values, the default first
KEEP_WORK = ("failed", "all", "none")


@dataclass
class Sweep:
    name: str
    path: Path
    parts: list[Part]
    steps: list = field(default_factory=lambda: ["generate"])
    gemm: dict = field(default_factory=lambda: {"m": 16, "k": 16, "n": 16})
    timeout_s: float = 600.0
    retries: int = 0
    #: which points keep their work directory (generated Verilog, netlists, tool outputs):
    #: ``failed`` (a failed or timed-out point's, for its logs), ``all`` or ``none``
    keep_work: str = KEEP_WORK[0]

    def settings(self, part: Part | None = None) -> dict:
        """What a point's record depends on besides its config (part of its key)."""
        return {"steps": self.steps, "gemm": (part.gemm if part and part.gemm else self.gemm)}

    def points(self) -> list[Point]:
        pts, seen, i = [], set(), 0
        for part in self.parts:
            for over, doc in part.configs():
                doc["name"] = f"{self.name}_{i}"
                where = f"{self.path}{f' part {part.name}' if part.name else ''} point {i} {over}"
                try:
                    cfg, err = loads(yaml.safe_dump(doc, sort_keys=False), source=where), None
                except ConfigError as e:
                    cfg, err = None, str(e)
                key = _key(cfg, over, self.settings(part))
                i += 1
                if key in seen:            # random samples may repeat a grid point
                    continue
                seen.add(key)
                pts.append(Point(i - 1, over, cfg, err, key, part.name, self.settings(part)["gemm"]))
        return pts


def _key(cfg: HwgenConfig | None, over: dict, settings: dict) -> str:
    """A point's record key: the config's content (not its name) and the step settings; an
    invalid point's key is its overrides."""
    what = {"config": None if cfg is None else cfg.content_hash, "over": over if cfg is None else None,
            "settings": settings}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _set(doc: dict, dotted: str, value) -> None:
    """Set a dotted key; a mapping value is merged into a mapping there (linked axes:
    ``array: [{rows: 2, cols: 2}, {rows: 4, cols: 4}]`` moves both together)."""
    parts = dotted.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
        if not isinstance(doc, dict):
            raise SweepError(f"axis {dotted!r}: {p!r} is not a mapping in the base config")
    if isinstance(value, dict) and isinstance(doc.get(parts[-1]), dict):
        for k, v in value.items():
            _set(doc[parts[-1]], k, v)
    else:
        doc[parts[-1]] = value


def load_sweep(path: Path) -> Sweep:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SweepError(f"{path}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not YAML ({e})") from None
    if not isinstance(doc, dict):
        raise SweepError(f"{path}: a sweep file is a mapping (name, base, axes, steps, limits)")
    known = {"name", "base", "axes", "random", "parts", "steps", "gemm", "limits"}
    for k in doc:
        if k not in known:
            raise SweepError(f"{path}: unknown key {k!r}; allowed: {', '.join(sorted(known))}")
    if "parts" in doc:
        if not isinstance(doc["parts"], list) or not doc["parts"] or not all(isinstance(p, dict) for p in doc["parts"]):
            raise SweepError(f"{path}: parts: a list of {{name, base, axes, random}} mappings")
        if "axes" in doc or "random" in doc:
            raise SweepError(f"{path}: axes and random go in each of the parts when there are parts")
        parts = [_part(path, p, doc.get("base"), f"parts[{i}]") for i, p in enumerate(doc["parts"])]
    else:
        parts = [_part(path, {"axes": doc.get("axes"), "random": doc.get("random")}, doc.get("base"), "")]
    steps = [_step(path, s) for s in doc.get("steps", ["generate"])]
    limits = doc.get("limits") or {}
    for k in limits:
        if k not in ("timeout_s", "retries", "keep_work"):
            raise SweepError(f"{path}: limits: unknown key {k!r}; allowed: timeout_s, retries, keep_work")
    keep = limits.get("keep_work", KEEP_WORK[0])
    if keep not in KEEP_WORK:
        raise SweepError(f"{path}: limits: keep_work: {keep!r}; allowed: {', '.join(KEEP_WORK)}")
    gemm = doc.get("gemm", {"m": 16, "k": 16, "n": 16})
    return Sweep(str(doc.get("name") or path.stem), path, parts, steps, gemm,
                 float(limits.get("timeout_s", 600)), int(limits.get("retries", 0)), keep)


def _engines(path: Path, dirs, at: str) -> list[tuple[str, dict]]:
    """(record key, config) of every distinct engine the sweep directories ``dirs`` synthesized."""
    if not (isinstance(dirs, list) and dirs and all(isinstance(d, str) for d in dirs)):
        raise SweepError(f"{at}engines: a list of sweep directories (relative to the sweep file)")
    out, seen = [], set()
    for d in dirs:
        points = (path.parent / d / "points").resolve()
        if not points.is_dir():
            raise SweepError(f"{at}engines: {d}: no sweep records there ({points} is not a directory)")
        for rec in sorted(points.glob("*.json")):
            try:
                r = json.loads(rec.read_text())
            except (OSError, ValueError):
                raise SweepError(f"{at}engines: {rec}: not a sweep record") from None
            if r.get("status") != "ok" or "ecp5_lut4_equiv" not in r.get("metrics", {}) or not r.get("config_yaml"):
                continue
            what = dataclasses.replace(loads(r["config_yaml"], source=str(rec)), name="engine").content_hash
            if what in seen:            # the same engine under another name
                continue
            seen.add(what)
            out.append((r["key"], yaml.safe_load(r["config_yaml"])))
    if not out:
        raise SweepError(f"{at}engines: no synthesized engine in {', '.join(dirs)}")
    return out


def _part(path: Path, doc: dict, default_base, where: str) -> Part:
    at = f"{path}: {where + ': ' if where else ''}"
    if "engines" in doc:
        extra = [k for k in doc if k not in ("name", "engines", "gemm")]
        if extra:
            raise SweepError(f"{at}a part with engines has no {extra[0]!r} (allowed beside it: name, gemm)")
        return Part(str(doc.get("name") or ""), {}, gemm=doc.get("gemm"), engines=_engines(path, doc["engines"], at))
    for k in doc:
        if k not in ("name", "base", "axes", "random", "gemm"):
            raise SweepError(f"{at}unknown key {k!r}; allowed: name, base, axes, random, gemm (or name, engines)")
    base = doc.get("base", default_base)
    if isinstance(base, str):
        bpath = (path.parent / base).resolve()
        try:
            base = yaml.safe_load(bpath.read_text())
        except OSError as e:
            raise SweepError(f"{at}base: cannot read {bpath} ({e.strerror or e})") from None
    if not isinstance(base, dict):
        raise SweepError(f"{at}base: a config file's path or an inline config mapping")
    grid = doc.get("axes") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise SweepError(f"{at}axes: each axis is a dotted config key with a non-empty list of values")
    rnd = doc.get("random")
    if rnd is not None:
        ok = isinstance(rnd, dict) and isinstance(rnd.get("axes"), dict) and all(
            isinstance(s, dict) and (("range" in s and len(s["range"]) == 2) or ("choice" in s and s["choice"]))
            for s in rnd["axes"].values())
        if not ok:
            raise SweepError(f"{at}random: {{samples: N, seed: S, axes: {{key: {{range: [lo, hi]}} or "
                             "{{choice: [...]}}}}}}")
    return Part(str(doc.get("name") or ""), base, grid, rnd, doc.get("gemm"))


def _step(path: Path, s):
    """A step as the point runs it: a name, ``{ecp5: {settings}}`` with every setting filled
    in (so the defaults are part of the record's key), or ``{command: [...]}``."""
    if s == "ecp5" or (isinstance(s, dict) and set(s) == {"ecp5"}):
        opts = {} if s == "ecp5" else (s["ecp5"] or {})
        bad = [k for k in opts if k not in ECP5_DEFAULTS] if isinstance(opts, dict) else ["(not a mapping)"]
        if bad:
            raise SweepError(f"{path}: steps: ecp5: unknown setting {bad[0]!r}; allowed: {', '.join(ECP5_DEFAULTS)}")
        full = {**ECP5_DEFAULTS, **opts}
        if not (isinstance(full["seeds"], list) and full["seeds"] and all(isinstance(x, int) for x in full["seeds"])):
            raise SweepError(f"{path}: steps: ecp5: seeds: a non-empty list of integers (nextpnr --seed)")
        if full["flow"] not in FLOWS:
            raise SweepError(f"{path}: steps: ecp5: flow: one of {', '.join(FLOWS)} (abc9: yosys' default, least "
                             f"delay; abc9_area: mapped for area; abc: classic ABC); got {full['flow']!r}")
        if full["device"] not in ("12k", "25k", "45k", "85k"):
            raise SweepError(f"{path}: steps: ecp5: device: one of 12k, 25k, 45k, 85k; got {full['device']!r}")
        if full["flow"] == DEFAULT_FLOW:     # the default stays out of the record's key (records made before it)
            del full["flow"]
        return {"ecp5": full}
    if s in STEPS or (isinstance(s, dict) and isinstance(s.get("command"), list) and s["command"]):
        return s
    raise SweepError(f"{path}: steps: {s!r} is not a step; allowed: {', '.join(STEPS)}, {{ecp5: {{settings}}}} or "
                     "{command: [program, args...]}")


def step_name(step) -> str:
    """``generate``, ``ecp5``, ``command``: what a (normalized) step is called in metrics."""
    return step if isinstance(step, str) else "ecp5" if "ecp5" in step else "command"
