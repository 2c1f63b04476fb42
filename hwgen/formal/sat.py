"""Formal equivalence of PE arithmetic rewrites against the plain MAC, end to end, with yosys SAT.

Two proofs per rewrite, both run in ``make test``:

* **step** (unbounded, by induction): for *every* accumulator state ``(s, c)`` and every
  operand pair, one step of the rewritten PE resolves to what one plain MAC step gives
  from the value ``s + c``. With both starting at zero, this is the induction step that
  makes them equal after any number of steps.
* **pe** (unbounded, k-induction): the two whole output-stationary PEs (valid/last
  control, accumulator and hold registers) on the same free inputs, from reset, never
  disagree — ``sat -tempinduct`` proves ``resolve(rewritten) == plain`` for the
  accumulator and the hold register in every reachable state. A bounded variant
  (``steps=N``) unrolls N cycles from reset instead.

Dot-product units (:func:`hwgen.pe.dot.dot_step`, used by the cube, matrix2d and adder-tree
engines) get the step proof with :class:`DotMiter`: ``compressor_tree`` (OPT2) equals the
plain ``mac`` dot step for every accumulator and operand vector, and the carry-save dot
step is the induction step, as for the systolic PE. The bit-serial engines are proved by
bounded model checking of the whole engine in :mod:`hwgen.formal_engines`.

SAT on multiplier equivalence grows quickly with operand width: the tests prove every
signedness combination at widths up to 4×4 and 8×2 bits in seconds; an int8×int8 step as one
query does not finish in 10 minutes (``bench/formal_widths.py``). Full widths are proven piece
by piece in :mod:`hwgen.formal.parts`; these end-to-end proofs check the same composition of
the pieces at small widths.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import PEConfig
from ..pe.dot import dot_step
from ..pe.mac import OSMacPE, acc_layout, mac_step, operand_shape, resolve, words
from ..tools import ToolError, run_tool, yosys_command

__all__ = ["StepMiter", "PEMiter", "DotMiter", "ProofResult", "prove", "prove_arith", "prove_dot"]


class StepMiter(wiring.Component):
    """``ok`` is high when one rewritten step equals one plain MAC step (combinational)."""

    def __init__(self, pe: PEConfig):
        self.pe = pe
        super().__init__({"a": In(operand_shape(pe.a)), "w": In(operand_shape(pe.w)),
                          "state": In(acc_layout(pe)), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        base = dataclasses.replace(self.pe, arith="mac")
        value = Signal(acc_layout(base))
        m.d.comb += value[0].eq(resolve(self.pe, self.state))
        want = Signal(acc_layout(base).elem_shape)
        got = Signal(acc_layout(base).elem_shape)
        m.d.comb += [want.eq(mac_step(m, base, value, self.a, self.w)[0]),
                     got.eq(resolve(self.pe, mac_step(m, self.pe, self.state, self.a, self.w)))]
        m.d.comb += self.ok.eq(want == got)
        return m


class PEMiter(wiring.Component):
    """Both output-stationary PEs on the same inputs; ``ok`` is high while their accumulators
    and hold registers agree."""

    def __init__(self, pe: PEConfig):
        self.pe = pe
        super().__init__({"a": In(operand_shape(pe.a)), "w": In(operand_shape(pe.w)),
                          "v": In(1), "last": In(1), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ref = ref = OSMacPE(dataclasses.replace(self.pe, arith="mac"))
        m.submodules.dut = dut = OSMacPE(self.pe)
        for p in (ref, dut):
            m.d.comb += [p.a_in.eq(self.a), p.w_in.eq(self.w), p.v_in.eq(self.v), p.l_in.eq(self.last)]
        m.d.comb += self.ok.eq((resolve(ref.pe, ref.hold) == resolve(dut.pe, dut.hold)) &
                               (resolve(ref.pe, ref.acc) == resolve(dut.pe, dut.acc)))
        return m


class DotMiter(wiring.Component):
    """``ok`` is high when one ``depth``-wide dot-product step of ``pe.arith`` equals the plain
    ``mac`` dot step (overflow wrap), for every accumulator state and operand vectors
    (combinational).

    * ``compressor_tree`` (one accumulator word): ``dot_step(compressor_tree)(acc, a, w) ==
      dot_step(mac)(acc, a, w)`` — the rewrite is a drop-in replacement, step by step.
    * ``carry_save`` (two words ``(s, c)``): ``resolve(dot_step(carry_save)((s, c), a, w)) ==
      dot_step(mac)(resolve((s, c)), a, w)``. Both accumulators start at zero (which
      resolves to zero), so by induction on the steps the carry-save engine resolves to the
      plain one after any number of steps — the same argument as :class:`StepMiter`.

    ``ref`` replaces the reference PE (default: ``pe`` with ``arith="mac"``); it reads the same
    operand bits in its own formats, so a reference that differs on purpose (e.g. the weight
    read as unsigned) must be refuted.
    """

    def __init__(self, pe: PEConfig, depth: int, *, ref: PEConfig | None = None):
        if pe.overflow != "wrap":
            raise ValueError("dot-product rewrites are defined for overflow: wrap only")
        self.pe, self.depth = pe, depth
        self.ref = ref or dataclasses.replace(pe, arith="mac")
        if (self.ref.a.bits, self.ref.w.bits, self.ref.acc) != (pe.a.bits, pe.w.bits, pe.acc):
            raise ValueError("the reference must have the same operand and accumulator widths")
        super().__init__({"a": In(data.ArrayLayout(operand_shape(pe.a), depth)),
                          "w": In(data.ArrayLayout(operand_shape(pe.w), depth)),
                          "state": In(acc_layout(pe)), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pe, D = self.pe, self.depth
        state = [self.state[i] for i in range(words(pe))]
        value, want, got = (Signal(signed(pe.acc), name=n) for n in ("value", "want", "got"))

        def operands(port, fmt):  # the port's raw bits, read in format ``fmt``
            bits = port.as_value()
            return [(v.as_signed() if fmt.signed else v.as_unsigned())
                    for v in (bits[d * fmt.bits:(d + 1) * fmt.bits] for d in range(D))]

        ref = self.ref
        m.d.comb += [value.eq(resolve(pe, state)),
                     want.eq(dot_step(m, ref, [value], operands(self.a, ref.a), operands(self.w, ref.w),
                                      name="ref")[0]),
                     got.eq(resolve(pe, dot_step(m, pe, state, operands(self.a, pe.a), operands(self.w, pe.w),
                                                 name="dut"))),
                     self.ok.eq(want == got)]
        return m


@dataclass(frozen=True)
class ProofResult:
    """One proof: what (``kind``), whether it holds, how long it took, its log and, when it
    failed, the counterexample table; ``method`` is the engine (``yosys-sat``, ``bitwuzla``)."""
    kind: str
    proved: bool
    steps: int | None
    seconds: float
    log: Path
    counterexample: str = ""
    method: str = "yosys-sat"


def _model_table(text: str, limit: int = 80) -> str:
    """The counterexample table yosys prints after a failed proof (header and rows)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "Signal Name" in line), None)
    if start is None:
        return ""
    rows = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("ERROR"):
            break
        if line.strip().strip("- "):
            rows.append(line.rstrip())
    return "\n".join(rows[:limit])


