"""The PIM banks through the driver: resident weights, GEMVs, KV caches and the engine on
resident weights, bit-exact with NumPy; bad requests refused before a byte is sent."""
import numpy as np
import pytest

from hwgen import golden
from hwgen.config import ArrayConfig, HwgenConfig, PimConfig, SocConfig
from hwgen.driver import Accelerator, PimError
from hwgen.numerics import Format, parse_format, wrap_signed

# small on purpose: K and the outputs need several vector and result chunks
PIM = PimConfig(banks=3, rows=1024, lanes=8, formats=("int8", "int4", "uint2"), acc=24, vec_words=8, out_words=4)
CFG = HwgenConfig(name="pim_2x8", array=ArrayConfig(rows=2, cols=8),
                  soc=SocConfig(a_words=256, w_words=64, acc_words=64, scale_words=16, pim=PIM))


@pytest.fixture(scope="module", params=["golden", "verilator"])
def acc(request):
    with Accelerator.open(CFG, request.param) as dev:
        yield dev


def test_gemv_on_resident_weights_is_exact(acc, seed):
    rng = np.random.default_rng(seed)
    for fmt in PIM.formats:
        k, n = (int(v) for v in rng.integers(1, 90, 2))
        w = fmt.random(rng, (k, n), extremes=0.2)
        h = acc.pim_load(w, fmt, name=f"w_{fmt}")
        for _ in range(2):
            x = Format(8).random(rng, (k,), extremes=0.2)
            assert np.array_equal(acc.gemv(h, x), wrap_signed(x @ w, PIM.acc)), (fmt, k, n)
        acc.pim.reset()


def test_kv_cache_scores_and_context_are_exact(acc, seed):
    rng = np.random.default_rng(seed)
    seqs, kvh, hd, heads, T = 5, 2, 16, 4, 9          # 5 sequences over 3 banks: two slots
    kv = acc.pim.kv(seqs, max_len=12, kv_heads=kvh, head_dim=hd)
    ks, vs = [], []
    for _ in range(T):
        k, v = (Format(8).random(rng, (seqs, kvh, hd), extremes=0.2) for _ in range(2))
        acc.pim.kv_append(kv, k, v)
        ks.append(k), vs.append(v)
    K, V = np.stack(ks, 1), np.stack(vs, 1)                               # (seqs, T, kvh, hd)
    q = Format(8).random(rng, (seqs, heads, hd), extremes=0.2)
    rep = heads // kvh
    want = np.einsum("shd,sthd->sht", q, np.repeat(K, rep, axis=2))
    assert np.array_equal(acc.pim.scores(kv, q), wrap_signed(want, PIM.acc))
    p = rng.integers(0, 128, size=(seqs, heads, T))
    want = np.einsum("sht,sthd->shd", p, np.repeat(V, rep, axis=2))
    assert np.array_equal(acc.pim.context(kv, p), wrap_signed(want, PIM.acc))
    acc.pim.reset()


def test_engine_streams_resident_weights(acc, seed):
    rng = np.random.default_rng(seed)
    w = Format(8).random(rng, (37, 60), extremes=0.2)
    h = acc.pim_load(w, "int8", name="w")
    before = acc.stats.link_bytes_out
    a = Format(8).random(rng, (5, 37), extremes=0.2)
    got = acc.pim.gemm(a, h)
    assert np.array_equal(got, golden.gemm(a, w, acc_bits=32))
    assert acc.stats.link_bytes_out - before < a.size * 2 + 600   # A crosses the link, W does not
    acc.pim.reset()


def test_kv_rows_written_on_chip(acc, seed):
    """K and V of a new position: the engine's accumulators requantized (K's lanes rotated in
    pairs) and stored into the cache by STOREs, exactly golden.store's arithmetic; only x and
    the coefficients cross the link."""
    from hwgen.golden.store import requantize_pair
    rng = np.random.default_rng(seed)
    seqs, kvh, hd, K = 5, 2, 16, 24                 # 5 sequences over 3 banks: two slots, a wrap
    N = kvh * hd
    wk, wv = (Format(8).random(rng, (K, N), extremes=0.2) for _ in range(2))
    hk, hv = acc.pim_load(wk, "int8", name="wk"), acc.pim_load(wv, "int8", name="wv")
    kv = acc.pim.kv(seqs, max_len=3, kv_heads=kvh, head_dim=hd)
    for pos in range(2):
        x = Format(8).random(rng, (seqs, K), extremes=0.2)
        ka, kb, va = (rng.integers(-2**15, 2**15, N) for _ in range(3))
        before, cycles, r0 = acc.stats.link_bytes_out, acc.stats.store_cycles, acc.regs()
        for job in acc.pim.kv_project_jobs(kv, x, hk, hv, (ka, kb, 14), (va, None, 11)):
            job.run()
        assert acc.stats.link_bytes_out - before < x.size + 3 * 2 * N + 2000   # x and coefficients, not K/V
        # the device counts the cycles its STOREs answered with (model: hwgen.soc.store.store_cycles)
        assert acc.regs()["store_busy"] - r0["store_busy"] == acc.stats.store_cycles - cycles > 0
        k, v = acc.pim.kv_read(kv, pos)
        want_k = requantize_pair(golden.gemm(x, wk, acc_bits=32), ka, kb, 14)
        want_v = requantize_pair(golden.gemm(x, wv, acc_bits=32), va, None, 11)
        assert np.array_equal(k.reshape(seqs, N), want_k) and np.array_equal(v.reshape(seqs, N), want_v), pos
    assert kv.length == 2
    acc.pim.reset()


