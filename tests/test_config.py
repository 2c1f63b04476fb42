import dataclasses
import time
from pathlib import Path

import pytest

from hwgen.config import ArrayConfig, ConfigError, HwgenConfig, PEConfig, dumps, load, loads
from hwgen.config import FieldError
from hwgen.numerics import Format

EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.yaml"))

GOOD = """\
name: t
array:
  rows: 4
  cols: 2
"""


def err(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        loads(text, source="x.yaml")
    return str(e.value)


def test_defaults():
    cfg = loads(GOOD)
    assert cfg.array == ArrayConfig(rows=4, cols=2)
    assert cfg.array.pe == PEConfig(a=Format(8), w=Format(8), acc=32, overflow="wrap")
    assert cfg.array.dataflow == "output_stationary"


@pytest.mark.parametrize("text, message", [
    ("name: t\narray:\n  rows: 0\n  cols: 2\n", "x.yaml:3: array.rows: must be an integer 1..64, got 0"),
    ("name: t\narray:\n  rows: 65\n  cols: 2\n", "x.yaml:3: array.rows: must be an integer 1..64, got 65"),
    ("name: t\narray:\n  rows: 2\n  cols: eight\n", "x.yaml:4: array.cols: must be an integer 1..64, got 'eight'"),
    ("name: t\narray:\n  rows: 2\n  colls: 2\n",
     "x.yaml:4: array.colls: unknown key; did you mean 'cols'? allowed: rows, cols, kind, dataflow, depth, drain, table, dequant, pe"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  dataflow: ws\n",
     "x.yaml:5: array.dataflow: must be one of output_stationary, weight_stationary, input_stationary; "
     "got 'ws'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  kind: torus\n",
     "x.yaml:5: array.kind: must be one of systolic, cube, matrix2d, adder_tree, bit_serial, lut; got 'torus'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  kind: cube\n  depth: 1\n",
     "x.yaml:6: array.depth: a cube is N×N×N: rows, cols and depth must be equal; got 2, 2, 1 "
     "(leave depth out for depth = rows)"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  depth: 2\n",
     "x.yaml:5: array.depth: applies to cube and matrix2d engines only; remove it for systolic"),
    ("name: t\narray:\n  rows: 4\n  cols: 2\n  kind: adder_tree\n  dataflow: output_stationary\n",
     "x.yaml:6: array.dataflow: kind adder_tree takes dataflow weight_stationary; got output_stationary "
     "(set dataflow: weight_stationary)"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  kind: bit_serial\n  pe:\n    arith: carry_save\n",
     "x.yaml:6: array.pe.arith: kind bit_serial takes arith mac, sparse_serial; got carry_save"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  dataflow: weight_stationary\n  pe:\n    arith: sparse_serial\n",
     "x.yaml:6: array.pe.arith: kind systolic takes arith mac, carry_save; got sparse_serial"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    a: int17\n",
     "x.yaml:6: array.pe.a: must be intN or uintN with N = 2..16 (e.g. int8, int4, uint8); got 'int17'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    w: float8\n",
     "x.yaml:6: array.pe.w: must be intN or uintN with N = 2..16 (e.g. int8, int4, uint8); got 'float8'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    overflow: clamp\n",
     "x.yaml:6: array.pe.overflow: must be one of wrap, saturate; got 'clamp'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    acc: 12\n",
     "x.yaml:6: array.pe.acc: must be at least the product width 16 (int8 × int8) up to 64, got 12"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    a: uint8\n    w: uint8\n    acc: 16\n",
     "x.yaml:8: array.pe.acc: must be at least the product width 17 (uint8 × uint8) up to 64, got 16"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    overflow: saturate\n    arith: carry_save\n",
     "x.yaml:7: array.pe.arith: carry_save adds the products in its own order and form, so it supports "
     "overflow: wrap only (got overflow: saturate)"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  pe:\n    arith: booth\n",
     "x.yaml:6: array.pe.arith: must be one of mac, carry_save, compressor_tree, sparse_serial; got 'booth'"),
    ("name: 3x\narray: {rows: 1, cols: 1}\n",
     "x.yaml:1: name: must be an identifier (letters, digits, _; not starting with a digit), got '3x'"),
    ("name: t\n", "x.yaml:1: array: required key is missing"),
    ("array: {rows: 2, cols: 2}\n", "x.yaml:1: name: required key is missing"),
    ("name: t\narray:\n  cols: 2\n", "x.yaml:3: array.rows: required key is missing"),
    ("name: t\narray: [1, 2]\n", "x.yaml:2: array: must be a mapping with keys rows, cols, kind, dataflow, depth, drain, table, dequant, pe"),
    ("name: t\narray:\n  rows: 2\n  rows: 3\n  cols: 2\n", "x.yaml:4: array.rows: duplicate key"),
    ("name: t\narray:\n  rows: [2\n", "x.yaml:4: not valid YAML"),
    ("", "x.yaml:1: empty config; expected keys name, array"),
])
def test_error_messages_are_pinned(text, message):
    assert err(text).startswith(message)


def test_missing_file_names_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read config"):
        load(tmp_path / "nope.yaml")


def test_python_construction_is_checked_too():
    with pytest.raises(FieldError, match=r"rows: must be an integer 1..64, got 0"):
        ArrayConfig(rows=0, cols=1)
    with pytest.raises(FieldError, match=r"acc: must be at least the product width 12"):
        PEConfig(a=Format(4), w=Format(8), acc=8)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load_and_round_trip(path):
    cfg = load(path)
    again = loads(dumps(cfg))
    assert again == cfg
    assert again.content_hash == cfg.content_hash


def test_presets_by_replace_and_hash_changes():
    base = loads(GOOD)
    ws = dataclasses.replace(base, array=dataclasses.replace(base.array, dataflow="weight_stationary"))
    assert ws.array.rows == 4 and ws.content_hash != base.content_hash
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.name = "x"


def test_product_bits():
    assert PEConfig(a=Format(8, signed=False), w=Format(8)).product_bits == 16
    assert PEConfig(a=Format(4), w=Format(2)).product_bits == 6
    assert PEConfig(a=Format(8, False), w=Format(8, False), acc=17).product_bits == 17


def test_hwgen_config_requires_an_array_config():
    with pytest.raises(FieldError, match="array: must be an ArrayConfig, got dict"):
        HwgenConfig(name="x", array={"rows": 1})


# -- implied values: a cube's depth, an adder tree's dataflow (issue 17, item 7) ----------------------
# Before: "new.yaml:3: array.depth: a cube is N×N×N: rows, cols and depth must be equal; got 4, 4, 1"
# and "new.yaml:3: array.dataflow: kind adder_tree takes dataflow weight_stationary; got
# output_stationary (set dataflow: weight_stationary)" for the configs below, without the key.

CUBE = "name: c\narray:\n  kind: cube\n  rows: 4\n  cols: 4\n"
TREE = "name: t\narray:\n  kind: adder_tree\n  rows: 16\n  cols: 4\n"


@pytest.mark.parametrize("text, key, value", [(CUBE, "depth", 4), (TREE, "dataflow", "weight_stationary")])
def test_implied_value_equals_the_written_one(text, key, value):
    omitted = loads(text)
    written = loads(text + f"  {key}: {value}\n")
    assert getattr(omitted.array, key) == value
    assert omitted == written and omitted.content_hash == written.content_hash
    assert f"  {key}: {value}\n" in dumps(omitted) and loads(dumps(omitted)) == omitted


def test_implied_values_from_python():
    assert ArrayConfig(rows=4, cols=4, kind="cube") == ArrayConfig(rows=4, cols=4, kind="cube", depth=4)
    assert ArrayConfig(rows=16, cols=4, kind="adder_tree").dataflow == "weight_stationary"
    assert ArrayConfig(rows=4, cols=4, kind="matrix2d").depth == 1
    assert ArrayConfig(rows=4, cols=4).dataflow == "output_stationary"


def test_implied_values_and_replace():
    cube = ArrayConfig(rows=4, cols=4, kind="cube")
    with pytest.raises(FieldError, match=r"^depth: a cube is N×N×N: rows, cols and depth must be equal; got 8, 8, 4 "
                                         r"\(leave depth out for depth = rows\)$"):
        dataclasses.replace(cube, rows=8, cols=8)  # depth was filled in: it stays 4
    assert dataclasses.replace(cube, rows=8, cols=8, depth=None) == ArrayConfig(rows=8, cols=8, kind="cube", depth=8)
    tree = ArrayConfig(rows=16, cols=4, kind="adder_tree")
    assert dataclasses.replace(tree, rows=8).dataflow == "weight_stationary"
    assert dataclasses.replace(tree, kind="systolic").dataflow == "weight_stationary"  # kept: systolic takes it


@pytest.mark.parametrize("text, message", [
    (CUBE + "  depth: 2\n",
     "x.yaml:6: array.depth: a cube is N×N×N: rows, cols and depth must be equal; got 4, 4, 2"),
    (TREE + "  dataflow: output_stationary\n",
     "x.yaml:6: array.dataflow: kind adder_tree takes dataflow weight_stationary; got output_stationary "
     "(set dataflow: weight_stationary)"),
    (CUBE + "  depth: ~\n", "x.yaml:6: array.depth: must be an integer 1..64, got None"),
    (TREE + "  dataflow:\n", "x.yaml:6: array.dataflow: must be one of output_stationary, weight_stationary, "
                             "input_stationary; got None"),
])
def test_implied_values_written_wrong_are_still_errors(text, message):
    assert err(text).startswith(message)


# -- bugs found by tests/test_config_fuzz.py (and while writing it): each input, its located error ----

@pytest.mark.parametrize("text, message", [
    # complex keys crashed with TypeError: unhashable type: 'list'
    ("? [a, b]\n: 1\n", "x.yaml:1: top level: a key must be a name, not a list; allowed: name, array, soc"),
    ("{[1, 2]: 3}\n", "x.yaml:1: top level: a key must be a name, not a list; allowed: name, array, soc"),
    ("name: t\narray:\n  {a: 1}: 2\n", "x.yaml:3: array: a key must be a name, not a mapping; allowed: rows, cols"),
    ("&a [*a]: 1\n", "x.yaml:1: top level: a key must be a name, not a list"),
    # characters YAML refuses had no line (ReaderError has a position, not a mark)
    ("name: t\narray:\n  rows: 4\x1b\n", "x.yaml:3: not valid YAML: character U+001B is not allowed"),
    ("\x1f", "x.yaml:1: not valid YAML: character U+001F is not allowed"),
    # 10,000 nested lists: RecursionError (and seconds of scanning before it)
    ("name: t\narray: " + "[" * 10_000, "x.yaml:2: not valid YAML: nested more than 32 levels deep (a config needs 3)"),
    ("[" * 100_000, "x.yaml:1: not valid YAML: nested more than 32 levels deep"),
    # tags PyYAML cannot construct: ConstructorError, ValueError, IndexError, KeyError, AttributeError escaped
    ("name: !!python/object:os.system x\n", "x.yaml:1: name: tag !!python/object:os.system is not allowed "
                                            "(a config takes plain values)"),
    ("name: !local x\n", "x.yaml:1: name: tag !local is not allowed"),
    ("name: t\narray:\n  rows: !!int abc\n", "x.yaml:3: array.rows: cannot read 'abc' as !!int"),
    ("name: t\narray:\n  rows: !!int ''\n", "x.yaml:3: array.rows: cannot read '' as !!int"),
    ("name: t\narray:\n  rows: !!float ''\n", "x.yaml:3: array.rows: cannot read '' as !!float"),
    ("name: t\narray:\n  rows: !!bool maybe\n", "x.yaml:3: array.rows: cannot read 'maybe' as !!bool"),
    ("name: t\narray:\n  rows: !!timestamp x\n", "x.yaml:3: array.rows: cannot read 'x' as !!timestamp"),
    ("name: !!binary a\n", "x.yaml:1: name: cannot read 'a' as !!binary"),
    # integers past Python's 4,300-digit str limit: ValueError, or its text as the message
    ("name: t\narray:\n  rows: " + "1" * 5000 + "\n", "x.yaml:3: array.rows: cannot read '1111"),
    ("name: t\narray:\n  rows: 0x" + "F" * 5000 + "\n", "x.yaml:3: array.rows: must be an integer 1..64, "
                                                        "got a 20000-bit integer"),
    # a name ending in a newline passed (`$` matches before it); a name too long for a file name
    ('name: "abc\\n"\narray: {rows: 1, cols: 1}\n', "x.yaml:1: name: must be an identifier (letters, digits, _; "
                                                    "not starting with a digit), got 'abc\\n'"),
    ("name: " + "a" * 65 + "\narray: {rows: 1, cols: 1}\n", "x.yaml:1: name: must be at most 64 characters (it "
                                                             "names the Verilog module and its files), got 65"),
    ('name: t\narray:\n  rows: 1\n  cols: 1\n  pe: {a: "int8\\n"}\n', "x.yaml:5: array.pe.a: must be intN or uintN"),
    # an empty quoted string showed as None
    ('name: ""\n', "x.yaml:1: name: must be an identifier (letters, digits, _; not starting with a digit), got ''"),
    # YAML 1.1 octal and base-60 integers are refused, not read as a number the writer did not mean
    ("name: t\narray:\n  rows: 010\n", "x.yaml:3: array.rows: 010 is ambiguous: YAML 1.1 reads it as 8 (octal), "
                                       "other readers differently; write 8 if that is meant"),
    ("name: t\narray:\n  rows: 1:04\n", "x.yaml:3: array.rows: 1:04 is ambiguous: YAML 1.1 reads it as 64 (base 60)"),
    # the reason for a second document was cut to "but found another document"
    ("name: t\n---\nname: u\n", "x.yaml:2: not valid YAML: expected a single document in the stream, but found "
                                "another document"),
    # a key that is only odd by its spaces shows quoted
    ("name: t\narray:\n  'rows ': 1\n", "x.yaml:3: array.'rows ': unknown key; did you mean 'rows'?"),
])
def test_fuzz_regressions(text, message):
    assert err(text).startswith(message)


def test_long_values_are_clipped_in_messages():
    text = err("name: t\narray:\n  rows: 4\n  cols: 4\n  kind: " + "x" * 100_000 + "\n")
    assert text.startswith("x.yaml:5: array.kind: must be one of systolic, cube, matrix2d, adder_tree, bit_serial, lut; "
                           "got 'xxxx") and text.endswith("(100002 characters)") and len(text) < 200


def test_alias_bomb_is_not_expanded():
    bomb = "[&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]" + "".join(
        f", &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 12)) + "]"  # 10**12 strings expanded
    t0 = time.perf_counter()
    assert err(f"name: t\narray:\n  rows: 1\n  cols: 1\n  kind: {bomb}\n  depth: *l11\n").startswith(
        "x.yaml:5: array.kind: must be a single value, not a list or mapping")
    assert err(f"name: {bomb}\n").startswith("x.yaml:1: name: must be a single value")
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("data, message", [
    (b"name: t\narray:\n  rows: \xff\n", "bad.yaml:3: not UTF-8 text: cannot decode byte 0xff (byte 24 of the file)"),
    (b"\xef", "bad.yaml:1: not UTF-8 text: cannot decode byte 0xef (byte 1 of the file); save the file as UTF-8"),
    # with a BOM, the position was counted after it and named the wrong byte
    (b"\xef\xbb\xbf\r\xff", "bad.yaml:2: not UTF-8 text: cannot decode byte 0xff (byte 5 of the file)"),
    (b"name: caf\xe9\n", "bad.yaml:1: not UTF-8 text: cannot decode byte 0xe9 (byte 10 of the file)"),
])
def test_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path, data, message):
    # was UnicodeDecodeError (and Path.read_text() used the locale's encoding, not UTF-8)
    (tmp_path / "bad.yaml").write_bytes(data)
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "bad.yaml")
    assert str(e.value).startswith(str(tmp_path / message))
    assert e.value.file == str(tmp_path / "bad.yaml")


