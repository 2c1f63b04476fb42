"""Will it fit? Checked twice before the long place-and-route: first from the config alone
(an estimate, instant), then from yosys' exact cell counts after synthesis.

The estimate's per-PE cost is calibrated on this toolchain's own builds (see
``docs/boards.md``): a Booth LUT multiplier costs about ``1.8·a·w`` LUT4s, an accumulator
about ``2.5`` LUT4s per bit and word (adder, hold register, output mux), ``1.8`` with
``array.drain: shift`` (adder, and hold register with its shift select: no output mux). Block RAM is
counted exactly from the memory shapes and the block configurations of the family.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config import HwgenConfig
from ..soc.layout import Geometry
from ..soc.protocol import Mem
from .boards import Capacity
from .ooc import DoesNotFit

__all__ = ["Estimate", "estimate", "check_estimate", "check_cells", "dsp_plan", "dsp_target", "engine_dsps", "engine_estimate", "pim_dsps", "used_from_cells",
           "NotFitting"]

#: (depth, width) configurations of one block RAM
BRAM_SHAPES = {"ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
               "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))}
#: widest multiplier operand one DSP takes
DSP_WIDTH = {"ice40": 16, "ecp5": 18}
MUL_LUT_PER_BIT2 = 1.8
ACC_LUT_PER_BIT = 2.5
ACC_LUT_PER_BIT_SHIFT = 1.8   # drain: shift (iCEBreaker 4x4: 5,242 -> 4,866 logic cells)
SOC_LUT = 3200            # host link, sequencer, FIFO, UART, counter file, output stage (measured: iCE40
                          # 2x2 3,820 LC, 4x4 with pipeline 2 and drain: shift 4,854 LC; the estimate gives 3,760 and 4,851)
SOC_LUT_PER_COL = 120     # the word registers of the link and the ACC port grow with the columns
SHIFT_ADD_LUT = 250       # the multiplier-free output stage (ShiftAddRequant + column select, measured)
OTHER_DSP = {"os": 0, "ws": 3}  # the sequencer's tile counts (16-bit products)
#: the PIM banks' logic (docs/pim.md), calibrated on synth_ecp5 of PimBanks alone (LUT4 +
#: 2·CCU2C; LUT RAM counted apart): per lane the operand select and registers, the product
#: register, the adder tree's share, the term and accumulator (per accumulator bit: adder,
#: hold and write-data multiplexers, the host's read-back multiplexer); each extra format's
#: element decode; across the banks the host's read-back multiplexers. See bench/results/pim_fit.json.
PIM_LANE_LUT = 50
PIM_LUT_PER_ACC_BIT = 4.0
PIM_FORMAT_LUT = 16
PIM_BANK_LUT = 0
PIM_LANE_FF = 50          # element 9, vector byte 8, product 17, term 17 bits
PIM_FF_PER_ACC_BIT = 1.0  # the accumulator (LUT RAM adds its read registers, see _pim_mems)
PIM_BANK_FF = 20


class NotFitting(DoesNotFit):
    """The estimate (before any tool ran) already exceeds the device."""


@dataclass(frozen=True)
class Estimate:
    lut4: int
    ff: int
    bram: int
    dsp: int
    engine_dsp: bool      # engine multipliers in DSPs (else Booth LUT multipliers)
    detail: dict

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def bram_blocks(family: str, depth: int, bits: int, *, read_ports: int = 1) -> int:
    """Block RAMs of a memory of ``depth`` words of ``bits`` with one write port and
    ``read_ports`` read ports (the first may share the write port's address). Two read
    ports need a true dual-port block: on the ECP5 at most 18 bits wide (a DP16KD is 36 bits
    wide only with one write-only and one read-only port), on the iCE40 (one read port per
    SB_RAM40_4K) a copy of the memory per read port."""
    shapes = BRAM_SHAPES[family]
    copies = 1
    if read_ports > 1:
        if family == "ecp5":
            shapes = tuple((d, w) for d, w in shapes if w <= 18)
        else:
            copies = read_ports
    return copies * min(math.ceil(depth / d) * math.ceil(bits / w) for d, w in shapes)


#: on the ECP5 yosys puts memories of at most this many words in LUT RAM (TRELLIS_DPR16X4,
#: 16 × 4 bits, a copy per read port; counted as 2 LUT4s each) instead of block RAM
#: (measured on the PIM banks' vector and result memories: 16 and 32 words in LUT RAM, 64 in DP16KD)
ECP5_LUTRAM_WORDS = 32


def _pim_mems(cfg: HwgenConfig, family: str) -> tuple[dict, int, int]:
    """Block RAMs of the PIM banks' memories, and the LUT4s and flip-flops (read registers)
    of those in LUT RAM."""
    p = cfg.soc.pim
    data_reads = 2 if p.row_buffers == 2 else 1     # port A read-write; port B the GEMV's
    brams, lut, ff = {}, 0, 0
    for name, depth, bits, reads in (("pim", p.rows, p.word_bits, data_reads), ("pim_vec", p.vec_words, p.word_bits, 2),
                                     ("pim_out", p.out_words, p.lanes * p.acc, 1)):
        if family == "ecp5" and depth <= ECP5_LUTRAM_WORDS:
            brams[name] = 0
            pieces = math.ceil(depth / 16)          # 16-word LUT RAMs in depth, and their read multiplexer
            lut += p.banks * reads * (2 * pieces * math.ceil(bits / 4) + (pieces - 1) * bits)
            ff += p.banks * reads * bits
        else:
            brams[name] = p.banks * bram_blocks(family, depth, bits, read_ports=reads)
    return brams, lut, ff


def pim_logic(cfg: HwgenConfig, family: str, in_dsp: bool) -> tuple[float, float]:
    """(LUT4, FF) of the PIM banks' GEMV units, LUT RAM and read-back multiplexers."""
    p = cfg.soc.pim
    if p is None:
        return 0.0, 0.0
    lane = PIM_LANE_LUT + PIM_LUT_PER_ACC_BIT * p.acc + PIM_FORMAT_LUT * (len(p.formats) - 1)
    if not in_dsp:
        lane += MUL_LUT_PER_BIT2 * 9 * 8
    _, ram_lut, ram_ff = _pim_mems(cfg, family)
    readback = MUX_LUT_PER_INPUT * (p.banks - 1) * (2 * p.word_bits + p.lanes * p.acc)   # data/vector/result of bank n
    lut = p.banks * (p.lanes * lane + PIM_BANK_LUT) + ram_lut + readback
    ff = p.banks * p.lanes * (PIM_LANE_FF + PIM_FF_PER_ACC_BIT * p.acc) + p.banks * PIM_BANK_FF + ram_ff
    return lut, ff


def _dsps_per_mul(family: str, a_bits: int, b_bits: int) -> int:
    w = DSP_WIDTH[family]
    return math.ceil(a_bits / w) * math.ceil(b_bits / w)


def engine_dsps(cfg: HwgenConfig, family: str) -> int:
    """DSPs the engine's multipliers take (0: it has none). On iCE40 an OS systolic array
    with ``pe.pipeline >= 2`` and operands of at most 8 bits puts two neighbouring PEs'
    multipliers in one SB_MAC16 (:class:`hwgen.pe.mul.DualMul`)."""
    a = cfg.array
    if a.kind == "lut":   # the group dequantization's two multipliers per column (scale × partial, zero × Σa)
        if a.dequant != "group":
            return 0
        from ..arrays.lut import rowsum_bits
        return a.cols * (_dsps_per_mul(family, 16, a.lut_partial_bits) + _dsps_per_mul(family, 16, rowsum_bits(a)))
    if a.kind == "bit_serial" or a.pe.arith in ("compressor_tree",):
        return 0
    from ..arrays.systolic import paired_multipliers
    from ..pe.mul import DUAL8_BITS
    if family == "ice40" and paired_multipliers(a) and max(a.pe.a.bits, a.pe.w.bits) <= DUAL8_BITS:
        return a.rows * ((a.cols + 1) // 2)
    return a.macs_per_cycle * _dsps_per_mul(family, a.pe.a.bits, a.pe.w.bits)


def dsp_plan(cfg: HwgenConfig, cap: Capacity) -> tuple[bool, bool, int]:
    """(engine multipliers in DSPs, the others in DSPs, DSPs used).

    The PIM banks' lane multipliers (:func:`pim_dsps`) come first: yosys maps every product
    of a build with DSPs to a DSP, and the banks have no LUT alternative.
    The output stage multiplies one accumulator at a time by a 16-bit scale, a
    weight-stationary sequencer counts with 16×16 products. The engine's multipliers are
    by far the dearest in LUTs, so they get the DSPs first when they all fit; the output
    stage then does without a multiplier if it must (shift-and-add,
    :class:`hwgen.soc.requant.ShiftAddRequant`). Otherwise the others get DSPs and the
    engine Booth LUT multipliers."""
    rq = _dsps_per_mul(cap.family, cfg.array.pe.acc, 16) + OTHER_DSP[Geometry(cfg).contract]
    eng = engine_dsps(cfg, cap.family)
    pim = pim_dsps(cfg)
    if pim > cap.dsp:   # yosys maps every product of a DSP build to a DSP: then none anywhere
        return False, False, 0
    if eng and eng + rq + pim <= cap.dsp:
        return True, True, eng + rq + pim
    if eng and eng + pim <= cap.dsp and Geometry(cfg).contract == "os":   # the OS sequencer has no products
        return True, False, eng + pim
    rq_dsp = rq + pim <= cap.dsp
    return False, rq_dsp, rq + pim if rq_dsp else 0


def pim_dsps(cfg: HwgenConfig) -> int:
    """DSPs the PIM banks' multipliers take when the build uses DSPs: a lane's product of a
    decoded element (9 bits: uint8 needs one more) and an int8 is one MULT18X18D or one
    SB_MAC16 (yosys maps it so on both; measured: ``banks · lanes`` cells)."""
    p = cfg.soc.pim
    return 0 if p is None else p.banks * p.lanes


def dsp_target(cfg: HwgenConfig, cap: Capacity):
    """The elaboration target the plan implies (:class:`hwgen.pe.mul.DspTarget`): the
    family whose DSP cells the engine's multipliers become, if they go to DSPs, and
    whether the output stage may multiply in one. Board builds and the netlist check
    elaborate with the same."""
    from ..pe.mul import DspTarget
    eng_dsp, rq_dsp, _ = dsp_plan(cfg, cap)
    return DspTarget(cap.family if eng_dsp else None, soc_dsp=rq_dsp, fabric=cap.family)


def engine_estimate(cfg: HwgenConfig, *, eng_dsp: bool = False) -> tuple[float, float]:
    """(LUT4, FF) of the engine alone by the calibrated per-PE costs; ``eng_dsp``: its
    multipliers are DSPs (no LUTs). The surrogate (:mod:`hwgen.dse.surrogate`) learns its
    correction from synthesized sweeps."""
    a, pe = cfg.array, cfg.array.pe
    words = 2 if pe.arith == "carry_save" else 1
    mul = 0 if eng_dsp else MUL_LUT_PER_BIT2 * pe.a.bits * pe.w.bits
    if a.kind == "bit_serial":
        mul = 2 * pe.a.bits + pe.w.bits  # shift-add of one weight bit or digit
    per_bit = ACC_LUT_PER_BIT_SHIFT if a.drain == "shift" else ACC_LUT_PER_BIT
    engine = a.macs_per_cycle * mul + a.rows * a.cols * per_bit * pe.acc * words
    ff = a.macs_per_cycle * (pe.a.bits + pe.w.bits) + a.rows * a.cols * pe.acc * (words + 1)
    if a.kind == "lut":
        engine, ff = _lut_engine(cfg)
        if a.dequant == "group" and not eng_dsp:   # its multipliers as Booth LUT logic
            from ..arrays.lut import rowsum_bits
            engine += a.cols * MUL_LUT_PER_BIT2 * 16 * (a.lut_partial_bits + rowsum_bits(a))
    return engine, ff


def estimate(cfg: HwgenConfig, cap: Capacity, *, engine_cost=None) -> Estimate:
    """The whole accelerator on ``cap``'s device. ``engine_cost(cfg, eng_dsp) -> (LUT4, FF)``
    replaces the engine's calibrated estimate (``hwgen estimate`` passes the surrogate's)."""
    a, pe = cfg.array, cfg.array.pe
    geo = Geometry(cfg)
    eng_dsp, rq_dsp, dsp = dsp_plan(cfg, cap)
    engine, engine_ff = (engine_cost or (lambda c, d: engine_estimate(c, eng_dsp=d)))(cfg, eng_dsp)
    rq = a.cols * SOC_LUT_PER_COL + (0 if rq_dsp else SHIFT_ADD_LUT if eng_dsp else MUL_LUT_PER_BIT2 * pe.acc * 16)
    lut = int(engine + rq + SOC_LUT)
    ff = int(engine_ff + 900)
    brams = {m.name.lower(): bram_blocks(cap.family, geo.depth(m), geo.word_bits(m)) for m in geo.mems if m < Mem.PIM}
    detail = {"engine_lut4": int(engine), "soc_columns_lut4": int(rq), "soc_lut4": SOC_LUT}
    if geo.pim is not None:   # every bank has its own data, vector and result memories and GEMV unit
        pim_brams = _pim_mems(cfg, cap.family)[0]
        brams.update(pim_brams)
        pim_lut, pim_ff = pim_logic(cfg, cap.family, dsp > 0)
        lut, ff = lut + int(pim_lut), ff + int(pim_ff)
        detail.update(pim_lut4=int(pim_lut), pim_ff=int(pim_ff), pim_dsp=pim_dsps(cfg) if dsp else 0)
    return Estimate(lut4=lut, ff=ff, bram=sum(brams.values()), dsp=dsp, engine_dsp=eng_dsp,
                    detail={**detail, "bram_by_memory": brams})


#: LUT4s per bit of a 2^k:1 multiplexer, per extra input (a 2:1 is one LUT4 per bit, a 4:1
#: about two, an 8:1 about five: ~0.7 per input beyond the first)
MUX_LUT_PER_INPUT = 0.7
#: LUT4s per accumulator bit of a LUT engine's output (its acc + 1-bit adder of a sign-extended
#: entry, the hold register's drain multiplexer, the result adder), calibrated on the builds:
#: iCE40 1×4 acc 20: 4,788 LC (estimate 5,080); ECP5 2×16 acc 48 with dequantization: 21,649
#: LUT4 (estimate ~22,000; 2.5 per bit, the MAC engines' figure, gave 13,381)
LUT_ACC_LUT_PER_BIT = 8.0


def _lut_engine(cfg: HwgenConfig) -> tuple[float, float]:
    """(LUT4, FF) of a table-lookup engine: per output a table multiplexer and its register,
    the negation's XOR and an accumulator of acc + 1 bits with its hold register; per row the table
    precompute (one adder per entry) and its shifting register; the drain's C adders."""
    from ..pe.lut import table_size, table_width
    a, pe = cfg.array, cfg.array.pe
    entries = table_size(a.depth, a.table == "symmetric")
    tw = table_width(pe.a, a.depth) + pe.w.bits
    cell = MUX_LUT_PER_INPUT * (entries - 1) * tw + tw + LUT_ACC_LUT_PER_BIT * (pe.acc + 1)
    row = entries * tw * 2 + ACC_LUT_PER_BIT * (pe.acc + 1)      # precompute + shifting register, offset column
    lut = a.rows * a.cols * cell + a.rows * row + a.cols * (pe.acc + 1)
    ff = (a.rows * a.cols * (2 * (pe.acc + 1) + tw + 1) + a.rows * (entries * tw + a.depth * pe.a.bits + 2 * (pe.acc + 1))
          + a.depth * a.cols * 2 + a.cols * pe.acc + (a.cols * 64 + a.rows * 48 if a.dequant == "group" else 0))
    return lut, ff


def _suggest(cfg: HwgenConfig, cap: Capacity, over: set[str]) -> list[str]:
    """Changes that would fit, by the same estimate."""
    tips = []
    a = cfg.array
    if "lut4" in over and a.drain == "mux" and a.kind == "systolic" and a.dataflow == "output_stationary" \
            and a.pe.arith == "mac":
        shifted = dataclasses.replace(cfg, array=dataclasses.replace(a, drain="shift"))
        if estimate(shifted, cap).lut4 <= cap.lut4:
            tips.append("array.drain: shift")
    if "lut4" in over or "ff" in over:
        for n in range(max(a.rows, a.cols) - 1, 0, -1):
            try:
                shrunk = dataclasses.replace(cfg, array=dataclasses.replace(a, rows=min(a.rows, n), cols=min(a.cols, n)))
                e = estimate(shrunk, cap)
            except Exception:
                continue
            if e.lut4 <= cap.lut4 and e.ff <= cap.ff:
                tips.append(f"rows: {shrunk.array.rows}, cols: {shrunk.array.cols}")
                break
        if a.pe.w.bits > 4:
            try:
                from ..numerics import Format
                narrow = dataclasses.replace(cfg, array=dataclasses.replace(
                    a, pe=dataclasses.replace(a.pe, w=Format(4, a.pe.w.signed))))
                if estimate(narrow, cap).lut4 <= cap.lut4:
                    tips.append(f"pe.w: {'int' if a.pe.w.signed else 'uint'}4")
            except Exception:
                pass
    if cfg.soc.pim is not None and over & {"lut4", "ff", "bram"}:
        tips += _suggest_pim(cfg, cap, over)
        if "bram" in over and tips:
            return tips
    if "bram" in over:  # shrink the memories together until they fit
        soc = cfg.soc
        for div in (2, 4, 8, 16, 32, 64):
            sizes = {k: max(16, getattr(soc, k) // div) for k in ("a_words", "w_words", "acc_words")}
            try:
                smaller = dataclasses.replace(cfg, soc=dataclasses.replace(soc, **sizes))
                if estimate(smaller, cap).bram <= cap.bram:
                    tips.append(", ".join(f"soc.{k}: {v}" for k, v in sizes.items()))
                    break
            except Exception:
                continue
    return tips


def _suggest_pim(cfg: HwgenConfig, cap: Capacity, over: set[str]) -> list[str]:
    """Smaller PIM banks that fit by the same estimate: fewer rows (block RAM only), else fewer banks."""
    p, tips = cfg.soc.pim, []

    def fits(**change) -> bool:
        try:
            smaller = dataclasses.replace(cfg, soc=dataclasses.replace(cfg.soc, pim=dataclasses.replace(p, **change)))
            e = estimate(smaller, cap)
        except Exception:
            return False
        return e.lut4 <= cap.lut4 and e.ff <= cap.ff and e.bram <= cap.bram
    if over == {"bram"}:
        rows = next((r for r in (p.rows >> i for i in range(1, 12)) if r >= 16 and fits(rows=r)), None)
        if rows:
            tips.append(f"soc.pim.rows: {rows}")
    banks = next((b for b in range(p.banks - 1, 0, -1) if fits(banks=b)), None)
    if banks:
        tips.append(f"soc.pim.banks: {banks}")
    return tips


def _pim_share(cfg: HwgenConfig, cap: Capacity, need: dict) -> dict:
    """What the PIM banks take of each estimated resource."""
    if cfg.soc.pim is None:
        return {}
    e = estimate(cfg, cap)
    lut, ff = pim_logic(cfg, cap.family, e.dsp > 0)
    bram = sum(_pim_mems(cfg, cap.family)[0].values())
    return {"lut4": int(lut), "ff": int(ff), "bram": bram}


def _message(what: str, cfg: HwgenConfig, cap: Capacity, need: dict, have: dict) -> tuple[str, set[str]]:
    over = {k for k in need if need[k] > have[k]}
    names = {"lut4": "LUT4" if cap.family == "ecp5" else "logic cells", "ff": "flip-flops",
             "bram": "block RAMs" if cap.family == "ecp5" else "EBRs", "dsp": "DSPs"}
    pim = _pim_share(cfg, cap, need) if what else {}   # (after synthesis the cells do not say whose they are)
    of_pim = lambda k: f" ({what}{pim[k]:,} in the PIM banks)" if pim.get(k) else ""  # noqa: E731
    parts = [f"needs {what}{need[k]:,} {names[k]}{of_pim(k)}, {cap.device} has {have[k]:,}" for k in sorted(over)]
    tips = _suggest(cfg, cap, over)
    return "; ".join(parts) + (f": try {' or '.join(tips)}" if tips else ""), over


def check_estimate(cfg: HwgenConfig, cap: Capacity) -> Estimate:
    """Refuse a design whose estimate exceeds the device (before any tool runs)."""
    e = estimate(cfg, cap)
    need = {"lut4": e.lut4, "ff": e.ff, "bram": e.bram}
    have = {"lut4": cap.lut4, "ff": cap.ff, "bram": cap.bram}
    if any(need[k] > have[k] for k in need):
        msg, _ = _message("~", cfg, cap, need, have)
        raise NotFitting(f"{cfg.name} does not fit {cap.device}: {msg}", {**need, "estimate": True})
    return e


def used_from_cells(family: str, cells: dict) -> dict:
    """Resources from yosys' cell counts after synth_ice40/synth_ecp5."""
    if family == "ice40":
        return {"lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
                "ff": sum(n for t, n in cells.items() if t.startswith("SB_DFF")),
                "bram": cells.get("SB_RAM40_4K", 0), "dsp": cells.get("SB_MAC16", 0)}
    return {"lut4": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 2 * cells.get("TRELLIS_DPR16X4", 0),
            "carry": cells.get("CCU2C", 0), "ff": cells.get("TRELLIS_FF", 0),
            "bram": cells.get("DP16KD", 0), "dsp": cells.get("MULT18X18D", 0)}


def check_cells(cfg: HwgenConfig, cap: Capacity, used: dict) -> None:
    """Refuse a synthesized design whose exact cell counts exceed the device."""
    need = {k: used[k] for k in ("lut4", "ff", "bram", "dsp")}
    have = {"lut4": cap.lut4, "ff": cap.ff, "bram": cap.bram, "dsp": cap.dsp}
    if any(need[k] > have[k] for k in need):
        msg, _ = _message("", cfg, cap, need, have)
        raise DoesNotFit(f"{cfg.name} does not fit {cap.device} after synthesis: {msg}", need)
