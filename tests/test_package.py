"""The package works installed as a wheel, outside the source tree (DESIGN rule 6): the wheel
holds every file of hwgen/ the code reads (C++ harness, cell models, board results), and no
module reaches out of the package into the repository (bench/, examples/, docs/, tests/).
`.ci/wheel-check` installs the wheel in a fresh venv and runs the CLI; this is its fast half."""
import ast
import importlib.util
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hwgen"


def _tracked(under: str) -> list[str]:
    """Files of the working tree under ``under`` that git would commit (tracked, or new and not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", under], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel of a copy of the checkout (so no build/ or egg-info lands in the tree, and no
    ignored or stale file can slip into it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    with tarfile.open(tmp / "src.tar", "w") as tar:
        for f in _tracked("."):
            tar.add(ROOT / f, arcname=f)
    with tarfile.open(tmp / "src.tar") as tar:
        tar.extractall(src)
    # offline when this setuptools can build wheels itself; else pip fetches the build backend (cached)
    offline = importlib.util.find_spec("wheel") is not None or importlib.util.find_spec(
        "setuptools.command.bdist_wheel") is not None
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)]
    proc = subprocess.run(cmd + (["--no-build-isolation"] if offline else []), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = (tmp / "dist").glob("hwgen-*.whl")
    return zipfile.ZipFile(whl)


def test_the_wheel_holds_every_file_of_the_package(wheel):
    names = {n for n in wheel.namelist() if not n.startswith("hwgen-")}   # minus the .dist-info
    tracked = {f for f in _tracked("hwgen") if "__pycache__" not in f}
    assert tracked - names == set(), "add them to [tool.setuptools.package-data] in pyproject.toml"
    assert names - tracked == set(), "the wheel holds files that are not in the checkout"
    for data in ["hwgen/sim/csrc/harness.cpp", "hwgen/sim/csrc/lz4.h", "hwgen/fpga/models/ecp5_dp16kd.v",
                 "hwgen/fpga/data/boards.json"]:  # what the code reads besides modules
        assert data in names
    meta = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "hwgen = hwgen.cli:main" in meta


#: string constants that name repository paths on purpose: (module, constant) → why that is fine
ALLOWED = {
    ("hwgen/cli.py", "bench/results/tpe.json"): "a default output path, relative to the working directory",
    **{("hwgen/fpga/boards.py", f"examples/{n}.yaml"): "the example bench/boards.py builds for a board (a name)"
       for n in ("icebreaker_2x2", "systolic_8x8", "small_4x4")},
    ("hwgen/fpga/measured.py", "bench/results/boards.json (make boards)"): "where the package copy came from (a label)",
}
REPO_PATH = re.compile(r"(\.\./)*(bench|examples|docs|tests)/")


def _code_strings(tree: ast.AST):
    """String constants that are not docstrings nor help texts."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and \
                isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            skip.add(id(node.body[0].value))
        if isinstance(node, ast.keyword) and node.arg in ("help", "description", "epilog"):
            skip.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def test_no_module_reads_the_repository():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        # climbing out of the package from __file__ (parents[2], parent.parent, "..")
        for m in re.finditer(r"\.parents\b|\.parent\.parent\b|__file__.*['\"]\.\.['\"]", text):
            found.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
        for node in _code_strings(ast.parse(text)):
            if REPO_PATH.match(node.value) and (rel, node.value) not in ALLOWED:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not found, "library code reads files of the repository (DESIGN rule 6): " + "; ".join(found)
