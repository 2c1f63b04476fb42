"""`hwgen run llm`: the board projection comes from package data or --boards (never from the
source tree), bad files are errors without a traceback, and the KV cache is as long as the run."""
import json
import re

from hwgen.cli import main
from hwgen.llm.model import LlamaConfig, random_weights
from hwgen.llm.weights import save_llama

CFG = LlamaConfig(dim=16, n_heads=2, n_kv_heads=1, hidden=24, max_seq=8)
HW = ("name: llm_4x4\narray: {rows: 4, cols: 4, pe: {a: int8, w: int8, acc: 32}}\n"
      "soc: {a_words: 512, w_words: 512, acc_words: 256}\n")


def _run(tmp_path, *extra):
    (tmp_path / "hw.yaml").write_text(HW)
    if not (tmp_path / "m.safetensors").exists():
        save_llama(tmp_path / "m.safetensors", CFG, random_weights(CFG, 1))
    return main(["run", "llm", str(tmp_path / "hw.yaml"), "--weights", str(tmp_path / "m.safetensors"),
                 "--prompt-len", "2", "--decode", "1", "--transport", "golden", "--seed", "1", *extra])


def test_projection_from_the_packaged_builds(tmp_path, capsys):
    assert _run(tmp_path) == 0
    # the 4x4 engine was built for the iCEBreaker: its clock, from hwgen/fpga/data/boards.json
    assert re.search(r"projection on icebreaker \(iCE40UP5K, systolic 4x4 int8xint8; its clock, timing met, "
                     r"Fmax [\d.]+ MHz\) at 40.5 MHz", capsys.readouterr().out)


def test_projection_from_a_boards_file(tmp_path, capsys):
    rep = {"board": "myboard", "device": "LFE5U-85F", "array": "systolic 4x4 int8xint8", "timing_met": True,
           "clock": {"requested_mhz": 33.0, "achieved_mhz": 35.2}}
    (tmp_path / "report.json").write_text(json.dumps(rep))
    assert _run(tmp_path, "--boards", str(tmp_path / "report.json")) == 0
    assert "projection on myboard (LFE5U-85F, systolic 4x4 int8xint8; its clock, timing met, Fmax 35.2 MHz) at 33 MHz" \
        in capsys.readouterr().out
    (tmp_path / "empty.json").write_text('{"results": []}')
    assert _run(tmp_path, "--boards", str(tmp_path / "empty.json")) == 0
    assert "projection on soc.clock_hz of llm_4x4 (no timing-met board build of it measured)" in capsys.readouterr().out


def test_a_bad_boards_file_is_an_error(tmp_path, capsys):
    (tmp_path / "b.json").write_text("[]")
    assert _run(tmp_path, "--boards", str(tmp_path / "b.json")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'b.json'}: expected a board results file") and "Traceback" not in err


def test_a_long_context_model_does_not_allocate_its_whole_context(tmp_path, capsys):
    save_llama(tmp_path / "m.safetensors", CFG, random_weights(CFG, 1))
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": 2**40}))
    assert _run(tmp_path) == 0   # KV caches of 2**40 positions would be a MemoryError
