"""PIM banks in hardware (docs/pim.md): ``banks`` block RAMs of packed low-bit weights, each
with a GEMV unit beside it, and the bounds check of a GEMV's arguments.

All banks run the same GEMV in lockstep: one address generator and one control walk the
slices ``base + o·ostride + n·nstride``; every bank has its own data path (block RAM,
``lanes`` multipliers, an adder tree for ``dot``, ``lanes`` accumulators, result memory).
What a GEMV computes is exactly :func:`hwgen.golden.pim.gemv` in every bank; which
arguments are accepted is exactly :func:`hwgen.golden.pim.gemv_bounds_ok`.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import PimConfig
from ..golden.pim import BACC, DOT
from ..numerics import Format
from ..soc.arith import times_const
from ..soc.link_parts import MemPort

__all__ = ["GemvArgs", "GEMV_LATENCY", "fmt_code", "GemvBoundsCheck", "PimBanks"]

#: A GEMV command's payload as one little-endian struct (24 bytes, ``struct.Struct("<BBBBHHIIIHH")``).
#: ``mode``: 0 dot, 1 bacc; ``fmt``: :func:`fmt_code` of the element format; ``flags`` and
#: ``reserved``: 0 (not interpreted); the rest as in :func:`hwgen.golden.pim.gemv`.
GemvArgs = data.StructLayout({"mode": 8, "fmt": 8, "flags": 8, "reserved": 8, "outer": 16, "inner": 16,
                              "base": 32, "ostride": 32, "nstride": 32, "vec_base": 16, "out_base": 16})

#: Cycles a GEMV takes beyond its ``outer · inner`` slices when no cycle stalls: with ``start``
#: sampled high in cycle 0, ``done`` is high in cycle ``outer · inner + GEMV_LATENCY`` (slices
#: issue in cycles 1 .. outer·inner; then the block RAM read, the operands' registers, the
#: multipliers' registers, the adder tree's register, the accumulators and the result write
#: take a cycle each). Each stalled cycle adds one.
GEMV_LATENCY = 6


def fmt_code(fmt: Format) -> int:
    """The ``fmt`` byte naming ``fmt``: bits, | 0x80 if signed (int8 → 0x88, uint4 → 0x04)."""
    return fmt.bits | (0x80 if fmt.signed else 0)


def _addr_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


class GemvBoundsCheck(wiring.Component):
    """Checks a GEMV's ``args`` when ``start`` is pulsed (they must stay put until ``busy`` falls).

    The two products ``(outer − 1)·ostride`` and ``(inner − 1)·nstride`` come from one serial
    shift-and-add unit (at most 18 cycles each) that adds them straight onto ``base``; the sum
    is kept in just enough bits for the largest slice count plus a sticky "too big" flag, as
    in :class:`hwgen.soc.runcheck.RunBoundsCheck`. At most 38 cycles per check.

    Attributes
    ----------
    start : In(1)
        Begin a check (ignored while ``busy``).
    args : In(GemvArgs)
    busy : Out(1)
        High from the cycle after ``start`` until the verdict is on ``ok``.
    ok : Out(1)
        The verdict, valid while ``busy`` is low after a check: exactly
        :func:`hwgen.golden.pim.gemv_bounds_ok` with the config's format whose
        :func:`fmt_code` is ``fmt`` (none: not ok).
    """

    def __init__(self, pim: PimConfig):
        self.pim = pim
        super().__init__({"start": In(1), "args": In(GemvArgs), "busy": Out(1), "ok": Out(1)})

    def elaborate(self, platform):
        m = Module()
        p, a = self.pim, self.args
        L, V, O = p.lanes, p.vec_words, p.out_words
        limits = {fmt_code(f): p.rows * (8 // f.bits) for f in p.formats}   # slices per bank
        P = max(limits.values()).bit_length()     # the sum is compared with < 2**P
        fmt_ok = Cat(a.fmt == c for c in limits).any()
        limit = Const(0, P)
        for c, lim in limits.items():
            limit = Mux(a.fmt == c, lim, limit)
        dot, bacc = a.mode == DOT, a.mode == BACC
        # vector and result words: ⌈x / lanes⌉ ≤ room  ⇔  x ≤ lanes · room (room ≥ 0)
        vb, ob = (V.bit_length() + 1), (O.bit_length() + 1)
        vroom, oroom = Signal(vb), Signal(ob)
        m.d.comb += [vroom.eq(V - a.vec_base), oroom.eq(O - a.out_base)]
        vec_ok = (a.vec_base <= V) & Mux(dot, a.inner <= vroom, a.inner <= times_const(vroom, L))
        out_ok = (a.out_base <= O) & Mux(dot, a.outer <= times_const(oroom, L), a.outer <= oroom)

        chk = Signal(2)                      # 0: (outer−1)·ostride, 1: (inner−1)·nstride, 2: compare
        mul_x, total = Signal(P), Signal(P)
        mul_y, y_nz = Signal(16), Signal()
        x_big, ovf, mul_busy = Signal(), Signal(), Signal()
        stride, count = Mux(chk[0], a.nstride, a.ostride), Mux(chk[0], a.inner, a.outer)
        y0 = Signal(16)
        m.d.comb += y0.eq(count - 1)

        with m.If(~self.busy):
            with m.If(self.start):
                m.d.sync += [self.busy.eq(1), chk.eq(0), mul_busy.eq(0), total.eq(a.base[:P]),
                             ovf.eq(a.base[P:] != 0),
                             self.ok.eq((dot | bacc) & fmt_ok & (a.outer != 0) & (a.inner != 0) & vec_ok & out_ok)]
        with m.Elif(chk == 2):
            m.d.sync += [self.busy.eq(0), self.ok.eq(self.ok & ~ovf & (total < limit))]
        with m.Elif(~mul_busy):
            m.d.sync += [mul_x.eq(stride[:P]), x_big.eq(stride[P:] != 0), mul_y.eq(y0), y_nz.eq(y0 != 0),
                         mul_busy.eq(1)]
        with m.Elif(y_nz):
            m.d.sync += [mul_y.eq(mul_y >> 1), y_nz.eq(mul_y[1:] != 0), mul_x.eq(mul_x << 1),
                         x_big.eq(x_big | mul_x[-1])]
            with m.If(mul_y[0]):
                s = total + mul_x
                m.d.sync += [total.eq(s), ovf.eq(ovf | x_big | s[P])]
        with m.Else():
            m.d.sync += [mul_busy.eq(0), chk.eq(chk + 1)]
        return m


class PimBanks(wiring.Component):
    """``banks`` PIM banks with their GEMV units (docs/pim.md).

    Addresses on every port are flat and bank-major (``bank · depth + local``), each
    ``bit_length(depth − 1)`` bits of its flat space.

    Attributes
    ----------
    host : In(MemPort(addr_bits, 8 · lanes))
        The data words (``banks · rows``): byte-lane writes (``wr_en`` a bit per byte) and
        reads returning one cycle after ``rd_en``.
    vec : In(MemPort(vec_addr_bits, 8 · lanes))
        The vector words (``(banks + 1) · vec_words``): writes to bank ``banks`` go to every
        bank, reads there read bank 0.
    out : In(MemPort(out_addr_bits, lanes · acc))
        The results (``banks · out_words``), reads only (``wr_*`` are ignored).
    npu_rd_addr, npu_rd_en, npu_rd_data
        The engine's weight reads of data words, one cycle latency.
    start : In(1)
        Begin a GEMV (ignored while ``busy``); ``args`` must stay put while ``busy`` and must
        have passed :class:`GemvBoundsCheck`.
    args : In(GemvArgs)
    busy : Out(1)
        High from the cycle after ``start`` until ``done``.
    done : Out(1)
        One cycle, the first in which every result is in the result memory (``busy`` low).
    issue : Out(1)
        The GEMV reads a slice in every bank this cycle.
    stall : Out(1)
        The GEMV had a slice to read but port A was taken (``row_buffers`` 1 only).

    Port A of a bank serves the host's writes and reads and the engine's reads through one
    address (at most one of them per cycle: the caller's rule), so write and read map to one
    read-write block RAM port; the GEMV reads through port B (``row_buffers`` 2) or through
    port A in the cycles nothing else uses it (``row_buffers`` 1).
    """

    def __init__(self, pim: PimConfig):
        self.pim = pim
        B, L = pim.banks, pim.lanes
        self.addr_bits = _addr_bits(B * pim.rows)
        self.vec_addr_bits = _addr_bits((B + 1) * pim.vec_words)
        self.out_addr_bits = _addr_bits(B * pim.out_words)
        super().__init__({
            "host": In(MemPort(self.addr_bits, 8 * L)),
            "vec": In(MemPort(self.vec_addr_bits, 8 * L)),
            "out": In(MemPort(self.out_addr_bits, L * pim.acc)),
            "npu_rd_addr": In(self.addr_bits), "npu_rd_en": In(1), "npu_rd_data": Out(8 * L),
            "start": In(1), "args": In(GemvArgs), "busy": Out(1), "done": Out(1), "issue": Out(1),
            "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, a = self.pim, self.args
        B, R, L, A = p.banks, p.rows, p.lanes, p.acc
        V, O = p.vec_words, p.out_words
        lr, lv, lo = (R - 1).bit_length(), (V - 1).bit_length(), (O - 1).bit_length()
        fmts = list(p.formats)
        pers = [8 // f.bits for f in fmts]
        K = (R * max(pers) - 1).bit_length()      # a slice address
        PB = (max(pers) - 1).bit_length()         # a slice's part of its word

        # -- control: one address generator for every bank ----------------------------------------
        fsel = Signal(len(fmts))                  # one-hot: the GEMV's format
        bacc = Signal()
        cur, row = Signal(K), Signal(K)           # slice (o, n) and slice (o, 0)
        n_left, o_left = Signal(16), Signal(16)
        first, left = Signal(), Signal()          # the slice is n = 0; slices remain
        vaddr, vbyte = Signal(lv), Signal(range(L))   # vector word, byte (bacc) of step n

        host_wr = self.host.wr_en.any()
        taken = host_wr | self.host.rd_en | self.npu_rd_en
        issue = Signal()
        if p.row_buffers == 1:
            m.d.comb += [issue.eq(left & ~taken), self.stall.eq(left & taken)]
        else:
            m.d.comb += issue.eq(left)
        m.d.comb += self.issue.eq(issue)

        with m.If(self.start & ~self.busy):
            m.d.sync += [self.busy.eq(1), left.eq(1), first.eq(1), bacc.eq(a.mode == BACC),
                         fsel.eq(Cat(a.fmt == fmt_code(f) for f in fmts)),
                         cur.eq(a.base[:K]), row.eq(a.base[:K]), n_left.eq(a.inner - 1), o_left.eq(a.outer - 1),
                         vaddr.eq(a.vec_base[:lv]), vbyte.eq(0)]
        with m.If(issue):
            with m.If(n_left == 0):               # the row's last slice: on to the next o
                row_next = (row + a.ostride[:K])[:K]
                m.d.sync += [n_left.eq(a.inner - 1), row.eq(row_next), cur.eq(row_next), first.eq(1),
                             vaddr.eq(a.vec_base[:lv]), vbyte.eq(0), o_left.eq(o_left - 1)]
                with m.If(o_left == 0):
                    m.d.sync += left.eq(0)
            with m.Else():
                m.d.sync += [n_left.eq(n_left - 1), cur.eq(cur + a.nstride[:K]), first.eq(0)]
                with m.If(~bacc | (vbyte == L - 1)):
                    m.d.sync += [vaddr.eq(vaddr + 1), vbyte.eq(0)]
                with m.Else():
                    m.d.sync += vbyte.eq(vbyte + 1)

        # the slice's word and part in the format's packing
        word, part = cur[:lr], Signal(PB)
        for f, per, bit in zip(fmts, pers, fsel):
            sh = (per - 1).bit_length()
            word = Mux(bit, cur[sh:sh + lr], word)
        if PB:
            part_v = Const(0, PB)
            for per, bit in zip(pers, fsel):
                part_v = Mux(bit, cur[:PB] & (per - 1), part_v)
            m.d.comb += part.eq(part_v)

        # -- the pipeline's side band: valid bits and what each stage needs ---------------------------
        def stage(src: dict, en, i: int) -> dict:   # the next stage's registers, valid = en
            out = {k: Signal.like(v, name=f"{k}{i}") for k, v in src.items()}
            m.d.sync += [out[k].eq(en if k == "valid" else v) for k, v in src.items()]
            return out
        s0 = {"valid": issue, "first": first, "last": _sig(m, n_left == 0, "last0"),
              "final": _sig(m, (n_left == 0) & (o_left == 0), "final0"), "part": part, "vbyte": vbyte}
        s1 = stage(s0, issue, 1)                     # block RAM output
        s2 = stage(s1, s1["valid"], 2)               # the multipliers' operands
        s3 = stage(s2, s2["valid"], 3)               # products
        s4 = stage(s3, s3["valid"], 4)               # adder tree
        wr, wr_final = Signal(), Signal()         # write a row's results (the GEMV's last)
        m.d.sync += [wr.eq(s4["valid"] & s4["last"]), wr_final.eq(s4["valid"] & s4["final"])]
        w_word, w_lane = Signal(lo), Signal(range(L))
        with m.If(self.start & ~self.busy):
            m.d.sync += [w_word.eq(a.out_base[:lo]), w_lane.eq(0)]
        with m.If(wr):
            with m.If(bacc | (w_lane == L - 1)):
                m.d.sync += [w_word.eq(w_word + 1), w_lane.eq(0)]
            with m.Else():
                m.d.sync += w_lane.eq(w_lane + 1)
        m.d.sync += self.done.eq(wr & wr_final)
        with m.If(wr & wr_final):
            m.d.sync += self.busy.eq(0)

        # -- port A's one address (host write, host read, engine read, GEMV with one row buffer) -------
        a_addr = Mux(self.npu_rd_en, self.npu_rd_addr[:lr], word if p.row_buffers == 1 else 0)
        a_addr = Mux(self.host.rd_en, self.host.rd_addr[:lr], a_addr)
        a_addr = Mux(host_wr, self.host.wr_addr[:lr], a_addr)
        a_addr_s = _sig(m, a_addr, "port_a_addr")
        # (off in write cycles, visibly to yosys: a single-port RAM with no read-during-write,
        # iCE40's SPRAM, then takes byte-lane writes)
        a_rd_en = ~host_wr & (self.host.rd_en | self.npu_rd_en | (issue if p.row_buffers == 1 else 0))
        wr_bank = self.host.wr_addr[lr:]
        v_addr_s = _sig(m, Mux(self.vec.wr_en.any(), self.vec.wr_addr[:lv], self.vec.rd_addr[:lv]), "vec_a_addr")
        v_wr_bank = self.vec.wr_addr[lv:]

        rd_bank, v_rd_bank, o_rd_bank = Signal(range(B)), Signal(range(B)), Signal(range(B))
        with m.If(self.host.rd_en | self.npu_rd_en):
            m.d.sync += rd_bank.eq(Mux(self.host.rd_en, self.host.rd_addr[lr:], self.npu_rd_addr[lr:]))
        with m.If(self.vec.rd_en):
            vb = self.vec.rd_addr[lv:]
            m.d.sync += v_rd_bank.eq(Mux(vb >= B, 0, vb))
        with m.If(self.out.rd_en):
            m.d.sync += o_rd_bank.eq(self.out.rd_addr[lo:])

        a_data, v_data, o_data = [], [], []
        for b in range(B):
            mine = (wr_bank == b) if B > 1 else Const(1)
            # data: port A read-write, port B the GEMV's
            # no_rw_check: a read of the word written in the same cycle may return anything (never
            # happens: port A's users are exclusive, the GEMV never reads a word the host writes).
            # Without it yosys keeps port B's read-before-write order against port A's write, which
            # its ECP5 block RAM model does not promise across ports, by duplicating the memory.
            mem = Memory(shape=unsigned(8 * L), depth=R, init=[], attrs={"no_rw_check": 1})
            m.submodules[f"bank{b}"] = mem
            wp, rp = mem.write_port(granularity=8), mem.read_port(transparent_for=())
            m.d.comb += [wp.addr.eq(a_addr_s), wp.data.eq(self.host.wr_data), wp.en.eq(Mux(mine, self.host.wr_en, 0)),
                         rp.addr.eq(a_addr_s), rp.en.eq(a_rd_en)]
            a_data.append(rp.data)
            if p.row_buffers == 2:
                gp = mem.read_port(transparent_for=())
                m.d.comb += [gp.addr.eq(word), gp.en.eq(issue)]
                g_word = gp.data
            else:
                g_word = rp.data
            # vector: port A the host's, port B the GEMV's
            vmem = Memory(shape=unsigned(8 * L), depth=V, init=[], attrs={"no_rw_check": 1})
            m.submodules[f"vec{b}"] = vmem
            vwp, vrp, vgp = (vmem.write_port(granularity=8), vmem.read_port(transparent_for=()),
                             vmem.read_port(transparent_for=()))
            vmine = (v_wr_bank == b) | (v_wr_bank == B)
            m.d.comb += [vwp.addr.eq(v_addr_s), vwp.data.eq(self.vec.wr_data), vwp.en.eq(Mux(vmine, self.vec.wr_en, 0)),
                         vrp.addr.eq(v_addr_s), vrp.en.eq(self.vec.rd_en & ~self.vec.wr_en.any()),
                         vgp.addr.eq(vaddr), vgp.en.eq(issue)]
            v_data.append(vrp.data)
            # the data path
            acc = self._datapath(m, b, g_word, vgp.data, s1, s2, s3, s4, fsel, bacc)
            # results: written by the GEMV a lane (dot) or a word (bacc) at a time, read by the host
            omem = Memory(shape=unsigned(L * A), depth=O, init=[])
            m.submodules[f"out{b}"] = omem
            owp, orp = omem.write_port(granularity=A), omem.read_port(transparent_for=())
            lane_en = Cat(w_lane == l for l in range(L))
            m.d.comb += [owp.addr.eq(w_word), owp.en.eq(Mux(wr, Mux(bacc, (1 << L) - 1, lane_en), 0)),
                         owp.data.eq(Mux(bacc, Cat(acc), Cat([acc[0]] * L))),
                         orp.addr.eq(self.out.rd_addr[:lo]), orp.en.eq(self.out.rd_en)]
            o_data.append(orp.data)

        m.d.comb += [self.host.rd_data.eq(Array(a_data)[rd_bank]), self.npu_rd_data.eq(Array(a_data)[rd_bank]),
                     self.vec.rd_data.eq(Array(v_data)[v_rd_bank]), self.out.rd_data.eq(Array(o_data)[o_rd_bank])]
        return m

    def _datapath(self, m, b, g_word, v_word, s1, s2, s3, s4, fsel, bacc) -> list:
        """Bank ``b``'s multipliers, adder tree and accumulators; returns the accumulators."""
        p = self.pim
        L, A = p.lanes, p.acc
        # the operands, selected from the block RAMs' outputs and registered (the multipliers
        # then start from flip-flops): the slice is part ``part`` of the word, ``lanes``
        # elements of b bits each (docs/pim.md); the vector operand is lane l of word n (dot)
        # or element n broadcast (bacc)
        xbytes = [v_word[8 * l:8 * l + 8].as_signed() for l in range(L)]
        xb = Array(xbytes)[s1["vbyte"]] if L > 1 else xbytes[0]
        slices = []
        for f in p.formats:
            per, lb = 8 // f.bits, L * f.bits
            parts = [g_word[i * lb:(i + 1) * lb] for i in range(per)]
            slices.append(Array(parts)[s1["part"][:(per - 1).bit_length()]] if per > 1 else parts[0])
        prods = []
        for l in range(L):
            e, x = Signal(signed(9), name=f"e{b}_{l}"), Signal(signed(8), name=f"x{b}_{l}")
            v = Const(0, signed(9))
            for f, bit, sl in zip(p.formats, fsel, slices):
                raw = sl[l * f.bits:(l + 1) * f.bits]
                v = Mux(bit, raw.as_signed() if f.signed else raw.as_unsigned(), v)
            m.d.sync += [e.eq(v), x.eq(Mux(bacc, xb, xbytes[l]))]
            pr = Signal(signed(17), name=f"prod{b}_{l}")
            m.d.sync += pr.eq(e * x)
            prods.append(pr)
        # adder tree (dot): the sum of the lanes' products, wrapped at acc bits
        tw = min(A, 17 + (L - 1).bit_length())
        level = prods
        while len(level) > 1:
            level = [(level[i] + level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        tree = level[0]
        terms = []
        for l in range(L):
            t = Signal(signed(max(17, tw) if l == 0 else 17), name=f"term{b}_{l}")
            m.d.sync += t.eq(Mux(bacc, prods[l], tree if l == 0 else 0))
            terms.append(t)
        accs = []
        for l in range(L):
            r = Signal(A, name=f"acc{b}_{l}")
            with m.If(s4["valid"]):
                m.d.sync += r.eq(Mux(s4["first"], 0, r) + terms[l])
            accs.append(r)
        return accs


def _sig(m: Module, value, name: str) -> Signal:
    """``value`` as a named signal (so every user reads the same net)."""
    s = Signal.like(value, name=name) if isinstance(value, Signal) else Signal(value.shape(), name=name)
    m.d.comb += s.eq(value)
    return s
