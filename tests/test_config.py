import dataclasses
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
     "x.yaml:4: array.colls: unknown key; did you mean 'cols'? allowed: rows, cols, kind, dataflow, depth, drain, pe"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  dataflow: ws\n",
     "x.yaml:5: array.dataflow: must be one of output_stationary, weight_stationary, input_stationary; "
     "got 'ws'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  kind: torus\n",
     "x.yaml:5: array.kind: must be one of systolic, cube, matrix2d, adder_tree, bit_serial; got 'torus'"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  kind: cube\n",
     "x.yaml:5: array.depth: a cube is N×N×N: rows, cols and depth must be equal; got 2, 2, 1"),
    ("name: t\narray:\n  rows: 2\n  cols: 2\n  depth: 2\n",
     "x.yaml:5: array.depth: applies to cube and matrix2d engines only; remove it for systolic"),
    ("name: t\narray:\n  rows: 4\n  cols: 2\n  kind: adder_tree\n",
     "x.yaml:5: array.dataflow: kind adder_tree takes dataflow weight_stationary; got output_stationary "
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
    ("name: t\narray: [1, 2]\n", "x.yaml:2: array: must be a mapping with keys rows, cols, kind, dataflow, depth, drain, pe"),
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
