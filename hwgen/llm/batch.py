"""Batched decode with resident weights and KV caches (docs/pim.md): B sequences step
together, their projections one GEMM of B rows on the engine, their attention over int8 KV
caches either on the engine (``npu``) or in the PIM banks (``pim``; with ``interleave``,
NeuPIMs' sub-batch interleaving: one half's attention in the banks while the other half's
projections run on the engine).

The arithmetic is one recipe, written once (:class:`BatchDecoder`), over four integer
kernels (:class:`IntOps`): the projections' exact group sums, K/V appends, scores ``q·Kᵀ`` and
the context ``p·V``. :class:`ReferenceOps` computes them in NumPy, :class:`AcceleratorOps` on
the device; so the two paths agree bit for bit by construction, and the device's numbers are
checked, not assumed. Around the kernels, in float32 on the host: RMSNorm, rotary, the
per-token int8 quantization of activations, of q (per head), softmax, and p·scale_v
requantized to int8 (per head) for the context.

New K/V rows are made from the projections' accumulators by the STORE unit's arithmetic
(:mod:`hwgen.llm.kvquant`: static per-column multipliers, rotary folded in), so on the device
they never leave the chip, when the K and V weights have one scale per channel; with group
scales (a group shorter than the input) they are quantized on the host per position and KV
head, and appended over the link.
"""
from __future__ import annotations

import abc

import numpy as np

from ..numerics import Format
from ..golden.store import requantize_pair
from .kvquant import KvQuant, interleave_heads, rope_pairs, single_group
from .model import LayerWeights, LlamaConfig, LLMError, rmsnorm
from .quant import QuantizedWeight, combine, quantize_activations, quantize_weight

__all__ = ["MODES", "IntOps", "ReferenceOps", "AcceleratorOps", "BatchDecoder", "quantize_rows", "halves",
           "quantize_model"]

#: attention on the engine; in the banks; in the banks, sub-batches interleaved with the engine
MODES = ("npu", "pim", "interleave")
#: the PIM element format of each weight scheme's levels
SCHEME_FORMAT = {"int8": "int8", "int4": "int4", "int2": "int2", "ternary": "int2"}


