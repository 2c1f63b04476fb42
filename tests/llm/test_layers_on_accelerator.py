"""A decoder block whose projections run on the accelerator (golden and Verilated RTL)
equals the NumPy reference with the same quantization bit for bit, for W8A8 and group-wise W4."""
import numpy as np
import pytest

from hwgen.config import loads
from hwgen.driver import Accelerator
from hwgen.llm.layers import AcceleratorLinear, ReferenceLinear, quantize_layer
from hwgen.llm.model import DecoderBlock, KVCache, LlamaConfig, random_weights

HW = loads("name: llm_4x4\narray: {rows: 4, cols: 4, pe: {a: int8, w: int8, acc: 32}}\n"
           "soc: {a_words: 512, w_words: 512, acc_words: 256}\n")
CFG = LlamaConfig(dim=32, n_heads=2, n_kv_heads=1, hidden=48, max_seq=16)


@pytest.mark.parametrize("transport", ["golden", "verilator"])
@pytest.mark.parametrize("scheme,group", [("int8", 128), ("int4", 16)])
def test_block_on_accelerator_is_bit_exact(transport, scheme, group, seed):
    (w,) = random_weights(CFG, seed)
    qw = quantize_layer(w, scheme, group)
    block = DecoderBlock(CFG, w)
    x = np.random.default_rng(seed).normal(size=(5, CFG.dim)).astype(np.float32)
    ref_cache, hw_cache = KVCache(CFG), KVCache(CFG)
    with Accelerator.open(HW, transport) as acc:
        lin = AcceleratorLinear(acc, qw)
        for rows in (slice(0, 3), slice(3, 4), slice(4, 5)):  # prefill 3, then two decode steps
            want = block.forward(x[rows], ref_cache, ReferenceLinear(qw))
            got = block.forward(x[rows], hw_cache, lin)
            assert np.array_equal(got, want), (transport, scheme, rows)
    assert lin.macs["down_proj"] == 5 * CFG.dim * CFG.hidden


def test_weights_wider_than_the_engine_are_refused():
    narrow = loads("name: n4\narray: {rows: 2, cols: 2, pe: {a: int8, w: int4, acc: 32}}\n")
    (w,) = random_weights(CFG, 1)
    with Accelerator.open(narrow, "golden") as acc, pytest.raises(ValueError, match=r"int8 weights \(int8 codes\) × int8"):
        AcceleratorLinear(acc, quantize_layer(w, "int8"))


def test_run_llm_cli_reports_and_projects(tmp_path, capsys, seed):
    """`hwgen run llm` on saved weights: bit-exact, per-layer rows, a compute-vs-UART projection."""
    import json

    from hwgen.cli import main
    from hwgen.llm.weights import save_llama
    save_llama(tmp_path / "m.safetensors", CFG, random_weights(CFG, seed, n_layers=2))
    (tmp_path / "hw.yaml").write_text("name: llm_4x4\narray: {rows: 4, cols: 4, pe: {a: int8, w: int8, acc: 32}}\n"
                                      "soc: {a_words: 512, w_words: 512, acc_words: 256}\n")
    rc = main(["run", "llm", str(tmp_path / "hw.yaml"), "--weights", str(tmp_path / "m.safetensors"), "--layers", "2",
               "--prompt-len", "4", "--decode", "2", "--transport", "golden", "--scheme", "int4", "--group", "16",
               "--seed", str(seed), "--output", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "bit-exact against the NumPy reference" in out and "tokens/s" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert len(r["per_layer"]) == 2 * 3 and r["phases"]["decode"]["tokens"] == 2
    assert {p["phase"] for p in r["projection"]["phases"]} == {"prefill", "decode"}
    assert r["min_cosine"] > 0.9   # int4, group 16, tiny random model
    assert main(["run", "llm", str(tmp_path / "hw.yaml"), "--weights", str(tmp_path / "none.safetensors")]) == 1
    assert "cannot read" in capsys.readouterr().err
