"""Hypothesis strategies for tests/test_config_fuzz.py: odd YAML, mutated examples, near-valid configs."""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import fields
from pathlib import Path

from hypothesis import strategies as st

from hwgen.config import (ARITHS, DATAFLOWS, DRAINS, KIND_RULES, KINDS, LUT_GROUPS, OVERFLOWS, TABLES, ArrayConfig, HwgenConfig, PEConfig,
                          SocConfig)

#: every bundled example (examples/broken/ holds one deliberately invalid file: mutated too),
#: read once: a strategy must not depend on files that may change during a run
EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("examples").glob("**/*.yaml"))
EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in EXAMPLES]
KEYS = sorted({f.name for cls in (HwgenConfig, ArrayConfig, PEConfig, SocConfig) for f in fields(cls)})

#: scalars YAML 1.1 reads in surprising ways, tags, and plain junk
ODD_SCALARS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "OFF", "true", "False", "~", "null", "Null", "NULL", "", "''", '""',
    "0x1F", "0o17", "017", "010", "08", "0b101", "1_000", "1:30", "190:20:30", "-0", "+4", "4.0", "4.", ".5",
    ".inf", "-.inf", ".nan", ".NaN", "1e400", "1.0e+400", "-1.0e-400", str(2**200), "-" + str(2**200),
    "0x" + "F" * 60, "1" * 5000, "0x" + "F" * 5000, "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-13-45",
    "!!binary aGVsbG8=", "!!binary '!!!'", "!!python/object:os.system x", "!!python/name:os.system ''",
    "!!python/object/apply:os.system ['true']", "!!str 8", "!!str yes", "!!int 8", "!!int abc", "!!int 0x1F",
    "!!float x", "!!float 4", "!!bool maybe", "!!bool yes", "!!timestamp nope", "!!timestamp 2001-12-14",
    "!!null x", "!!set {a, b}", "!!omap [a: 1]", "!!map {}", "!!seq []", "!!seq x", "!local x", "!<tag:x,1:y> 4",
    "&x 4", "*x", "*undefined", "[4]", "[]", "{}", "{a: 1}", "[[[[", "]]", "'int8'", "int8", "uint4", "int17",
    "int8\\n", '"int8\\n"', '"t\\n"', '"\\x00"', '"\\ud800"', '"\\t"', "systolic", "cube", "adder_tree",
    "matrix2d", "bit_serial", "weight_stationary", "output_stationary", "shift", "saturate", "sparse_serial",
    "'4'", "4 # comment", "4#x", "|\n  block", ">-\n  folded", "- 4", "? x", ": x", "@x", "`x", "%x", "x: y",
    "'unterminated", '"unterminated', "\t4", "4\t", "é", "×", "\u2028", "\x85", "\ufeff",
]
ODD_KEYS = ["? [a, b]", "? {a: 1}", "? - rows", "[1, 2]", "{a: 1}", "[rows]", "1", "0", "-1", "true", "no", "~",
            "null", '""', "''", "'rows '", '"rows"', "rows ", "ROWS", "<<", "!!int 4", "!!str rows", "&k rows",
            "*k", "!!python/object:x rows", "? rows", "? |\n  rows", "x" * 3000]
BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
             b"\x00", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\r", b"\r\n", b"\x1b", b"\xc2\x85"]
_VALUE_LINE = re.compile(r"^([ \t]*)([A-Za-z_]+):([ \t]*)([^#\n]*)(.*)$", re.S)


def odd_values():
    return st.one_of(st.sampled_from(ODD_SCALARS), st.integers(-2**300, 2**300).map(str),
                     st.text(max_size=10).map(json.dumps), st.sampled_from([str(i) for i in range(-2, 70)]))


def odd_keys():
    return st.one_of(st.sampled_from(KEYS), st.sampled_from(ODD_KEYS), st.text(max_size=6).map(json.dumps))


