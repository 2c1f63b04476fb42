#!/usr/bin/env python3
"""Config fuzzing, long run: every property of tests/test_config_fuzz.py with 20,000 examples.

``make test`` runs the same properties with a few hundred examples each (the ``ci`` profile);
this runs the ``long`` profile: generated YAML documents, token soup, near-valid configs,
mutations of every example (text and raw bytes through ``load``). A property holds when every
input loads and round-trips, or raises a ``ConfigError`` naming the file and a line. Prints a
table (property, examples run, failures, seconds) and writes ``bench/results/config_fuzz.json``.
A failure prints Hypothesis's shrunk example; rerun it with the printed ``--seed``.

    python bench/config_fuzz.py
    python bench/config_fuzz.py --examples 2000 --seed 1 -k structured
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import pytest

from hwgen.report import table

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests" / "test_config_fuzz.py"


class _Collect:
    """pytest plugin: each property's outcome, and the module whose STATS the tests fill in."""

    def __init__(self):
        self.module, self.outcomes = None, {}

    def pytest_runtest_setup(self, item):
        self.module = item.module

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.nodeid.split("::")[-1].removeprefix("test_")] = report.outcome


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=20_000, help="examples per property")
    p.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random, printed)")
    p.add_argument("-k", dest="select", default=None, help="only properties matching (pytest -k)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "config_fuzz.json"))
    args = p.parse_args(argv)

    seed = args.seed if args.seed is not None else random.randrange(2**31)
    os.environ["HWGEN_FUZZ_PROFILE"] = "long"
    os.environ["HWGEN_FUZZ_EXAMPLES"] = str(args.examples)
    print(f"config fuzz: {args.examples} examples per property, seed {seed} "
          f"(replay: python bench/config_fuzz.py --seed {seed})", flush=True)
    collect = _Collect()
    pytest_args = [str(TESTS), "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}", "--rootdir", str(ROOT),
                   "-W", "ignore::hypothesis.errors.HypothesisWarning"]
    if args.select:
        pytest_args += ["-k", args.select]
    t0 = time.perf_counter()
    code = pytest.main(pytest_args, plugins=[collect])
    total = time.perf_counter() - t0
    stats = getattr(collect.module, "STATS", {})

    records = [dict(property=name, outcome=collect.outcomes.get(name, "?"), **s) for name, s in stats.items()]
    print()
    print(table(["property", "examples run", "failures", "seconds"],
                [[r["property"], r["examples"], r["failures"], f"{r['seconds']:.1f}"] for r in records],
                align="lrrr"))
    doc = dict(bench="config_fuzz", when=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               examples_per_property=args.examples, seed=seed, seconds=round(total, 1),
               python=platform.python_version(), hypothesis=version("hypothesis"), pyyaml=version("pyyaml"),
               properties=records, passed=code == 0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\n{sum(r['examples'] for r in records)} examples in {total:.0f} s; wrote {out}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