def test_file_encodings_yaml_allows(tmp_path):
    for data in (GOOD.encode(), b"\xef\xbb\xbf" + GOOD.encode(), GOOD.encode("utf-16"),
                 b"\xfe\xff" + GOOD.encode("utf-16-be")):
        (tmp_path / "ok.yaml").write_bytes(data)
        assert load(tmp_path / "ok.yaml") == loads(GOOD)


def test_python_construction_parses_and_checks_nested_values():
    # PEConfig(a="int4") was accepted with a str, then failed with AttributeError: 'str' object has no attribute 'bits'
    assert PEConfig(a="int4", w="uint8") == PEConfig(a=Format(4), w=Format(8, signed=False))
    with pytest.raises(FieldError, match=r"^pe: must be a PEConfig, got dict$"):
        ArrayConfig(rows=1, cols=1, pe={"acc": 32})  # was AttributeError: 'dict' object has no attribute 'arith'
    with pytest.raises(FieldError, match=r"^soc: must be a SocConfig, got dict$"):
        HwgenConfig(name="x", array=ArrayConfig(rows=1, cols=1), soc={})  # was accepted; to_dict() then failed


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_line_endings_and_encoding_do_not_change_a_config(path, tmp_path):
    text = path.read_text(encoding="utf-8")
    cfg = loads(text)
    for variant in (text.replace("\n", "\r\n"), text.replace("\n", "\r"), "\ufeff" + text):
        assert loads(variant) == cfg
    (tmp_path / "c.yaml").write_bytes(text.replace("\n", "\r\n").encode("utf-16"))
    assert load(tmp_path / "c.yaml") == cfg


