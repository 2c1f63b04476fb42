import json

import pytest

from hwgen.config import dumps, loads
from hwgen.generate import GenerateError, emit_verilog, generate

OS = loads("name: gen_os\narray: {rows: 2, cols: 3}\n")
WS = loads("name: gen_ws\narray: {rows: 3, cols: 2, dataflow: weight_stationary, pe: {w: int4}}\n")


@pytest.mark.parametrize("cfg", [OS, WS], ids=["os", "ws"])
def test_same_config_same_bytes(cfg):
    a, ports = emit_verilog(cfg)
    b, _ = emit_verilog(loads(dumps(cfg)))
    assert a == b
    assert f"module {cfg.name}(" in a
    names = {p["name"]: p for p in ports}
    assert names["out__payload"]["width"] == cfg.array.cols * cfg.array.pe.acc
    assert names["a__payload"]["width"] == cfg.array.rows * cfg.array.pe.a.bits + 1


def test_generate_writes_manifest_and_is_idempotent(tmp_path):
    g = generate(WS, tmp_path)
    assert g.written and g.verilog.name == "gen_ws.v"
    man = json.loads(g.manifest.read_text())
    assert man["config"]["array"]["dataflow"] == "weight_stationary"
    assert man["config"]["array"]["pe"]["w"] == "int4"
    assert man["files"]["gen_ws.v"] == g.verilog_sha256
    assert {p["name"] for p in man["ports"]} >= {"clk", "rst", "w__payload", "a__payload", "c__payload", "out__payload"}
    assert man["latency"]["a_to_out"] == 3 + 2 + 1
    before = g.verilog.stat().st_mtime_ns
    again = generate(WS, tmp_path)
    assert not again.written and g.verilog.stat().st_mtime_ns == before


def test_generate_never_overwrites_a_foreign_file(tmp_path):
    mine = tmp_path / "gen_os.v"
    mine.write_text("// my hand-written RTL\n")
    with pytest.raises(GenerateError, match=r"gen_os.v exists and was not written by hwgen.*--force"):
        generate(OS, tmp_path)
    assert mine.read_text() == "// my hand-written RTL\n"
    generate(OS, tmp_path, force=True)
    assert "module gen_os(" in mine.read_text()


def test_generate_refuses_edited_output_and_foreign_manifest(tmp_path):
    g = generate(OS, tmp_path)
    g.verilog.write_text(g.verilog.read_text() + "// edited\n")
    with pytest.raises(GenerateError, match="or was edited since"):
        generate(OS, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text('{"mine": true}')
    with pytest.raises(GenerateError, match="manifest.json exists and was not written by hwgen"):
        generate(OS, other)


@pytest.mark.parametrize("rows, cols", [(64, 1), (1, 64)])
def test_largest_dimension_generates(rows, cols):
    cfg = loads(f"name: edge\narray: {{rows: {rows}, cols: {cols}}}\n")
    text, ports = emit_verilog(cfg)
    widths = {p["name"]: p["width"] for p in ports}
    assert widths["a__payload"] == rows * 8 + 1 and widths["out__payload"] == cols * 32
    assert text.count("module ") == rows * cols + 2  # top, fabric, one module per PE


def test_accelerator_top_and_protocol_in_manifest(tmp_path):
    """The accelerator top is generated beside the engine; the manifest carries the protocol
    and register map from the same definitions the driver uses."""
    import json

    from hwgen.config import loads
    from hwgen.soc.layout import Geometry
    from hwgen.soc.protocol import BASE_REGS, VERSION, Reg
    cfg = loads("name: gen_top\narray: {rows: 2, cols: 2}\nsoc: {a_words: 32, w_words: 32, acc_words: 32}\n")
    g = generate(cfg, tmp_path)
    man = json.loads(g.manifest.read_text())
    assert (tmp_path / "gen_top_top.v").exists() and "gen_top_top.v" in man["files"]
    acc = man["accelerator"]
    assert acc["protocol"]["version"] == VERSION
    assert acc["protocol"]["registers"] == {r.name.lower(): int(r) for r in BASE_REGS}
    assert acc["info"] == Geometry(cfg).info().hex() and acc["memories"]["A"]["words"] == 32
    ws = loads("name: gen_at\narray: {rows: 2, cols: 2, kind: adder_tree, dataflow: weight_stationary}\n")
    g2 = generate(ws, tmp_path / "ws")  # weight-stationary engines get the WS sequencer
    assert json.loads(g2.manifest.read_text())["accelerator"]["memories"]["W"]["word_bits"] == 2 * 8
    assert (tmp_path / "ws" / "gen_at_top.v").exists()


def test_pim_banks_in_manifest(tmp_path):
    """An accelerator with PIM banks: the GEMV command, the three PIM memories and four more
    counters in its manifest; without banks none of them (the protocol of docs/protocol.md)."""
    import json

    from hwgen.config import loads
    from hwgen.soc.protocol import Cmd, Reg
    cfg = loads("name: gen_pim\narray: {rows: 2, cols: 8}\nsoc: {a_words: 32, w_words: 32, acc_words: 32,"
                " pim: {banks: 2, rows: 64, formats: [int8, int4]}}\n")
    acc = json.loads(generate(cfg, tmp_path).manifest.read_text())["accelerator"]
    assert acc["protocol"]["commands"]["GEMV"] == Cmd.GEMV and "gemv_payload" in acc["protocol"]
    assert acc["protocol"]["registers"] == {r.name.lower(): int(r) for r in Reg}
    assert acc["memories"]["PIM"] == {"id": 4, "words": 128, "word_bits": 64, "word_bytes": 8}
    assert acc["memories"]["PIM_VEC"]["words"] == 3 * 64 and acc["memories"]["PIM_OUT"]["word_bits"] == 8 * 32
    plain = loads("name: gen_nopim\narray: {rows: 2, cols: 8}\nsoc: {a_words: 32, w_words: 32, acc_words: 32}\n")
    acc = json.loads(generate(plain, tmp_path / "plain").manifest.read_text())["accelerator"]
    assert "GEMV" not in acc["protocol"]["commands"] and "PIM" not in acc["memories"]