def _kv(indent: str, key: str, value: str) -> str:
    if key.startswith("? "):  # an explicit (complex) key
        return f"{indent}{key}\n{indent}: {value}\n"
    return f"{indent}{key}: {value}\n"


def _laughs(levels: int, width: int) -> str:
    """A "billion laughs" alias bomb as one flow list: width ** levels strings if anything expanded it."""
    out = ["&l0 [lol" + ", lol" * (width - 1) + "]"]
    for i in range(1, levels):
        out.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "[" + ", ".join(out) + "]"


# -- mutations of a list of lines (each ends in "\n"); ``draw`` draws their parameters

def _pick(draw, lines):
    return draw(st.integers(0, max(len(lines) - 1, 0)))


def m_set_value(draw, lines):
    idx = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln) and _VALUE_LINE.match(ln).group(4).strip()]
    if not idx:
        return lines
    i = draw(st.sampled_from(idx))
    ind, key, sp, _, rest = _VALUE_LINE.match(lines[i]).groups()
    return lines[:i] + [f"{ind}{key}:{sp or ' '}{draw(odd_values())}{rest if rest.endswith(chr(10)) else chr(10)}"] \
        + lines[i + 1:]


def m_insert_key(draw, lines):
    i = draw(st.integers(0, len(lines)))
    indent = draw(st.sampled_from(["", "  ", "    ", "   ", "\t", "      "]))
    return lines[:i] + [_kv(indent, draw(odd_keys()), draw(odd_values()))] + lines[i:]


def m_replace_key(draw, lines):
    idx = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln)]
    if not idx:
        return lines
    i = draw(st.sampled_from(idx))
    ind, _, _, value, rest = _VALUE_LINE.match(lines[i]).groups()
    return lines[:i] + [_kv(ind, draw(odd_keys()), value + rest.rstrip("\n"))] + lines[i + 1:]


def m_duplicate(draw, lines):
    i = _pick(draw, lines)
    return lines[:i + 1] + lines[i:]


def m_delete(draw, lines):
    i = _pick(draw, lines)
    return lines[:i] + lines[i + 1:]


def m_swap(draw, lines):
    if len(lines) < 2:
        return lines
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def m_reindent(draw, lines):
    i = _pick(draw, lines)
    if not lines:
        return lines
    body = lines[i].lstrip(" \t")
    return lines[:i] + [draw(st.sampled_from(["", " ", "\t", "  \t", " " * 3, " " * 8])) + body] + lines[i + 1:]


def m_bom(draw, lines):
    return ["\ufeff"] + lines


def m_documents(draw, lines):
    extra = draw(st.sampled_from(["---\n", "...\n", "--- \n", "---\n" + "".join(lines), "--- !!map\n", "%YAML 1.1\n"]))
    return [extra] + lines if draw(st.booleans()) else lines + [extra]


def m_deep(draw, lines):
    n = draw(st.sampled_from([10, 31, 32, 33, 64, 100, 1000, 10_000])) + draw(st.integers(0, 3))
    opener = draw(st.sampled_from(["[", "{a: ", "- ", "[{a: "]))
    closer = {"[": "]", "{a: ": "}", "- ": "", "[{a: ": "}]"}[opener] * draw(st.sampled_from([0, n]))
    if opener == "- ":
        value = "\n" + "".join("  " * (k + 1) + "-\n" for k in range(min(n, 300)))
    else:
        value = opener * n + "1" + closer
    return m_set_value_to(draw, lines, value)


def m_set_value_to(draw, lines, value):
    idx = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln)]
    if not idx:
        return lines + [f"x: {value}\n"]
    i = draw(st.sampled_from(idx))
    ind, key, _, _, _ = _VALUE_LINE.match(lines[i]).groups()
    return lines[:i] + [f"{ind}{key}: {value}\n"] + lines[i + 1:]


