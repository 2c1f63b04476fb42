"""The README's examples run and its quoted outputs are what the code prints."""
import re
import subprocess
import sys
from pathlib import Path

from hwgen.cli import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_python_example_runs(monkeypatch, tmp_path):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2].endswith("True") and lines[-1] == "[[32258]]"


def test_readme_driver_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True int64 True 6"


def test_readme_quoted_config_error_is_real(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    quoted = re.search(r"\$ hwgen config check (examples/broken/\S+)\n(error: .*)\n", README)
    assert main(["config", "check", quoted.group(1)]) == 2
    assert capsys.readouterr().err.strip() == quoted.group(2)


def test_readme_quoted_config_check_is_real(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    quoted = re.search(r"\$ hwgen config check (examples/systolic_8x8.yaml)\n(.*)\n", README)
    assert main(["config", "check", quoted.group(1)]) == 0
    assert capsys.readouterr().out.strip() == quoted.group(2)


def test_readme_lut_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["int2", "True", "ternary", "True"]


def test_readme_llm_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True (6, 64)"


def test_readme_fault_injection_example_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[4]
    assert "FaultyTransport" in code
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True True"