def prove(miter: wiring.Component, workdir: Path, *, name: str, steps: int | None = None,
          timeout: float = 900, kind: str | None = None) -> ProofResult:
    """Prove ``miter.ok`` is always 1: combinationally (``steps=None`` and no state), in every
    reachable state by induction (``steps=0``), or for ``steps`` cycles from reset. A
    combinational ``ok`` of several bits is several obligations, each proven by its own SAT
    query (one query over their conjunction can be far slower than all of them together).

    Registers start at their ``init`` value (yosys honours the init attributes; the rest are
    zero). ``opt`` after ``flatten`` propagates constants across the hierarchy (a miter's
    constant ``ready``, say) before the SAT problem is built."""
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / f"{name}.v"
    src.write_text(verilog.convert(miter, name=name, emit_src=False))
    n = len(miter.ok)
    if n > 1 and steps is not None:
        raise ValueError("a sequential miter's ok must be one bit")
    if steps is None:
        sat = "; ".join(f"sat -prove ok{f'[{i}]' if n > 1 else ''} 1 -show-inputs -verify" for i in range(n))
    elif steps == 0:  # k-induction from the reset state (init values, else zero)
        sat = "sat -tempinduct -prove ok 1 -set-init-zero -show-inputs -verify"
    else:  # registers start at their init value (else zero); rst stays low
        sat = f"sat -seq {steps} -prove ok 1 -set-init-zero -set rst 0 -show-inputs -verify"
    script = f"read_verilog {src.name}; prep -top {name}; flatten; opt; {sat}"
    log = workdir / f"{name}.log"
    t0 = time.time()
    try:
        out = run_tool([*yosys_command(), "-q", "-l", log.name, "-p", script], workdir / f"{name}.run.log",
                       what=f"yosys SAT proof {name}", cwd=workdir, timeout=timeout)
        proved = True
    except ToolError:
        out = log.read_text() if log.exists() else ""
        if "SAT proof finished - model found" not in out and "FAIL" not in out:
            raise
        proved = False
    text = log.read_text() if log.exists() else out
    cex = "" if proved else _model_table(text)
    if kind is None:
        kind = "step" if steps is None else ("pe-induction" if steps == 0 else f"pe-bmc{steps}")
    return ProofResult(kind, proved, steps, time.time() - t0, log, cex)


def prove_arith(pe: PEConfig, workdir: Path, *, timeout: float = 900) -> list[ProofResult]:
    """Both unbounded proofs for ``pe.arith`` against the plain MAC."""
    tag = f"{pe.arith}_{pe.a}x{pe.w}_acc{pe.acc}"
    return [prove(StepMiter(pe), workdir, name=f"step_{tag}", timeout=timeout),
            prove(PEMiter(pe), workdir, name=f"pe_{tag}", steps=0, timeout=timeout)]


def prove_dot(pe: PEConfig, depth: int, workdir: Path, *, ref: PEConfig | None = None,
              timeout: float = 900) -> ProofResult:
    """The dot-product step proof (:class:`DotMiter`) for ``pe.arith`` at ``depth``."""
    tag = f"{pe.arith}_d{depth}_{pe.a}x{pe.w}_acc{pe.acc}" + ("" if ref is None else f"_vs_{ref.a}x{ref.w}")
    return prove(DotMiter(pe, depth, ref=ref), workdir, name=f"dot_{tag}", timeout=timeout, kind="dot-step")