def _state(acc):
    """Every PIM word, read back (the device's own memory, whichever transport)."""
    from hwgen.soc.protocol import Mem
    g = acc.geo
    return tuple(acc.read(mem, 0, g.depth(mem) if mem != Mem.PIM_VEC else g.pim.banks * g.pim.vec_words)
                 for mem in (Mem.PIM, Mem.PIM_VEC, Mem.PIM_OUT))


def test_bad_requests_are_refused_before_anything_is_sent(acc):
    h = acc.pim_load(np.ones((16, 8), dtype=np.int64), "int8", name="w")
    kv = acc.pim.kv(3, max_len=2, kv_heads=1, head_dim=8)
    state, sent = _state(acc), acc.stats.link_bytes_out
    other = Accelerator.open(CFG, "golden").pim_load(np.ones((16, 8), dtype=np.int64))
    cases = [
        (lambda: acc.gemv(other, np.zeros(16)), "not a PimWeights loaded on this device"),
        (lambda: acc.gemv(kv, np.zeros(16)), "not a PimWeights"),
        (lambda: acc.gemv(h, np.zeros(15)), "K = 16"),
        (lambda: acc.gemv(h, np.full(16, 128)), "int8"),
        (lambda: acc.pim_load(np.zeros((4000, 8), dtype=np.int64)), "are free"),
        (lambda: acc.pim_load(np.zeros((4, 8), dtype=np.int64), "int2"), "not one the banks decode"),
        (lambda: acc.pim_load(np.full((4, 8), 9), "int4"), "int4"),
        (lambda: acc.pim.kv(2, max_len=4, kv_heads=1, head_dim=12), "multiple of soc.pim.lanes"),
        (lambda: acc.pim.scores(kv, np.zeros((3, 1, 8))), "empty"),
    ]
    for call, message in cases:
        with pytest.raises(PimError, match=message):
            call()
    z = np.zeros((3, 1, 8), dtype=np.int64)
    acc.pim.kv_append(kv, z, z)
    acc.pim.kv_append(kv, z, z)
    state, sent = _state(acc), acc.stats.link_bytes_out
    with pytest.raises(PimError, match="max_len"):
        acc.pim.kv_append(kv, z, z)
    assert acc.stats.link_bytes_out == sent
    assert state == _state(acc)
    acc.pim.reset()


def test_accelerator_without_pim_says_so():
    with Accelerator.open(HwgenConfig(name="nopim", array=ArrayConfig(rows=2, cols=2)), "golden") as dev:
        with pytest.raises(PimError, match="no PIM banks"):
            dev.pim_load(np.zeros((2, 2), dtype=np.int64))


@pytest.mark.parametrize("row_buffers", [1, 2])
def test_engine_and_gemv_run_at_once_and_the_counters_say_so(row_buffers, seed):
    """An asynchronous GEMV over one resident matrix while the engine streams another from the
    same banks: both results exact; the counters show the overlap, and with one row buffer the
    GEMV's stalls (the cycles the engine took the port)."""
    import dataclasses
    from hwgen.golden.pim import BACC
    cfg = CFG if row_buffers == 2 else dataclasses.replace(
        CFG, name="pim_2x8_rb1", soc=dataclasses.replace(CFG.soc, pim=dataclasses.replace(PIM, row_buffers=1)))
    rng = np.random.default_rng(seed)
    with Accelerator.open(cfg, "verilator") as acc:
        w_npu, w_pim = Format(8).random(rng, (60, 40)), Format(8).random(rng, (64, 24))
        h_npu, h_pim = acc.pim_load(w_npu, "int8", "npu"), acc.pim_load(w_pim, "int8", "pim")
        x = Format(8).random(rng, (64,))
        acc.pim._write_vec(None, acc.pim._vec_words(x))
        a = Format(8).random(rng, (6, 60))
        acc.reset()
        jobs = acc.pim.gemm_jobs(a, h_npu)
        job = next(jobs)
        job.prepare()                        # the engine's operands first: then both start back to back
        # x·W over the 64 rows of each bank's tile, 8 times over (the same sums: 8 result words)
        acc.pim.gemv_cmd(BACC, Format(8), 4, h_pim.k, h_pim.base, 0, 1, wait=False)
        job.launch(wait=True)                # the RUNs read the banks while the GEMV does
        job.collect()
        try:
            while True:
                job = jobs.send(None)
                job.run()
        except StopIteration as e:
            got_npu = e.value
        acc.wait()
        regs = acc.regs()
        got_pim = np.concatenate([acc.pim._read_out(b, 4) for b in range(3)], axis=1)    # (4 repeats, 24)
        assert np.array_equal(got_npu, golden.gemm(a, w_npu, acc_bits=32))
        assert all(np.array_equal(row, wrap_signed(x @ w_pim, PIM.acc)) for row in got_pim)
        assert regs["overlap"] > 0 and regs["pim_issue"] == 4 * h_pim.k
        assert (regs["pim_stall"] > 0) == (row_buffers == 1)
        print(row_buffers, {k: regs[k] for k in ("busy", "pim_busy", "overlap", "pim_stall")})
