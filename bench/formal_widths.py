#!/usr/bin/env python3
"""How the equivalence proofs of the carry-save and compressor-tree PEs scale with width.

For each rewrite — the carry-save PE's step and whole PE, the compressor-tree and
carry-save dot steps — and signed operands of increasing width, the same claim is proven
three ways, on this machine, in one run:

* ``yosys-sat``: one query over the whole rewrite (``hwgen.formal.sat``; the PE by
  ``sat -tempinduct``);
* ``bitwuzla``: the same miter as SMT-LIB 2, one Bitwuzla query (or k-induction);
* ``parts``: the decomposition of ``hwgen.formal.parts`` (its lemmas' times added up).

A whole-query method that times out at one width is not tried at wider ones. Writes
``bench/results/formal_widths.json``.

    python bench/formal_widths.py
    python bench/formal_widths.py --bits 4,8,16 --methods parts --timeout 60
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from hwgen.config import PEConfig
from hwgen.formal.parts import prove_dot_parts, prove_pe_parts
from hwgen.formal.sat import DotMiter, PEMiter, StepMiter, prove
from hwgen.formal.smt import bitwuzla_version, prove_smt
from hwgen.numerics import Format
from hwgen.report import table
from hwgen.tools import ToolError

#: proof name → (arith, depth or None, what it claims)
PROOFS = {
    "carry_save step": ("carry_save", None, "resolve(step(s, c, a, w)) == s + c + a·w"),
    "carry_save PE": ("carry_save", None, "whole OS PE vs the plain one, every reachable state"),
    "compressor_tree dot d2": ("compressor_tree", 2, "dot step == plain dot step"),
    "compressor_tree dot d4": ("compressor_tree", 4, "dot step == plain dot step"),
    "carry_save dot d4": ("carry_save", 4, "resolve(dot step) == plain dot step from the resolved acc"),
}


def _whole(proof: str, pe: PEConfig, depth, method: str, work: Path, timeout: float):
    if proof == "carry_save PE":
        miter, steps = PEMiter(pe), 0
    elif depth is None:
        miter, steps = StepMiter(pe), None
    else:
        miter, steps = DotMiter(pe, depth), None
    name = "m" + "".join(c if c.isalnum() else "_" for c in proof)
    if method == "yosys-sat":
        return [prove(miter, work, name=name, steps=steps, timeout=timeout)]
    return [prove_smt(miter, work, name=name, steps=steps, timeout=timeout)]


def _parts(proof: str, pe: PEConfig, depth, work: Path, timeout: float):
    if depth is None:
        return prove_pe_parts(pe, work, timeout=timeout, whole_pe=proof == "carry_save PE")
    return prove_dot_parts(pe, depth, work, timeout=timeout)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bits", default="4,6,8,12,16", help="operand widths (signed, a and w alike)")
    p.add_argument("--methods", default="yosys-sat,bitwuzla,parts", help="which methods to run")
    p.add_argument("--proofs", default=",".join(PROOFS), help="which proofs to run")
    p.add_argument("--timeout", type=float, default=120, help="seconds per whole-rewrite query")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "formal_widths.json"))
    args = p.parse_args(argv)

    bits = [int(b) for b in args.bits.split(",")]
    methods = args.methods.split(",")
    rows, records, failed = [], [], False
    load_before = os.getloadavg()  # the machine may be shared: say how busy it was
    with tempfile.TemporaryDirectory(prefix="formal_widths_") as tmp:
        for proof in args.proofs.split(","):
            arith, depth, claim = PROOFS[proof]
            for method in methods:
                gave_up = None
                for b in bits:
                    acc = max(32, 2 * b + 8)
                    pe = PEConfig(a=Format(b), w=Format(b), acc=acc, arith=arith)
                    widths = f"int{b}×int{b} acc{acc}" + (f" d{depth}" if depth else "")
                    if gave_up is not None:
                        rows.append([proof, widths, method, "-", f"not tried (int{gave_up} timed out)"])
                        records.append(dict(proof=proof, bits=b, acc=acc, depth=depth, method=method,
                                            seconds=None, result="not tried"))
                        continue
                    work = Path(tmp) / f"{proof}_{method}_{b}".replace(" ", "_")
                    print(f"[{proof}] {widths} {method} ...", flush=True)
                    t0 = time.time()
                    try:
                        if method == "parts":
                            res = _parts(proof, pe, depth, work, args.timeout)
                        else:
                            res = _whole(proof, pe, depth, method, work, args.timeout)
                        ok = all(r.proved for r in res)
                        result = "proved" if ok else "FAILED"
                        failed |= not ok
                        pieces = {r.kind: dict(method=r.method, seconds=round(r.seconds, 2), proved=r.proved)
                                  for r in res}
                    except ToolError:
                        result, pieces, gave_up = f"timeout (> {args.timeout:g} s)", {}, b
                    seconds = time.time() - t0
                    rows.append([proof, widths, method, f"{seconds:.1f}", result])
                    records.append(dict(proof=proof, claim=claim, bits=b, acc=acc, depth=depth, method=method,
                                        seconds=round(seconds, 2), result=result, pieces=pieces))
    text = table(["proof", "widths", "method", "seconds", "result"], rows, align="lllrl")
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "formal_widths", "date": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "solver": bitwuzla_version(), "timeout_s": args.timeout, "cpus": os.cpu_count(),
        "load_average_1_5_15_min": {"before": [round(x, 2) for x in load_before],
                                    "after": [round(x, 2) for x in os.getloadavg()]}, "rows": records,
        "table": text}, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