def m_bomb(draw, lines):
    levels, width = draw(st.integers(1, 12)), draw(st.integers(2, 10))
    lines = m_set_value_to(draw, lines, _laughs(levels, width))
    if draw(st.booleans()):  # and expand it once more somewhere after the anchors
        idx = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln) and "&l0" not in ln]
        if idx:
            i = draw(st.sampled_from(idx))
            ind, key, *_ = _VALUE_LINE.match(lines[i]).groups()
            lines = lines[:i] + [f"{ind}{key}: *l{levels - 1}\n"] + lines[i + 1:]
    return lines


def m_long(draw, lines):
    n = draw(st.sampled_from([300, 1000, 5000, 100_000]))
    text = draw(st.sampled_from(["a", "x_", "int", "é", " "])) * n
    if draw(st.booleans()):
        return m_set_value_to(draw, lines, text if text.strip() else json.dumps(text))
    return lines + [_kv("", text.strip() or "k", "1")]


def m_truncate(draw, lines):
    text = "".join(lines)
    return [text[:draw(st.integers(0, len(text)))]]


def m_insert_chars(draw, lines):
    text = "".join(lines)
    at = draw(st.integers(0, len(text)))
    junk = draw(st.one_of(st.text(min_size=1, max_size=4),
                          st.sampled_from([":", "- ", "? ", "&", "*", "!", "|", ">", "'", '"', "#", "%", "@", "`",
                                           "\t", "\x00", "\x85", "\u2028", "\ufeff", "\r", "{", "}", "[", "]", ","])))
    return [text[:at] + junk + text[at:]]


def m_alias(draw, lines):
    idx = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln)]
    if len(idx) < 2:
        return lines
    i, j = draw(st.sampled_from(idx)), draw(st.sampled_from(idx))
    out = list(lines)
    ind, key, sp, value, rest = _VALUE_LINE.match(out[i]).groups()
    out[i] = f"{ind}{key}: &x {value}{rest if rest.endswith(chr(10)) else chr(10)}"
    ind, key, *_ = _VALUE_LINE.match(out[j]).groups()
    use = draw(st.sampled_from(["*x", "*x ", "{<<: *x}", "[*x, *x]", "&x 4"]))
    out[j] = f"{ind}{key}: {use}\n"
    return out


def m_line_ends(draw, lines):
    end = draw(st.sampled_from(["\r\n", "\r", "\x85", "\u2028"]))
    return [ln.replace("\n", end) for ln in lines]


def m_empty(draw, lines):
    return [draw(st.sampled_from(["", "# nothing\n", "\n\n", "---\n", "...\n", "--- ~\n", "~\n", "[]\n", "{}\n"]))]


MUTATIONS = [m_set_value] * 6 + [m_insert_key, m_insert_key, m_replace_key, m_duplicate,
             m_delete, m_swap, m_reindent, m_bom, m_documents, m_deep, m_bomb, m_long, m_truncate, m_insert_chars,
             m_insert_chars, m_alias, m_line_ends, m_empty]


