"""The driver's side of the PIM banks (docs/pim.md): resident weights and KV caches as
handles, GEMVs on them, and their checks.

Every bank holds the same *local* layout (the banks run each GEMV in lockstep), so the
driver allocates local words once for all banks:

* a **weight matrix** W (K×N) is cut into tiles of ``lanes · 8/b`` columns (one bank word
  per input channel k, exactly the engine's W-scratchpad word when the engine reads the
  banks); tile ``t`` lives in bank ``t % banks``, slot ``t // banks``, words
  ``base + slot·K + k``. ``xᵀ·W`` is a broadcast-accumulate GEMV per bank;
* a **KV cache** holds one sequence per (bank, slot): position ``p`` of KV head ``h`` is
  ``head_dim / lanes`` words at ``base + (p·kv_heads + h)·hs`` (K and V regions apart).
  Scores ``q·Kᵀ`` are a dot GEMV, the context ``p·V`` a broadcast-accumulate GEMV.

Everything is checked before a byte is sent: a handle this driver never loaded, a load past
a bank's capacity, an append past the cache's length raise :class:`PimError` and leave the
device as it was.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..golden.pim import BACC, DOT, pack_elements
from ..numerics import Format, parse_format, wrap_signed
from ..memory.pim import fmt_code
from ..golden.store import STORE_PAIR
from ..soc.protocol import GEMV_ASYNC, GEMV_FORMAT, STORE_FORMAT, Cmd, Mem

__all__ = ["PimError", "PimWeights", "PimKV", "PimDriver", "EngineJob"]


class PimError(ValueError):
    """A PIM request that cannot be done as asked (nothing was sent)."""


@dataclass(frozen=True, eq=False)
class PimWeights:
    """A resident weight matrix (K×N) of format ``fmt``; see the module docstring."""
    name: str
    k: int
    n: int
    fmt: Format
    base: int          # local word of slot 0
    tile_cols: int     # columns per tile (one bank word per k)
    tiles: int
    slots: int         # tile slots per bank

    @property
    def words(self) -> int:
        return self.slots * self.k


@dataclass(eq=False)
class PimKV:
    """KV caches of ``seqs`` sequences (sequence s in bank s % banks, slot s // banks)."""
    name: str
    seqs: int
    max_len: int
    kv_heads: int
    head_dim: int
    k_base: int
    v_base: int
    slots: int
    lanes: int
    length: int = 0

    @property
    def hs(self) -> int:
        """Words per head vector."""
        return self.head_dim // self.lanes

    @property
    def slot_words(self) -> int:
        return self.max_len * self.kv_heads * self.hs


@dataclass
class PimDriver:
    """Owned by :class:`hwgen.driver.Accelerator` (``acc.pim``) when the design has PIM banks."""
    acc: object
    next_word: int = 0
    live: dict = field(default_factory=dict)

    @property
    def p(self):
        return self.acc.geo.pim

    # -- allocation
    def _alloc(self, words: int, what: str) -> int:
        p = self.p
        if self.next_word + words > p.rows:
            raise PimError(f"{what} needs {words:,} words in every bank; {p.rows - self.next_word:,} of {p.rows:,} "
                           f"are free (soc.pim.rows; {p.banks} banks)")
        base, self.next_word = self.next_word, self.next_word + words
        return base

    def _check(self, handle, kind) -> None:
        if not isinstance(handle, kind) or self.live.get(id(handle)) is not handle:
            raise PimError(f"{getattr(handle, 'name', handle)!r} is not a {kind.__name__} loaded on this device "
                           "(load it with pim_load / pim_kv first)")

    def reset(self) -> None:
        """Forget every handle (the device's RESET keeps memory, but the driver starts over)."""
        self.next_word, self.live = 0, {}

    def release_to(self, mark: int) -> None:
        """Forget the handles allocated from local word ``mark`` on (a mark is ``next_word``
        taken before allocating them): e.g. KV caches, keeping the weights loaded before."""
        if not 0 <= mark <= self.next_word:
            raise PimError(f"mark {mark} is not a word allocated so far (0..{self.next_word})")
        self.live = {k: h for k, h in self.live.items()
                     if (h.base if isinstance(h, PimWeights) else h.k_base) < mark}
        self.next_word = mark

    # -- weights
    def load(self, w: np.ndarray, fmt: str | Format = "int8", name: str = "weights") -> PimWeights:
        p = self.p
        f = fmt if isinstance(fmt, Format) else parse_format(str(fmt))
        if f not in p.formats:
            raise PimError(f"{name}: format {f} is not one the banks decode (soc.pim.formats: "
                           f"{', '.join(map(str, p.formats))})")
        w = np.asarray(w, dtype=np.int64)
        if w.ndim != 2 or not w.size:
            raise PimError(f"{name}: weights must be a non-empty (K, N) matrix, got shape {w.shape}")
        try:
            f.check(w, name)
        except ValueError as e:
            raise PimError(str(e)) from None
        k, n = w.shape
        tc = p.lanes * (8 // f.bits)
        tiles = -(-n // tc)
        slots = -(-tiles // p.banks)
        base = self._alloc(slots * k, f"{name} ({k}×{n} {f}: {tiles} tiles of {tc} columns, {slots} per bank)")
        pad = np.zeros((k, slots * p.banks * tc), dtype=np.int64)
        pad[:, :n] = w
        tiles_w = pad.reshape(k, slots, p.banks, tc).transpose(2, 1, 0, 3)   # (bank, slot, k, tc)
        for b in range(p.banks):
            words = pack_elements(tiles_w[b].reshape(-1), f, p.lanes)
            self.acc.write(Mem.PIM, b * p.rows + base, words.tobytes())
        h = PimWeights(name, k, n, f, base, tc, tiles, slots)
        self.live[id(h)] = h
        return h

    def gemv_cmd(self, mode: int, fmt: Format, outer: int, inner: int, base: int, ostride: int, nstride: int,
                 vec_base: int = 0, out_base: int = 0, *, wait: bool = True) -> int | None:
        """One GEMV command; its cycles (None when ``wait`` is False: :meth:`Accelerator.wait`)."""
        payload = GEMV_FORMAT.pack(mode, fmt_code(fmt), 0 if wait else GEMV_ASYNC, 0, outer, inner, base, ostride,
                                   nstride, vec_base, out_base)
        answer = self.acc.command(Cmd.GEMV, payload=payload)
        self.acc.stats.gemvs += 1
        if not wait:
            self.acc._gemv_running = True
            return None
        cycles = struct.unpack("<I", answer)[0]
        self.acc.stats.gemv_cycles += cycles
        return cycles

    def store_cmd(self, *, src: int, dst: int, coef: int, shift: int, pair: bool = False, n1: int = 1, n2: int = 1,
                  src1: int = 0, src2: int = 0, dst1: int = 0, dst2: int = 0, coef1: int = 0, coef2: int = 0) -> int:
        """One STORE (:mod:`hwgen.golden.store`): accumulator words requantized into bank words
        on chip; its cycles."""
        payload = STORE_FORMAT.pack(STORE_PAIR if pair else 0, shift, n1, n2, src, src1, src2, dst, dst1, dst2,
                                    coef, coef1, coef2)
        answer = self.acc.command(Cmd.STORE, payload=payload)
        cycles = struct.unpack("<I", answer)[0]
        self.acc.stats.stores += 1
        self.acc.stats.store_cycles += cycles
        return cycles

    def _write_vec(self, bank: int | None, words: np.ndarray) -> None:
        """int8 vector words into bank ``bank``'s buffer from word 0 (None: every bank)."""
        p = self.p
        b = p.banks if bank is None else bank
        self.acc.write(Mem.PIM_VEC, b * p.vec_words, np.asarray(words, dtype=np.int8).tobytes())

    def _vec_words(self, x: np.ndarray) -> np.ndarray:
        lanes = self.p.lanes
        pad = np.zeros(-(-len(x) // lanes) * lanes, dtype=np.int64)
        pad[:len(x)] = x
        return pad.reshape(-1, lanes)

    def _read_out(self, bank: int, count: int) -> np.ndarray:
        p, g = self.p, self.acc.geo
        return g.unpack_words(self.acc.read(Mem.PIM_OUT, bank * p.out_words, count), Mem.PIM_OUT)

    def gemv(self, h: PimWeights, x: np.ndarray) -> np.ndarray:
        """``x @ W`` (x: K int8 values) in the banks: exact sums wrapped at ``soc.pim.acc`` bits."""
        self._check(h, PimWeights)
        p = self.p
        x = np.asarray(x, dtype=np.int64).reshape(-1)
        if x.shape != (h.k,):
            raise PimError(f"{h.name}: x must have K = {h.k} values, got {x.shape}")
        try:
            Format(8).check(x, "x")
        except ValueError as e:
            raise PimError(str(e)) from None
        per = 8 // h.fmt.bits
        y = np.zeros((p.banks, h.slots * per, p.lanes), dtype=np.int64)
        k_step = p.vec_words * p.lanes
        for k0 in range(0, h.k, k_step):
            k1 = min(h.k, k0 + k_step)
            self._write_vec(None, self._vec_words(x[k0:k1]))
            # per == 1: one GEMV walks every slot (outer = slot); else a GEMV per slot (outer = slice)
            groups = [(0, h.slots)] if per == 1 else [(i, i + 1) for i in range(h.slots)]
            for s0, s1 in groups:
                for o0 in range(s0 * per, s1 * per, p.out_words):
                    o1 = min(s1 * per, o0 + p.out_words)
                    if per == 1:
                        base, ostride, nstride = h.base + o0 * h.k + k0, h.k, 1
                    else:
                        base, ostride, nstride = (h.base + s0 * h.k + k0) * per + (o0 - s0 * per), 1, per
                    self.gemv_cmd(BACC, h.fmt, o1 - o0, k1 - k0, base, ostride, nstride)
                    for b in range(p.banks):
                        y[b, o0:o1] += self._read_out(b, o1 - o0)
        # y[bank, slot·per + j, lane] is column tile (slot·banks + bank), element j·lanes + lane
        cols = y.reshape(p.banks, h.slots, per * p.lanes).transpose(1, 0, 2).reshape(-1)[:h.n]
        return wrap_signed(cols, p.acc)

    # -- KV caches
    def kv(self, seqs: int, max_len: int, kv_heads: int, head_dim: int, name: str = "kv") -> PimKV:
        """Room for ``seqs`` sequences' keys and values (int8, ``max_len`` positions each)."""
        p = self.p
        for what, v in (("seqs", seqs), ("max_len", max_len), ("kv_heads", kv_heads), ("head_dim", head_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PimError(f"{name}: {what} must be a positive integer, got {v!r}")
        if head_dim % p.lanes:
            raise PimError(f"{name}: head_dim {head_dim} must be a multiple of soc.pim.lanes = {p.lanes}")
        if Format(8) not in p.formats:
            raise PimError(f"{name}: KV caches are int8; soc.pim.formats has {', '.join(map(str, p.formats))}")
        slots = -(-seqs // p.banks)
        per_slot = max_len * kv_heads * (head_dim // p.lanes)
        base = self._alloc(2 * slots * per_slot, f"{name} ({seqs} sequences × {max_len} positions × {kv_heads} "
                                                 f"heads × {head_dim}, K and V)")
        h = PimKV(name, seqs, max_len, kv_heads, head_dim, base, base + slots * per_slot, slots, p.lanes)
        self.live[id(h)] = h
        return h

    def kv_append(self, h: PimKV, k: np.ndarray, v: np.ndarray) -> None:
        """Append one position to every sequence: ``k``, ``v`` (seqs, kv_heads, head_dim) int8."""
        self._check(h, PimKV)
        p = self.p
        shape = (h.seqs, h.kv_heads, h.head_dim)
        k, v = np.asarray(k, dtype=np.int64), np.asarray(v, dtype=np.int64)
        for what, x in (("k", k), ("v", v)):
            if x.shape != shape:
                raise PimError(f"{h.name}: {what} must be (seqs, kv_heads, head_dim) = {shape}, got {x.shape}")
            try:
                Format(8).check(x, what)
            except ValueError as e:
                raise PimError(f"{h.name}: {e}") from None
        if h.length >= h.max_len:
            raise PimError(f"{h.name}: the cache holds {h.max_len} positions (max_len), all used; "
                           "cannot append another")
        row = h.length * h.kv_heads * h.hs
        for s in range(h.seqs):
            bank, slot = s % p.banks, s // p.banks
            for base, x in ((h.k_base, k[s]), (h.v_base, v[s])):
                addr = bank * p.rows + base + slot * h.slot_words + row
                self.acc.write(Mem.PIM, addr, x.astype(np.int8).tobytes())
        h.length += 1

    def kv_load(self, h: PimKV, k: np.ndarray, v: np.ndarray) -> None:
        """Fill an empty cache with ``T`` positions at once: ``k``, ``v`` (seqs, T, kv_heads,
        head_dim) int8 (one WRITE per sequence and K/V: a prompt's keys, or a benchmark's)."""
        self._check(h, PimKV)
        p = self.p
        k, v = np.asarray(k, dtype=np.int64), np.asarray(v, dtype=np.int64)
        T = k.shape[1] if k.ndim == 4 else 0
        shape = (h.seqs, T, h.kv_heads, h.head_dim)
        for what, x in (("k", k), ("v", v)):
            if x.shape != shape or not T:
                raise PimError(f"{h.name}: {what} must be (seqs, positions, kv_heads, head_dim) = "
                               f"({h.seqs}, T, {h.kv_heads}, {h.head_dim}), got {x.shape}")
            try:
                Format(8).check(x, what)
            except ValueError as e:
                raise PimError(f"{h.name}: {e}") from None
        if h.length or T > h.max_len:
            raise PimError(f"{h.name}: kv_load fills an empty cache of {h.max_len} positions; it holds {h.length}, "
                           f"{T} given")
        for s in range(h.seqs):
            bank, slot = s % p.banks, s // p.banks
            for base, x in ((h.k_base, k[s]), (h.v_base, v[s])):
                self.acc.write(Mem.PIM, bank * p.rows + base + slot * h.slot_words, x.astype(np.int8).tobytes())
        h.length = T

    def kv_read(self, h: PimKV, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """Position ``pos`` of every sequence, read back: (k, v), each (seqs, kv_heads, head_dim)."""
        self._check(h, PimKV)
        if not 0 <= pos < h.length:
            raise PimError(f"{h.name}: position {pos} is not in the cache (it holds {h.length})")
        p, n = self.p, h.kv_heads * h.hs
        out = []
        for base in (h.k_base, h.v_base):
            rows = [np.frombuffer(self.acc.read(Mem.PIM, (s % p.banks) * p.rows + base + (s // p.banks) * h.slot_words
                                                + pos * n, n), dtype=np.int8) for s in range(h.seqs)]
            out.append(np.stack(rows).astype(np.int64).reshape(h.seqs, h.kv_heads, h.head_dim))
        return out[0], out[1]

    def _per_bank_vectors(self, h: PimKV, slot: int, vecs: np.ndarray) -> None:
        """Sequence (bank, slot)'s vector words ``vecs[s]`` into each bank's buffer."""
        p = self.p
        for b in range(p.banks):
            s = slot * p.banks + b
            if s < h.seqs:
                self._write_vec(b, vecs[s])

    def _gemv_fill(self, fill, *args) -> None:
        """A GEMV. With ``fill`` (the sub-batch interleaving), other work runs on the engine
        while it executes: ``fill()`` returns the next :class:`EngineJob` with its operands
        written (or None). The GEMV starts asynchronously, then jobs run (each RUN answers when
        it is done, with its cycles) while the GEMV has cycles left by that count (its own is
        exact); then WAIT answers when the GEMV is done."""
        if fill is None:
            self.gemv_cmd(*args)
            return
        from ..memory.pim import GEMV_LATENCY
        job = fill()
        self.gemv_cmd(*args, wait=False)
        left = args[2] * args[3] + GEMV_LATENCY
        while job is not None:
            left -= job.launch(wait=True)
            job.collect()
            if left <= 0:
                break
            job = fill()
        self.acc.wait()

    def scores(self, h: PimKV, q: np.ndarray, length: int | None = None, fill=None) -> np.ndarray:
        """``q · Kᵀ`` for every sequence over the first ``length`` positions (all: None): q
        (seqs, heads, head_dim) int8, heads a multiple of kv_heads (grouped-query); returns
        (seqs, heads, length) exact sums. ``fill``: called while each GEMV executes (it may
        run engine work: the sub-batch interleaving)."""
        self._check(h, PimKV)
        p = self.p
        q = np.asarray(q, dtype=np.int64)
        if q.ndim != 3 or q.shape[0] != h.seqs or q.shape[2] != h.head_dim or q.shape[1] % h.kv_heads:
            raise PimError(f"{h.name}: q must be (seqs, heads, head_dim) = ({h.seqs}, a multiple of {h.kv_heads}, "
                           f"{h.head_dim}), got {q.shape}")
        T = h.length if length is None else length
        if not 1 <= T <= h.length:
            raise PimError(f"{h.name}: the cache holds {h.length} positions; scores over {T} asked"
                           if h.length else f"{h.name}: the cache is empty")
        heads, rep = q.shape[1], q.shape[1] // h.kv_heads
        if heads * h.hs > p.vec_words:
            raise PimError(f"{h.name}: {heads} heads × {h.hs} words exceed soc.pim.vec_words = {p.vec_words}")
        out = np.zeros((h.seqs, heads, T), dtype=np.int64)
        per_out = p.out_words * p.lanes
        for slot in range(h.slots):
            self._per_bank_vectors(h, slot, q.reshape(h.seqs, heads * h.hs, p.lanes))
            for hd in range(heads):
                for t0 in range(0, T, per_out):
                    t1 = min(T, t0 + per_out)
                    base = h.k_base + slot * h.slot_words + (t0 * h.kv_heads + hd // rep) * h.hs
                    self._gemv_fill(fill, DOT, Format(8), t1 - t0, h.hs, base, h.kv_heads * h.hs, 1, hd * h.hs)
                    for b in range(p.banks):
                        s = slot * p.banks + b
                        if s < h.seqs:
                            out[s, hd, t0:t1] = self._read_out(b, -(-(t1 - t0) // p.lanes)).reshape(-1)[:t1 - t0]
        return out

    def context(self, h: PimKV, probs: np.ndarray, fill=None) -> np.ndarray:
        """``p · V`` for every sequence over the first ``length`` positions: probs (seqs, heads,
        length) int8, length ≤ the cache's; returns (seqs, heads, head_dim) exact sums."""
        self._check(h, PimKV)
        p = self.p
        pr = np.asarray(probs, dtype=np.int64)
        T = pr.shape[2] if pr.ndim == 3 else 0
        if pr.ndim != 3 or pr.shape[0] != h.seqs or not 1 <= T <= h.length or pr.shape[1] % h.kv_heads:
            raise PimError(f"{h.name}: probs must be (seqs, heads, length) = ({h.seqs}, a multiple of "
                           f"{h.kv_heads}, 1..{h.length}), got {pr.shape}")
        try:
            Format(8).check(pr, "probs")
        except ValueError as e:
            raise PimError(f"{h.name}: {e}") from None
        heads, rep = pr.shape[1], pr.shape[1] // h.kv_heads
        pw = -(-T // p.lanes)
        if pw > p.vec_words:
            raise PimError(f"{h.name}: {T} positions need {pw} vector words; soc.pim.vec_words = {p.vec_words}")
        if h.hs > p.out_words:
            raise PimError(f"{h.name}: head_dim {h.head_dim} needs {h.hs} result words; soc.pim.out_words = "
                           f"{p.out_words}")
        out = np.zeros((h.seqs, heads, h.head_dim), dtype=np.int64)
        for slot in range(h.slots):
            for hd in range(heads):
                vecs = np.zeros((h.seqs, pw * p.lanes), dtype=np.int64)
                vecs[:, :T] = pr[:, hd]
                self._per_bank_vectors(h, slot, vecs.reshape(h.seqs, pw, p.lanes))
                base = h.v_base + slot * h.slot_words + (hd // rep) * h.hs
                self._gemv_fill(fill, BACC, Format(8), h.hs, T, base, 1, h.kv_heads * h.hs)
                for b in range(p.banks):
                    s = slot * p.banks + b
                    if s < h.seqs:
                        out[s, hd] = self._read_out(b, h.hs).reshape(-1)
        return out

    # -- the engine on resident weights
    def gemm(self, a: np.ndarray, h: PimWeights) -> np.ndarray:
        """``a @ W`` on the engine, its weight stream read from the banks (RUN_W_PIM): one RUN
        per bank and block of A rows; only A crosses the link."""
        steps = self.gemm_jobs(a, h)
        try:
            job = next(steps)
            while True:
                job.run()
                job = steps.send(None)
        except StopIteration as e:
            return e.value

    def gemm_jobs(self, a: np.ndarray, h: PimWeights, store=None):
        """:meth:`gemm` as a generator of :class:`EngineJob` (one RUN each); whoever drives it
        runs each job (prepare, launch, collect) before resuming it, and may run a bank GEMV
        between a job's launch and its collection. Returns the result (``store``: a job's
        results stay on chip, ``store(job)`` sends its STOREs instead; returns None)."""
        self._check(h, PimWeights)
        acc, g = self.acc, self.acc.geo
        pe, p = acc.cfg.array.pe, self.p
        if not g.npu_reads_pim:
            raise PimError(f"{acc.cfg.name}: the engine cannot read the banks (an output-stationary engine of depth 1 "
                           f"whose W word, {g.word_bits(Mem.W)} bits, is a bank word, {p.word_bits} bits)")
        if h.fmt != pe.w or h.tile_cols != g.C:
            raise PimError(f"{h.name}: the engine streams {pe.w} weights in tiles of {g.C} columns; {h.name} is {h.fmt} "
                           f"in tiles of {h.tile_cols}")
        a = np.asarray(a, dtype=np.int64)
        if a.ndim != 2 or a.shape[1] != h.k:
            raise PimError(f"{h.name}: a must be (M, K = {h.k}), got {a.shape}")
        try:
            pe.a.check(a, "a")
        except ValueError as e:
            raise PimError(str(e)) from None
        R, s = g.R, acc.cfg.soc
        M, K = a.shape
        if K > s.a_words:
            raise PimError(f"{h.name}: K = {K} beats exceed soc.a_words = {s.a_words}")
        if h.slots * R > s.acc_words:
            raise PimError(f"{h.name}: {h.slots} tiles per bank × {R} rows exceed soc.acc_words = {s.acc_words}")
        mt_all = -(-M // R)
        mt_step = max(1, min(s.a_words // K, s.acc_words // (h.slots * R)))
        out = np.zeros((M, h.slots * p.banks * g.C), dtype=np.int64)
        for mt0 in range(0, mt_all, mt_step):
            mt1 = min(mt_all, mt0 + mt_step)
            a_words = g.pack_a(a[mt0 * R:mt1 * R])
            for b in range(p.banks):
                nt = len(range(b, h.tiles, p.banks))
                if nt:
                    yield EngineJob(self.acc, a_words if b == 0 else None, (mt1 - mt0, nt, K, b * p.rows + h.base),
                                    out, (mt0, mt1, b, M), store)
        acc.stats.gemm_macs += M * K * h.n
        return None if store else out[:, :h.n]

    # -- K/V rows written on chip
    def kv_project_jobs(self, h: PimKV, x: np.ndarray, wk: PimWeights, wv: PimWeights, k_coef: tuple, v_coef: tuple):
        """Generator of :class:`EngineJob`: the next position of every sequence of cache ``h``,
        ``x @ Wk`` and ``x @ Wv`` on the engine (x: (seqs, K) int8), requantized and written
        into the cache on chip by STOREs (:mod:`hwgen.golden.store`): only x and the
        coefficients cross the link. ``k_coef`` = (a, b, shift): K's lanes mixed in pairs
        (rotary); ``v_coef`` = (a, None, shift). a, b: (kv_heads·head_dim,) signed 16-bit."""
        from ..golden.store import COEF_MAX, COEF_MIN
        self._check(h, PimKV)
        self._check(wk, PimWeights)
        self._check(wv, PimWeights)
        acc, g, p = self.acc, self.acc.geo, self.p
        N = h.kv_heads * h.head_dim
        if not g.pim_store:
            raise PimError(f"{acc.cfg.name} has no STORE (its accumulator word, {g.C} columns, is not a bank word of "
                           f"{p.lanes} lanes)")
        x = np.asarray(x, dtype=np.int64)
        if x.shape != (h.seqs, wk.k) or wk.k != wv.k or (wk.n, wv.n) != (N, N):
            raise PimError(f"{h.name}: x must be (seqs, K) = ({h.seqs}, {wk.k}) and Wk, Wv (K, {N}); got x {x.shape}, "
                           f"Wk ({wk.k}, {wk.n}), Wv ({wv.k}, {wv.n})")
        if h.length >= h.max_len:
            raise PimError(f"{h.name}: the cache holds {h.max_len} positions (max_len), all used; cannot append another")
        tiles = N // g.C
        words = []   # the coefficients' scale words: K's (a, b) per tile, then V's a per tile
        for what, (ca, cb, shift), pair in (("k", k_coef, True), ("v", v_coef, False)):
            for c in (ca, cb) if pair else (ca,):
                c = np.asarray(c, dtype=np.int64)
                if c.shape != (N,) or c.min() < COEF_MIN or c.max() > COEF_MAX:
                    raise PimError(f"{h.name}: {what} coefficients must be ({N},) signed 16-bit, got shape {c.shape}")
            if not 0 <= shift <= 63:
                raise PimError(f"{h.name}: {what} shift must be 0..63, got {shift}")
        if 3 * tiles > g.depth(Mem.SCALE):
            raise PimError(f"{h.name}: the coefficients need {3 * tiles} scale words; soc.scale_words = "
                           f"{g.depth(Mem.SCALE)}")
        ka, kb = (np.asarray(c, dtype=np.int64).reshape(tiles, g.C) for c in k_coef[:2])
        coefs = np.concatenate([np.stack([ka, kb], 1).reshape(2 * tiles, g.C),
                                np.asarray(v_coef[0], dtype=np.int64).reshape(tiles, g.C)])
        acc.write(Mem.SCALE, 0, (coefs & 0xFFFF).astype("<u2").tobytes())
        row = h.length * h.kv_heads * h.hs
        for w, base, coef_base, (_, _, shift), pair in ((wk, h.k_base, 0, k_coef, True),
                                                       (wv, h.v_base, 2 * tiles, v_coef, False)):
            yield from self.gemm_jobs(x, w, store=lambda job, base=base, cb=coef_base, sh=shift, pr=pair:
                                      self._store_job(job, h, base + row, cb, sh, pr))
        h.length += 1

    def _store_job(self, job: "EngineJob", h: PimKV, base: int, coef_base: int, shift: int, pair: bool) -> None:
        """The STOREs of one engine job's results: per m-tile, its rows (sequences) over the
        banks (split where the sequences wrap to the next slot), every tile of the job's bank."""
        g, p = self.acc.geo, self.p
        R = g.R
        m_tiles, nt, _, _ = job.shape
        mt0, _, b, _ = job.where
        cw = 2 if pair else 1
        for ml in range(m_tiles):
            s0 = (mt0 + ml) * R
            s_end = min(h.seqs, s0 + R)
            sa = s0
            while sa < s_end:
                sb = min(s_end, (sa // p.banks + 1) * p.banks)   # up to the next slot
                bank, slot = sa % p.banks, sa // p.banks
                self.store_cmd(src=ml * nt * R + sa - s0, n1=sb - sa, src1=1, n2=nt, src2=R,
                               dst=bank * p.rows + base + slot * h.slot_words + b, dst1=p.rows, dst2=p.banks,
                               coef=coef_base + b * cw, coef2=p.banks * cw, shift=shift, pair=pair)
                sa = sb


class EngineJob:
    """One RUN of a resident-weight GEMM (:meth:`PimDriver.gemm_jobs`): ``prepare`` writes its
    A operand (the block's first RUN only), ``launch`` starts it (asynchronously unless
    ``wait``), ``collect`` reads its results after the device's WAIT."""

    def __init__(self, acc, a_words: bytes | None, shape: tuple, out: np.ndarray, where: tuple, store=None):
        self.acc, self.a_words, self.shape, self.out, self.where, self.store = acc, a_words, shape, out, where, store

    def prepare(self) -> None:
        if self.a_words is not None:
            self.acc.write(Mem.A, 0, self.a_words)

    def launch(self, wait: bool = False) -> int | None:
        """Start the RUN; with ``wait``, its cycles when it is done."""
        m_tiles, n_tiles, k, w_base = self.shape
        return self.acc.run(m_tiles, n_tiles, k, w_base=w_base, w_pim=True, wait=wait)

    def collect(self) -> None:
        if self.store is not None:   # the results stay on chip
            self.store(self)
            return
        g, p = self.acc.geo, self.acc.geo.pim
        R, C = g.R, g.C
        m_tiles, nt, _, _ = self.shape
        mt0, mt1, b, M = self.where
        words = g.unpack_words(self.acc.read(Mem.ACC, 0, m_tiles * nt * R), Mem.ACC)
        tiles = words.reshape(m_tiles, nt, R, C)
        for j in range(nt):
            t = b + j * p.banks
            rows = tiles[:, j].reshape(-1, C)[:min(M, mt1 * R) - mt0 * R]
            self.out[mt0 * R:mt0 * R + len(rows), t * C:(t + 1) * C] = rows

    def run(self) -> None:
        """The whole job, synchronously."""
        self.prepare()
        self.launch(wait=True)
        self.collect()