def quantize_rows(x: np.ndarray, hi: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int quantization along the last axis: ``x ≈ q · s[..., None]``, |q| ≤ hi."""
    x = np.asarray(x, dtype=np.float32)
    s = np.abs(x).max(axis=-1) / np.float32(hi)
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    return np.clip(np.rint(x / s[..., None]), -hi, hi).astype(np.int64), s


class IntOps(abc.ABC):
    """The integer kernels of a decode step (every result an exact integer sum). ``rows``:
    the sequences (a slice of the batch: a sub-batch); ``fill``: engine work to run while a
    bank GEMV executes (:meth:`hwgen.driver.pim.PimDriver.scores`); NumPy ignores it."""

    @abc.abstractmethod
    def proj(self, layer: int, name: str, xq: np.ndarray):
        """Generator returning, per weight group g, ``xq[:, g] @ q[:, g]ᵀ`` (M, N); on the device
        it yields the engine jobs (:class:`hwgen.driver.pim.EngineJob`) that compute them."""

    @abc.abstractmethod
    def append(self, layer: int, rows: slice, k: np.ndarray, v: np.ndarray) -> None:
        """The next position of sequences ``rows``: (rows, kv_heads, head_dim) int8 each."""

    @abc.abstractmethod
    def kv_project(self, layer: int, rows: slice, xq: np.ndarray, k_coef: tuple, v_coef: tuple):
        """Generator: the next position of sequences ``rows`` made from ``xq`` (rows, dim) by the
        K/V projections and :func:`hwgen.golden.store.requantize_pair` with ``k_coef`` =
        (a, b, shift) and ``v_coef`` = (a, None, shift), appended (on the device: on chip)."""

    def _kv_rows(self, acc_k, acc_v, k_coef, v_coef, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The STORE arithmetic on accumulators read back: (n, kv_heads, head_dim) each."""
        shape = (n, self.cfg.n_kv_heads, self.cfg.head_dim)
        return (requantize_pair(acc_k, *k_coef).reshape(shape), requantize_pair(acc_v, *v_coef).reshape(shape))

    @abc.abstractmethod
    def scores(self, layer: int, rows: slice, q: np.ndarray, length: int, fill=None) -> np.ndarray:
        """(rows, heads, length): q (rows, heads, head_dim) · the first ``length`` keys."""

    def load(self, layer: int, rows: slice, k: np.ndarray, v: np.ndarray) -> None:
        """Fill empty caches of sequences ``rows`` with T positions: (rows, T, kv_heads, head_dim)."""
        for t in range(k.shape[1]):
            self.append(layer, rows, k[:, t], v[:, t])

    @abc.abstractmethod
    def context(self, layer: int, rows: slice, p: np.ndarray, fill=None) -> np.ndarray:
        """(rows, heads, head_dim): p (rows, heads, length) int8 · the first ``length`` values."""


class ReferenceOps(IntOps):
    """NumPy: the caches as integer arrays, exact sums."""

    def __init__(self, cfg: LlamaConfig, qweights: list[dict[str, QuantizedWeight]], batch: int, max_len: int):
        self.cfg, self.qweights = cfg, qweights
        shape = (batch, max_len, cfg.n_kv_heads, cfg.head_dim)
        self.k = [np.zeros(shape, np.int64) for _ in qweights]
        self.v = [np.zeros(shape, np.int64) for _ in qweights]
        self.length = np.zeros((len(qweights), batch), dtype=np.int64)

    def proj(self, layer, name, xq):
        qw = self.qweights[layer][name]
        return [xq[:, s:s + qw.group] @ qw.q[:, s:s + qw.group].astype(np.int64).T
                for s in range(0, qw.shape[1], qw.group)]
        yield   # a generator without jobs

    def kv_project(self, layer, rows, xq, k_coef, v_coef):
        acc = [xq @ self.qweights[layer][name].q.astype(np.int64).T for name in ("k_proj", "v_proj")]
        self.append(layer, rows, *self._kv_rows(*acc, k_coef, v_coef, xq.shape[0]))
        yield from ()

    def append(self, layer, rows, k, v):
        t = int(self.length[layer, rows][0])
        self.k[layer][rows, t], self.v[layer][rows, t] = k, v
        self.length[layer, rows] += 1

    def _rep(self, x, heads):
        return np.repeat(x, heads // self.cfg.n_kv_heads, axis=2)

    def scores(self, layer, rows, q, length, fill=None):
        return np.einsum("bhd,bthd->bht", q, self._rep(self.k[layer][rows, :length], q.shape[1]))

    def context(self, layer, rows, p, fill=None):
        return np.einsum("bht,bthd->bhd", p, self._rep(self.v[layer][rows, :p.shape[2]], p.shape[1]))


class AcceleratorOps(IntOps):
    """The device: every weight group resident in the PIM banks (loaded once), the engine
    streaming them for the projections; the KV caches in the banks, one handle per sub-batch
    (``pim``, ``interleave``), or on the host with attention as engine GEMMs whose operands
    cross the link (``npu``)."""

    def __init__(self, acc, cfg: LlamaConfig, qweights: list[dict[str, QuantizedWeight]], batch: int, max_len: int,
                 mode: str, halves: list[slice], handles: list | None = None):
        if mode not in MODES:
            raise LLMError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if acc.geo.pim is None:
            raise LLMError(f"{acc.cfg.name} has no PIM banks (soc.pim): resident weights need them")
        pe = acc.cfg.array.pe
        if mode == "npu" and (pe.w.bits < 8 or pe.a.bits < 8):
            raise LLMError(f"mode npu runs attention on the engine (int8 q·Kᵀ and p·V): {acc.cfg.name} multiplies "
                           f"{pe.a} × {pe.w}; use mode pim or interleave")
        self.acc, self.cfg, self.mode = acc, cfg, mode
        # a batch of one: its projections are GEMVs in the banks (no sub-batch's attention
        # needs the banks' vector and result buffers meanwhile)
        self.gemv_proj = batch == 1 and mode != "npu"
        #: new K/V rows made on chip (STORE) from the engine's results: in the PIM modes with a
        #: batch (one sequence's K/V are cheaper as bank GEMVs read back than as engine RUNs)
        self.kv_on_chip = mode != "npu" and not self.gemv_proj and acc.geo.pim_store
        #: per layer, per projection, the resident weight groups (``handles``: loaded before, e.g.
        #: by another AcceleratorOps of the same weights on this device)
        self.handles = handles if handles is not None else self.load_weights(acc, qweights)
        if mode == "npu":
            self.ref = ReferenceOps(cfg, qweights, batch, max_len)   # the caches stay on the host
        else:   # a handle per sub-batch: its sequences one per bank, computed by the same GEMVs
            self.kv = [{(r.start, r.stop): acc.pim.kv(r.stop - r.start, max_len, cfg.n_kv_heads, cfg.head_dim,
                                                        name=f"layer {li} kv {r.start}:{r.stop}") for r in halves}
                       for li in range(len(qweights))]

    @staticmethod
    def load_weights(acc, qweights: list[dict[str, QuantizedWeight]]) -> list[dict]:
        """Every weight group of every layer made resident in the banks (once per device)."""
        handles = []
        for li, qws in enumerate(qweights):
            hs = {}
            for name, qw in qws.items():
                fmt = SCHEME_FORMAT[qw.scheme]
                hs[name] = [acc.pim_load(qw.q[:, s:s + qw.group].T.astype(np.int64), fmt, name=f"layer {li} {name}")
                            for s in range(0, qw.shape[1], qw.group)]
            handles.append(hs)
        return handles

    def proj(self, layer, name, xq):
        parts, k0 = [], 0
        for h in self.handles[layer][name]:   # a handle per weight group, in order
            x = xq[:, k0:k0 + h.k]
            if self.gemv_proj:   # batch 1: a GEMV in the banks
                parts.append(self.acc.pim.gemv(h, x[0])[None])
            else:
                parts.append((yield from self.acc.pim.gemm_jobs(x, h)))
            k0 += h.k
        return parts

    def kv_project(self, layer, rows, xq, k_coef, v_coef):
        hk, hv = (self.handles[layer][name] for name in ("k_proj", "v_proj"))
        if self.kv_on_chip:   # the engine's results go into the cache
            yield from self.acc.pim.kv_project_jobs(self.kv[layer][rows.start, rows.stop], xq, hk[0], hv[0],
                                                     k_coef, v_coef)
            return
        # read back (batch 1: bank GEMVs), requantized on the host, appended
        acc_k = (yield from self.proj(layer, "k_proj", xq))[0]
        acc_v = (yield from self.proj(layer, "v_proj", xq))[0]
        self.append(layer, rows, *self._kv_rows(acc_k, acc_v, k_coef, v_coef, xq.shape[0]))

    def append(self, layer, rows, k, v):
        if self.mode == "npu":
            self.ref.append(layer, rows, k, v)
        else:
            self.acc.pim.kv_append(self.kv[layer][rows.start, rows.stop], k, v)

    def load(self, layer, rows, k, v):
        if self.mode == "npu":
            self.ref.load(layer, rows, k, v)
        else:
            self.acc.pim.kv_load(self.kv[layer][rows.start, rows.stop], k, v)

    def scores(self, layer, rows, q, length, fill=None):
        if self.mode != "npu":
            return self.acc.pim.scores(self.kv[layer][rows.start, rows.stop], q, length=length, fill=fill)
        keys = self.ref.k[layer][rows, :length]
        rep = q.shape[1] // self.cfg.n_kv_heads
        return np.stack([np.stack([self.acc.gemm(q[b, h][None], keys[b, :, h // rep].T)[0]
                                   for h in range(q.shape[1])]) for b in range(q.shape[0])])

    def context(self, layer, rows, p, fill=None):
        if self.mode != "npu":
            return self.acc.pim.context(self.kv[layer][rows.start, rows.stop], p, fill=fill)
        vals = self.ref.v[layer][rows, :p.shape[2]]
        rep = p.shape[1] // self.cfg.n_kv_heads
        return np.stack([np.stack([self.acc.gemm(p[b, h][None], vals[b, :, h // rep])[0]
                                   for h in range(p.shape[1])]) for b in range(p.shape[0])])


def halves(batch: int, mode: str, rows: int = 1) -> list[slice]:
    """The sub-batches: for ``interleave`` two, the first a multiple of the engine's ``rows``
    (a sub-batch of fewer rows than the engine has would stream every weight once more for
    nothing); the whole batch when it cannot be split so (``batch`` ≤ ``rows``), or otherwise."""
    if mode != "interleave":
        return [slice(0, batch)]
    first = rows * -(-batch // (2 * rows))
    return [slice(0, first), slice(first, batch)] if 0 < first < batch else [slice(0, batch)]


class _Filler:
    """Drives a generator of engine jobs: :meth:`finish` runs them one after the other; as a
    ``fill`` callable it hands out the next job with its operands written, to run beside a
    bank GEMV (the caller launches and collects it)."""

    def __init__(self, gen):
        self.gen, self.value, self.done, self.pending = gen, None, False, None

    def _next(self):
        try:
            job = self.gen.send(None)
        except StopIteration as e:
            self.done, self.value, job = True, e.value, None
        return job

    def __call__(self):
        if self.done:
            return None
        job = self._next()
        if job is not None:
            job.prepare()
        return job

    def finish(self):
        while not self.done:
            job = self._next()
            if job is not None:
                job.run()
        return self.value


class BatchDecoder:
    """Decoder layers over a batch of sequences, all at the same position; ``split``: the
    sub-batches (:func:`halves`) — with two, each layer runs NeuPIMs' interleaved schedule:
    engine(QKV₁) · [banks(attention₁) ∥ engine(QKV₂)] · [banks(attention₂) ∥ engine(rest₁)] ·
    engine(rest₂)."""

    def __init__(self, cfg: LlamaConfig, weights: list[LayerWeights], ops: IntOps, qweights, batch: int, max_len: int,
                 split: list[slice] | None = None):
        self.cfg, self.w, self.ops, self.q = cfg, weights, ops, qweights
        self.batch, self.max_len = batch, max_len
        self.split = split or [slice(0, batch)]
        shape = (batch, max_len, cfg.n_kv_heads)
        self.k_scale = [np.zeros(shape, np.float32) for _ in weights]
        self.v_scale = [np.zeros(shape, np.float32) for _ in weights]
        #: per layer, the static K/V quantization of the STORE unit (None: K/V per position on the host)
        self.kvq = [KvQuant.calibrate(cfg, w, q["k_proj"], q["v_proj"])
                    if single_group(q["k_proj"]) and single_group(q["v_proj"]) else None
                    for w, q in zip(weights, qweights)]
        self.pos = 0

    def preload(self, length: int, seed: int) -> None:
        """Start at position ``length`` with every cache holding ``length`` random positions
        (int8 codes, scales like a layer's): to time a decode step deep into a context without
        running the steps before it. Deterministic in ``seed``."""
        if self.pos or not 0 < length < self.max_len:
            raise LLMError(f"preload needs fresh caches and 0 < length < max_len = {self.max_len}, got {length}")
        rng = np.random.default_rng(seed)
        c = self.cfg
        for li in range(len(self.w)):
            k, v = (rng.integers(-127, 128, size=(self.batch, length, c.n_kv_heads, c.head_dim)) for _ in range(2))
            self.k_scale[li][:, :length] = rng.uniform(0.01, 0.05, size=(self.batch, length, c.n_kv_heads))
            self.v_scale[li][:, :length] = rng.uniform(0.01, 0.05, size=(self.batch, length, c.n_kv_heads))
            for r in self.split:
                self.ops.load(li, r, k[r], v[r])
        self.pos = length

    def _linear(self, li: int, name: str, x: np.ndarray) -> np.ndarray:
        qw = self.q[li][name]
        xq, xs = quantize_activations(x, qw.act_group)
        parts = yield from self.ops.proj(li, name, xq.astype(np.int64))
        return combine([np.ascontiguousarray(p, dtype=np.int64) for p in parts], xs, qw, xq)

    def _pre(self, li: int, rows: slice, x: np.ndarray):
        """Generator (of the projections' engine jobs): q, k, v of sequences ``rows``, K and V
        appended; returns q (rows, heads, head_dim)."""
        c, w = self.cfg, self.w[li]
        n = x.shape[0]
        pos = np.full(n, self.pos)
        h = rmsnorm(x, w.input_norm, c.norm_eps)
        q = rope_pairs((yield from self._linear(li, "q_proj", h)).reshape(n, c.n_heads, c.head_dim), pos, c.rope_theta)
        kvq = self.kvq[li]
        if kvq is not None:   # K/V made from the accumulators with static multipliers (on chip on the device)
            xq, xs = quantize_activations(h)
            yield from self.ops.kv_project(li, rows, xq.astype(np.int64), *kvq.coefs(self.pos))
            self.k_scale[li][rows, self.pos] = xs[:, None] * kvq.sigma_k[None, :]
            self.v_scale[li][rows, self.pos] = xs[:, None] * kvq.sigma_v[None, :]
            return q
        k = rope_pairs((yield from self._linear(li, "k_proj", h)).reshape(n, c.n_kv_heads, c.head_dim), pos,
                       c.rope_theta)
        v = (yield from self._linear(li, "v_proj", h)).reshape(n, c.n_kv_heads, c.head_dim)
        kq, ks = quantize_rows(k)
        vq, vs = quantize_rows(v)
        self.ops.append(li, rows, kq, vq)
        self.k_scale[li][rows, self.pos], self.v_scale[li][rows, self.pos] = ks, vs
        return q

    def _attention(self, li: int, rows: slice, q: np.ndarray, fill=None) -> np.ndarray:
        """q (rows, heads, head_dim) float over positions 0..pos → (rows, dim)."""
        c = self.cfg
        length = self.pos + 1
        rep = c.n_heads // c.n_kv_heads
        qq, qs = quantize_rows(q)
        # (integers from either path, C-ordered: NumPy's float reductions depend on the layout)
        s_int = np.ascontiguousarray(self.ops.scores(li, rows, qq, length, fill), dtype=np.int64)   # (n, H, T)
        ks = np.repeat(self.k_scale[li][rows, :length], rep, axis=2).transpose(0, 2, 1)       # (n, H, T)
        scores = s_int.astype(np.float32) * qs[:, :, None] * ks / np.float32(np.sqrt(c.head_dim))
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p = (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)
        vs = np.repeat(self.v_scale[li][rows, :length], rep, axis=2).transpose(0, 2, 1)
        pq, ps = quantize_rows(p * vs)                                                        # 0..127 (p·s_v ≥ 0)
        ctx = np.ascontiguousarray(self.ops.context(li, rows, pq, fill), dtype=np.int64)       # (n, H, hd)
        return (ctx.astype(np.float32) * ps[:, :, None]).reshape(q.shape[0], c.dim)

    def _post(self, li: int, x: np.ndarray, att: np.ndarray):
        """Generator (of the projections' engine jobs): o_proj, the residual, the MLP; returns x."""
        c, w = self.cfg, self.w[li]
        x = x + (yield from self._linear(li, "o_proj", att))
        h = rmsnorm(x, w.post_norm, c.norm_eps)
        g = yield from self._linear(li, "gate_proj", h)
        u = yield from self._linear(li, "up_proj", h)
        down = yield from self._linear(li, "down_proj", (g / (1 + np.exp(-g)) * u).astype(np.float32))
        return (x + down).astype(np.float32)

    def step(self, x: np.ndarray) -> np.ndarray:
        """One position of every sequence: x (batch, dim) → (batch, dim) through every layer."""
        c, B = self.cfg, self.batch
        if x.shape != (B, c.dim):
            raise LLMError(f"x must be (batch, dim) = {(B, c.dim)}, got {x.shape}")
        if self.pos >= self.max_len:
            raise LLMError(f"the KV caches hold {self.max_len} positions (max_len), all used")
        out = np.array(x, dtype=np.float32)
        for li in range(len(self.w)):
            if len(self.split) == 1:
                r = self.split[0]
                q = _Filler(self._pre(li, r, out[r])).finish()
                out[r] = _Filler(self._post(li, out[r], self._attention(li, r, q))).finish()
                continue
            a, b = self.split
            qa = _Filler(self._pre(li, a, out[a])).finish()
            pre_b = _Filler(self._pre(li, b, out[b]))
            att_a = self._attention(li, a, qa, fill=pre_b)          # engine: QKV of b meanwhile
            qb = pre_b.finish()
            post_a = _Filler(self._post(li, out[a], att_a))
            att_b = self._attention(li, b, qb, fill=post_a)         # engine: the rest of a meanwhile
            out[a] = post_a.finish()
            out[b] = _Filler(self._post(li, out[b], att_b)).finish()
        self.pos += 1
        return out


def quantize_model(cfg: LlamaConfig, weights: list[LayerWeights], scheme: str,
                   group: int) -> list[dict[str, QuantizedWeight]]:
    """Every projection quantized; Q's and K's output channels in rotary pairs
    (:func:`hwgen.llm.kvquant.interleave_heads`)."""
    def one(name, m):
        qw = quantize_weight(m, scheme, group)
        return interleave_heads(qw, cfg.head_dim) if name in ("q_proj", "k_proj") else qw
    return [{name: one(name, m) for name, m in w.proj.items()} for w in weights]


def pim_format(scheme: str) -> Format:
    from ..numerics import parse_format
    return parse_format(SCHEME_FORMAT[scheme])