def test_lines_are_counted_as_yaml_counts_them():
    assert err("name: t\r\narray:\r\n  rows: 0\r\n  cols: 2\r\n").startswith("x.yaml:3: array.rows:")
    assert err("name: t\r\narray:\r\n  rows: 4\x07\r\n").startswith("x.yaml:3: not valid YAML: character U+0007")
    assert err("name: t\u2028array: 1\x07").startswith("x.yaml:2: not valid YAML")


@pytest.mark.parametrize("line, message", [
    ("formats: int8", "soc.pim.formats: must be a list of distinct formats out of int8, uint8, int4, uint4, int2, uint2; got 'int8'"),
    ("formats: [int8, int3]", "soc.pim.formats: must be a list of distinct formats"),
    ("formats: [int8, int8]", "soc.pim.formats: must be a list of distinct formats"),
    ("formats: [[int8]]", "soc.pim.formats: must be a list of single values"),
    ("rows: 100", "soc.pim.rows: must be a power of two 16..65536, got 100"),
    ("row_buffers: 3", "soc.pim.row_buffers: must be an integer 1..2, got 3"),
    ("bank: 4", "soc.pim.bank: unknown key; did you mean 'banks'?"),
])
def test_pim_config_errors_name_file_line_and_key(line, message):
    text = f"name: t\narray: {{rows: 2, cols: 8}}\nsoc:\n  pim:\n    banks: 2\n    {line}\n"
    with pytest.raises(ConfigError) as e:
        loads(text, source="pim.yaml")
    assert str(e.value).startswith(f"pim.yaml:6: {message}")


def test_pim_config_round_trips_and_is_absent_by_default():
    text = "name: t\narray: {rows: 2, cols: 8}\nsoc: {pim: {banks: 3, formats: [int8, uint2]}}\n"
    cfg = loads(text)
    assert cfg.soc.pim.banks == 3 and [str(f) for f in cfg.soc.pim.formats] == ["int8", "uint2"]
    assert loads(dumps(cfg)) == cfg
    plain = loads("name: t\narray: {rows: 2, cols: 8}\n")
    assert plain.soc.pim is None and "pim" not in dumps(plain)