@st.composite
def mutated_example(draw):
    """One of the examples with 1..4 mutations applied."""
    lines = draw(st.sampled_from(EXAMPLE_TEXTS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        lines = draw(st.sampled_from(MUTATIONS))(draw, lines)
    return "".join(lines)


# -- near-valid configs as Python dicts (rendered with yaml.safe_dump) ----------------------------

ODD_PY = [None, True, False, 0, -1, 2**200, -2**200, 4.0, float("nan"), float("inf"), "4", "", "x" * 300, b"int8",
          datetime.date(2001, 12, 14), [1], {"a": 1}, "int8\n", "Int8", " int8", "yes", "systolic "]
FORMATS = [f"{u}int{n}" for u in ("", "u") for n in range(2, 17)]


def _chance(draw, percent: int) -> bool:
    """True with about ``percent`` % (Hypothesis favours small integers: they mean False here)."""
    return draw(st.integers(0, 99)) >= 100 - percent


def _value_(draw, valid, odd=10):
    if _chance(draw, odd):
        return draw(st.one_of(st.sampled_from(ODD_PY), st.integers(-100, 2**21)))
    return draw(valid)


@st.composite
def structured_configs(draw, odd: int = 10):
    """A config as a dict: mostly valid and coherent values, some keys missing, odd or unknown.

    ``odd``: percent of values drawn from odd ones (None, True, 2**200, "x" * 300 …); half
    the configs are coherent (dataflow, arith, depth, drain, pipeline, acc fit the kind).
    """
    coherent = draw(st.booleans())

    def _value(draw, valid):
        return _value_(draw, valid, odd)
    kind = _value(draw, st.sampled_from(KINDS))
    flows, ariths, _ = KIND_RULES.get(kind, (DATAFLOWS, ARITHS, True)) if isinstance(kind, str) else \
        (DATAFLOWS, ARITHS, True)
    dims = st.one_of(st.sampled_from([1, 2, 3, 4, 8, 16]), st.integers(0, 65))
    rows = _value(draw, dims)
    pe = {
        "a": lambda: _value(draw, st.sampled_from(FORMATS)),
        "w": lambda: _value(draw, st.sampled_from(FORMATS)),
        "acc": lambda: _value(draw, st.just(32) if coherent else st.integers(1, 66)),
        "overflow": lambda: _value(draw, st.sampled_from(OVERFLOWS[:1] if coherent else OVERFLOWS)),
        "arith": lambda: _value(draw, st.sampled_from(ariths if coherent else ARITHS)),
        "pipeline": lambda: _value(draw, st.just(0) if coherent else st.integers(-1, 4)),
    }
    array = {
        "rows": lambda: rows,
        "cols": lambda: _value(draw, st.just(rows) if coherent and kind == "cube" else dims),
        "kind": lambda: kind,
        "dataflow": lambda: _value(draw, st.sampled_from(flows if coherent else DATAFLOWS)),
        "depth": lambda: _value(draw, st.just(rows) if coherent and kind == "cube" else
                                st.sampled_from(LUT_GROUPS) if coherent and kind == "lut" else
                                st.just(1) if coherent and kind not in ("cube", "matrix2d") else dims),
        "table": lambda: _value(draw, st.sampled_from(TABLES)),
        "drain": lambda: _value(draw, st.just("mux") if coherent else st.sampled_from(DRAINS)),
        "pe": lambda: _section(draw, pe, 50, odd=odd),
    }
    soc = {k: (lambda k=k: _value(draw, st.sampled_from([16, 64, 1024, 2048, 1 << 20]) if k.endswith("words")
                                  else st.integers(0, 1 << 21)))
           for k in ("a_words", "w_words", "acc_words", "scale_words")}
    soc["out"] = lambda: _value(draw, st.sampled_from(FORMATS))
    soc["clock_hz"] = lambda: _value(draw, st.sampled_from([1_000_000, 24_000_000, 50_000_000, 1_000_000_000]))
    soc["baud"] = lambda: _value(draw, st.sampled_from([1200, 115_200, 1_000_000, 12_000_000]))
    top = {"name": lambda: _value(draw, st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,70}", fullmatch=True)),
           "array": lambda: _section(draw, array, 50, required=("rows", "cols"), odd=odd),
           "soc": lambda: _section(draw, soc, 30, odd=odd)}
    return _section(draw, top, 80, required=("name", "array"), odd=odd)


def _section(draw, makers, keep, required=(), odd=10):
    """Some of ``makers``' keys (``keep`` percent; ``required`` ones nearly always), rarely an unknown one."""
    out = {}
    for key, make in makers.items():
        if (not _chance(draw, 2)) if key in required else _chance(draw, keep):
            out[key] = make()
    if _chance(draw, odd // 3):
        out[draw(st.sampled_from(KEYS + ["colls", "Rows", "extra"]))] = draw(st.sampled_from(ODD_PY[:8]))
    return out
