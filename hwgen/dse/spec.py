"""Sweep files: a base config, axes, the steps per point and limits.

```yaml
name: systolic_widths
base: ../examples/systolic_8x8.yaml      # relative to this file (or `base: {inline config}`)
axes:                                    # lists: the grid of every combination
  array.rows: [2, 4, 8]
  array.pe.w: [int4, int8]
random:                                  # or: sampled points (added to the grid's)
  samples: 20
  seed: 1
  axes:
    array.cols: {range: [2, 16]}         # integers lo..hi inclusive
    array.pe.acc: {choice: [24, 32]}
steps: [generate, generic]               # generate, generic (yosys), cycles (Verilator), ecp5 (out of context)
  # or {command: [prog, args...]}: run with the point's Verilog path appended; JSON on stdout is kept
gemm: {m: 16, k: 16, n: 16}              # for `cycles`
limits: {timeout_s: 600, retries: 0}
```

A point's config is the base with each axis key set (dotted keys into the YAML mapping).
Configs the loader rejects are recorded as ``invalid`` with its message, not run.
"""
from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import ConfigError, HwgenConfig, loads

__all__ = ["SweepError", "Sweep", "Point", "load_sweep", "STEPS"]

STEPS = ("generate", "generic", "cycles", "ecp5")


class SweepError(ValueError):
    """A sweep file that cannot be run: names the file and the key."""


@dataclass
class Point:
    index: int
    overrides: dict
    config: HwgenConfig | None      # None: invalid
    error: str | None = None
    key: str = ""


@dataclass
class Sweep:
    name: str
    path: Path
    base: dict
    grid: dict = field(default_factory=dict)
    random: dict | None = None
    steps: list = field(default_factory=lambda: ["generate"])
    gemm: dict = field(default_factory=lambda: {"m": 16, "k": 16, "n": 16})
    timeout_s: float = 600.0
    retries: int = 0

    def settings(self) -> dict:
        """What a point's record depends on besides its config (part of its key)."""
        return {"steps": self.steps, "gemm": self.gemm}

    def points(self) -> list[Point]:
        combos = [{}]
        for key, values in self.grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        if self.random:
            rng = random.Random(self.random.get("seed", 0))
            for _ in range(int(self.random.get("samples", 0))):
                combos.append({k: (rng.randint(*spec["range"]) if "range" in spec else rng.choice(spec["choice"]))
                               for k, spec in self.random["axes"].items()})
        pts, seen = [], set()
        for i, over in enumerate(combos):
            doc = copy.deepcopy(self.base)
            for dotted, value in over.items():
                _set(doc, dotted, value)
            doc["name"] = f"{self.name}_{i}"
            try:
                cfg = loads(yaml.safe_dump(doc, sort_keys=False), source=f"{self.path} point {i} {over}")
                err = None
            except ConfigError as e:
                cfg, err = None, str(e)
            key = _key(cfg, over, self.settings())
            if key in seen:            # random samples may repeat a grid point
                continue
            seen.add(key)
            pts.append(Point(i, over, cfg, err, key))
        return pts


def _key(cfg: HwgenConfig | None, over: dict, settings: dict) -> str:
    """A point's record key: the config's content (not its name) and the step settings; an
    invalid point's key is its overrides."""
    what = {"config": None if cfg is None else cfg.content_hash, "over": over if cfg is None else None,
            "settings": settings}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _set(doc: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
        if not isinstance(doc, dict):
            raise SweepError(f"axis {dotted!r}: {p!r} is not a mapping in the base config")
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
    known = {"name", "base", "axes", "random", "steps", "gemm", "limits"}
    for k in doc:
        if k not in known:
            raise SweepError(f"{path}: unknown key {k!r}; allowed: {', '.join(sorted(known))}")
    base = doc.get("base")
    if isinstance(base, str):
        bpath = (path.parent / base).resolve()
        try:
            base = yaml.safe_load(bpath.read_text())
        except OSError as e:
            raise SweepError(f"{path}: base: cannot read {bpath} ({e.strerror or e})") from None
    if not isinstance(base, dict):
        raise SweepError(f"{path}: base: a config file's path or an inline config mapping")
    grid = doc.get("axes") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise SweepError(f"{path}: axes: each axis is a dotted config key with a non-empty list of values")
    rnd = doc.get("random")
    if rnd is not None:
        ok = isinstance(rnd, dict) and isinstance(rnd.get("axes"), dict) and all(
            isinstance(s, dict) and (("range" in s and len(s["range"]) == 2) or ("choice" in s and s["choice"]))
            for s in rnd["axes"].values())
        if not ok:
            raise SweepError(f"{path}: random: {{samples: N, seed: S, axes: {{key: {{range: [lo, hi]}} or "
                             "{{choice: [...]}}}}}}")
    steps = doc.get("steps", ["generate"])
    for s in steps:
        if not (s in STEPS or (isinstance(s, dict) and isinstance(s.get("command"), list) and s["command"])):
            raise SweepError(f"{path}: steps: {s!r} is not a step; allowed: {', '.join(STEPS)} or "
                             "{command: [program, args...]}")
    limits = doc.get("limits") or {}
    for k in limits:
        if k not in ("timeout_s", "retries"):
            raise SweepError(f"{path}: limits: unknown key {k!r}; allowed: timeout_s, retries")
    gemm = doc.get("gemm", {"m": 16, "k": 16, "n": 16})
    return Sweep(str(doc.get("name") or path.stem), path, base, grid, rnd, steps, gemm,
                 float(limits.get("timeout_s", 600)), int(limits.get("retries", 0)))
