"""Batched decode with resident weights and KV caches (hwgen.llm.batch): every mode bit-exact
with the NumPy reference of the same arithmetic, on golden and verilator."""
import numpy as np
import pytest

from hwgen.config import ArrayConfig, HwgenConfig, PEConfig, PimConfig, SocConfig
from hwgen.driver import Accelerator
from hwgen.llm.batch import MODES, AcceleratorOps, BatchDecoder, ReferenceOps, halves, quantize_model
from hwgen.llm.model import LLMError, LlamaConfig, random_weights
from hwgen.numerics import parse_format

MODEL = LlamaConfig(dim=64, n_heads=4, n_kv_heads=2, hidden=96, max_seq=16)


def hw(scheme: str, row_buffers: int = 2) -> HwgenConfig:
    """A 2-row systolic engine whose weight word is a bank word (8 lanes of 8 bits)."""
    w = {"int8": "int8", "int2": "int2"}[scheme]
    cols = {"int8": 8, "int2": 32}[scheme]
    formats = ("int8",) if w == "int8" else ("int8", w)
    return HwgenConfig(name=f"llm_pim_{scheme}_rb{row_buffers}",
                       array=ArrayConfig(rows=2, cols=cols, pe=PEConfig(w=parse_format(w))),
                       soc=SocConfig(a_words=256, w_words=32, acc_words=256, scale_words=16,
                                     pim=PimConfig(banks=2, rows=8192, lanes=8, formats=formats,
                                                   row_buffers=row_buffers, vec_words=32, out_words=32)))


def decode(acc, mode, scheme, seed, batch=3, steps=3):
    weights = random_weights(MODEL, seed, 2)
    qws = quantize_model(MODEL, weights, scheme, 32)
    x = np.random.default_rng(seed + 1).normal(size=(steps, batch, MODEL.dim)).astype(np.float32)
    ref = BatchDecoder(MODEL, weights, ReferenceOps(MODEL, qws, batch, steps), qws, batch, steps)
    split = halves(batch, mode)
    dev = BatchDecoder(MODEL, weights, AcceleratorOps(acc, MODEL, qws, batch, steps, mode, split), qws, batch, steps,
                       split=split)
    for i in range(steps):
        want, got = ref.step(x[i]), dev.step(x[i])
        assert np.array_equal(got, want), (mode, scheme, i)
    acc.pim.reset()
    return dev


@pytest.mark.parametrize("transport", ["golden", "verilator"])
@pytest.mark.parametrize("scheme", ["int8", "int2"])
def test_batched_decode_is_bit_exact_in_every_mode(transport, scheme, seed):
    with Accelerator.open(hw(scheme), transport) as acc:
        for mode in MODES if scheme == "int8" else ("pim", "interleave"):   # npu: attention needs int8 × int8
            decode(acc, mode, scheme, seed)
        decode(acc, "pim", scheme, seed, batch=1)     # projections as bank GEMVs


def test_one_row_buffer_gives_the_same_numbers(seed):
    with Accelerator.open(hw("int8", row_buffers=1), "verilator") as acc:
        decode(acc, "interleave", "int8", seed, batch=4)


def test_resident_decode_refuses_what_does_not_fit(seed):
    with Accelerator.open(hw("int8"), "golden") as acc:
        weights = random_weights(MODEL, seed, 1)
        qws = quantize_model(MODEL, weights, "int8", 32)
        with pytest.raises(LLMError, match="mode must be"):
            AcceleratorOps(acc, MODEL, qws, 2, 4, "gpu", halves(2, "pim"))
    with Accelerator.open(hw("int2"), "golden") as acc:
        with pytest.raises(LLMError, match="use mode pim or interleave"):
            AcceleratorOps(acc, MODEL, quantize_model(MODEL, weights, "int2", 32), 2, 4, "npu", halves(2, "npu"))
    with Accelerator.open(hw("int8"), "golden") as acc:
        dev = decode(acc, "pim", "int8", seed, steps=2)
        with pytest.raises(LLMError, match="all used"):
            dev.step(np.zeros((3, MODEL.dim), np.float32))
    with Accelerator.open(HwgenConfig(name="nopim", array=ArrayConfig(rows=2, cols=8)), "golden") as acc:
        with pytest.raises(LLMError, match="no PIM banks"):
            AcceleratorOps(acc, MODEL, qws, 2, 4, "pim", halves(2, "pim"))


def test_readme_batched_decode_command_prints_what_the_readme_quotes(capsys):
    """The README's PIM command, run: its quoted lines are what it prints."""
    import re
    from pathlib import Path
    from hwgen.cli import main
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    block = re.search(r"```console\n\$ hwgen run llm (examples/pim_llm.yaml [^\n]*)\n(.*?)```", readme, re.S)
    assert main(["run", "llm", *block.group(1).split()]) == 0
    out = capsys.readouterr().out
    for line in block.group(2).splitlines():
        assert line in out, line


def test_cli_batched_decode_errors_are_messages(capsys):
    """No PIM banks, or weights in a format the banks do not decode: one line, exit 1."""
    from hwgen.cli import main
    assert main(["run", "llm", "examples/small_4x4.yaml", "--batch", "2", "--transport", "golden"]) == 1
    assert "small_4x4 has no PIM banks (soc.pim)" in capsys.readouterr().err
    assert main(["run", "llm", "examples/pim_llm.yaml", "--batch", "2", "--scheme", "int4", "--transport", "golden",
                 "--prompt-len", "1", "--decode", "1"]) == 1
    assert "format int4 is not one the banks decode (soc.pim.formats: int8)" in capsys.readouterr().err


def test_batched_decode_follows_the_float_block(seed):
    """The integer recipe (static K/V made by the STORE arithmetic, rotary in lane pairs) stays
    close to the float Llama block (half-split rotary on the original weights): the layer's
    update within a few percent, as with K/V quantized per position on the host."""
    from hwgen.llm.model import DecoderBlock, KVCache
    weights = random_weights(MODEL, seed, 1)
    qws = quantize_model(MODEL, weights, "int8", 64)
    B, T = 2, 8
    x = np.random.default_rng(seed + 1).normal(size=(T, B, MODEL.dim)).astype(np.float32)
    for static in (True, False):
        dec = BatchDecoder(MODEL, weights, ReferenceOps(MODEL, qws, B, T), qws, B, T)
        assert dec.kvq[0] is not None
        if not static:
            dec.kvq = [None]
        block, caches = DecoderBlock(MODEL, weights[0]), [KVCache(MODEL) for _ in range(B)]
        for t in range(T):
            got = dec.step(x[t]) - x[t]
            want = np.stack([block.forward(x[t][b][None], caches[b])[0] for b in range(B)]) - x[t]
            assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.08, (static, t)
