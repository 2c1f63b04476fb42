"""YAML ⇄ frozen dataclasses for hwgen configs; every config check and message lives here (the
per-field parsers in :mod:`hwgen.config_fields`).

A config error names the file, the line, the key path, what was wrong and what is
allowed, e.g. ``examples/bad.yaml:7: array.rows: must be an integer 1..64, got 0``.
"""
from __future__ import annotations

import codecs
import dataclasses
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from .config_fields import (MAX_NAME, FieldError, _check, _choice, _clip, _fmt, _int_in, _name,  # noqa: F401
                            _show, _spec)
from .numerics import Format, parse_format

__all__ = ["ConfigError", "PEConfig", "ArrayConfig", "SocConfig", "PimConfig", "PIM_FORMATS", "HwgenConfig", "load", "loads", "dump", "dumps",
           "DATAFLOWS", "DRAINS", "KINDS", "KIND_RULES", "TABLES", "LUT_GROUPS", "DEQUANTS", "GROUP_LOG2_MAX", "OVERFLOWS", "ARITHS", "MAX_DIM", "ACC_BITS", "MAX_NAME",
           "MAX_NESTING"]

#: Engine kinds (``array.kind``); :data:`KIND_RULES` says which dataflows and arithmetic each takes.
KINDS = ("systolic", "cube", "matrix2d", "adder_tree", "bit_serial", "lut")
DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")
#: how an output-stationary systolic array's finished tile leaves: ``mux`` picks a row of
#: hold registers per beat (tiles overlap from K = max(R, C)), ``shift`` moves the hold
#: registers up their columns (no row mux: ~3 LUTs per output bit fewer; tiles overlap
#: from K = 2R + C - 1, shorter ones are spaced by bubbles)
DRAINS = ("mux", "shift")
OVERFLOWS = ("wrap", "saturate")
#: PE arithmetic: ``mac`` is the baseline; the others are the bit-weight transformations.
ARITHS = ("mac", "carry_save", "compressor_tree", "sparse_serial")
#: kind -> (allowed dataflows, the first the default; allowed arithmetic; uses ``depth``)
KIND_RULES = {
    "systolic": (DATAFLOWS, ("mac", "carry_save"), False),
    "cube": (("output_stationary",), ("mac", "carry_save", "compressor_tree"), True),
    "matrix2d": (("output_stationary",), ("mac", "carry_save", "compressor_tree"), True),
    "adder_tree": (("weight_stationary",), ("mac", "compressor_tree"), False),
    "bit_serial": (("output_stationary",), ("mac", "sparse_serial"), False),
    "lut": (("output_stationary",), ("mac",), True),
}
#: a LUT engine's table: ``symmetric`` stores half of it (T[~p] = −T[p]), ``full`` all 2^g entries
TABLES = ("symmetric", "full")
#: a LUT engine's activation group (``depth``: g activations index one table) and its default
LUT_GROUPS = range(2, 7)
LUT_GROUP_DEFAULT = 4
#: a LUT engine's dequantization: ``group`` rescales each group's partial sums in hardware by
#: a 16-bit fixed-point scale and adds its zero point (one RUN per group-quantized layer)
DEQUANTS = ("none", "group")
#: a group-quantized RUN's largest group: 2**7 = 128 beats of g activations
GROUP_LOG2_MAX = 7
#: a LUT engine's widest weight (bit-planes stored per weight)
LUT_WEIGHT_BITS = range(2, 9)
MAX_DIM = 64
ACC_BITS = range(2, 65)
#: deepest nesting of YAML mappings and lists read; a config needs 3 (``array.pe.acc``). A
#: bound keeps the reader's recursion and its quadratic scan of open brackets short
MAX_NESTING = 32
_KEY_RE = re.compile(r"[A-Za-z0-9_<>-]+")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break


class ConfigError(ValueError):
    """A config is invalid. ``str()`` is the full ``file:line: key: message`` text.

    ``file`` is the source (a path, or the ``source`` given to :func:`loads`); ``line`` is the
    1-based line of the offending key or value, of the first byte that is not UTF-8 or of the
    first character YAML does not allow. It is None only when the file cannot be read at all.
    ``key`` is the dotted key path (``array.pe.acc``, ``top level``) when one is known.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, key: str | None = None):
        self.file, self.line, self.key, self.reason = file, line, key, message
        where = ":".join(str(p) for p in (file, line) if p is not None)
        text = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {text}" if where else text)


@dataclass(frozen=True)
class PEConfig:
    """One processing element: operand formats and the accumulator.

    ``overflow: saturate`` clamps after *every* addition into the accumulator (each
    MAC step, in increasing k order); ``wrap`` keeps the low ``acc`` bits.

    ``arith`` selects how the PE adds (docs/config.md maps them to the paper's OPT1-OPT4):
    ``mac`` multiplies then adds with a carry-propagate adder each step; ``carry_save`` (OPT1,
    "compressed accumulative") compresses the partial products together with the accumulator
    kept in carry-save form, and resolves it with one carry-propagate addition only when a
    result leaves the array; ``compressor_tree`` (OPT2) compresses the radix-4 Booth partial
    products of a whole dot product by bit weight in one tree with one final adder;
    ``sparse_serial`` (OPT3/OPT4C) spends one cycle per non-zero canonical-signed-digit of
    the weight, the digit sequence shared by a column of PEs.
    """

    a: Format = _spec(_fmt, str, default=Format(8))
    w: Format = _spec(_fmt, str, default=Format(8))
    acc: int = _spec(_int_in(ACC_BITS.start, ACC_BITS.stop - 1), default=32)
    overflow: str = _spec(_choice(OVERFLOWS), default="wrap")
    arith: str = _spec(_choice(ARITHS), default="mac")
    #: 1: register each product before it is accumulated; 2: register the operands too
    #: (a DSP's input and output registers: on ECP5 builds one registered MULT18X18D per
    #: PE); 3: and the product once more, beside the DSP. For Fmax; output-stationary
    #: systolic ``mac`` PEs only, ``pipeline`` more cycles of latency per tile
    pipeline: int = _spec(_int_in(0, 3), default=0)

    def __post_init__(self):
        _check(self)
        if self.pipeline and self.arith != "mac":
            raise FieldError("pipeline", f"registers a MAC's product; arith {self.arith} has no separate product "
                                         "(use pipeline: 0)")
        if self.arith != "mac" and self.overflow != "wrap":
            raise FieldError("arith", f"{self.arith} adds the products in its own order and form, so it "
                                      f"supports overflow: wrap only (got overflow: {self.overflow})")
        if self.acc < self.product_bits:
            raise FieldError("acc", f"must be at least the product width {self.product_bits} "
                                    f"({self.a} × {self.w}) up to {ACC_BITS.stop - 1}, got {self.acc}")

    @property
    def product_bits(self) -> int:
        """Width of a signed product a·w (one more when both operands are unsigned)."""
        return self.a.bits + self.w.bits + (0 if (self.a.signed or self.w.signed) else 1)


@dataclass(frozen=True)
class ArrayConfig:
    """The tensor engine. What ``rows``, ``cols`` and ``depth`` mean depends on ``kind``:

    * ``systolic``: a ``rows`` × ``cols`` grid of MAC PEs (one MAC each per cycle);
    * ``cube``: ``rows`` = ``cols`` = ``depth`` = N, an N×N output tile, each output
      reducing N products per cycle (N³ MACs per cycle, the paper's 3D-Cube);
    * ``matrix2d``: a ``rows`` × ``cols`` output tile, each output with its own
      ``depth``-wide dot-product unit;
    * ``adder_tree``: ``rows`` = K products reduced per cycle by each of ``cols`` = N
      weight-stationary columns;
    * ``bit_serial``: a ``rows`` × ``cols`` output tile whose PEs take the weight one bit
      (``mac``) or one non-zero digit (``sparse_serial``) per cycle;
    * ``lut``: a ``rows`` (M, few) × ``cols`` (N, many) output tile of table lookups: each
      row's ``depth`` = g activations make a table of their signed sums, which every column
      indexes with g weight bits, one bit-plane per cycle (``pe.w`` is the widest weight;
      ``table`` is ``symmetric`` (half the table) or ``full``).

    ``overflow: saturate`` on a dot-product engine clamps after every addition into the
    accumulator, i.e. after each ``depth`` (or ``rows`` for ``adder_tree``) products.

    ``dataflow`` and ``depth`` left out (None) take the only value the kind allows or its
    default: ``dataflow`` the kind's first in :data:`KIND_RULES` (``weight_stationary`` for
    ``adder_tree``, ``output_stationary`` otherwise), ``depth`` = ``rows`` for a cube and 1
    otherwise. They are filled in at construction, so an omitted value and the same value
    written out give equal configs. ``dataclasses.replace`` keeps the filled-in values:
    ``replace(cube, rows=8, cols=8)`` is refused (depth is still 4); pass ``depth=None``.
    """

    rows: int = _spec(_int_in(1, MAX_DIM))
    cols: int = _spec(_int_in(1, MAX_DIM))
    kind: str = _spec(_choice(KINDS), default="systolic")
    dataflow: str | None = _spec(_choice(DATAFLOWS), default=None, implied=True)
    depth: int | None = _spec(_int_in(1, MAX_DIM), default=None, implied=True)
    drain: str = _spec(_choice(DRAINS), default="mux")
    #: LUT engines only (``symmetric`` when left out; absent from other kinds' YAML)
    table: str | None = _spec(_choice(TABLES), default=None, implied=True)
    #: LUT engines only (``none`` when left out)
    dequant: str | None = _spec(_choice(DEQUANTS), default=None, implied=True)
    pe: PEConfig = field(default_factory=PEConfig, metadata={"nested": PEConfig})

    def __post_init__(self):
        _check(self)
        flows, ariths, uses_depth = KIND_RULES[self.kind]
        if self.dataflow is None:
            object.__setattr__(self, "dataflow", flows[0])
        if self.depth is None:
            object.__setattr__(self, "depth", {"cube": self.rows, "lut": LUT_GROUP_DEFAULT}.get(self.kind, 1))
        if self.kind == "lut":
            self._check_lut()
        else:
            for key in ("table", "dequant"):
                if getattr(self, key) is not None:
                    raise FieldError(key, f"applies to lut engines only; remove it for {self.kind}")
        if self.dataflow not in flows:
            raise FieldError("dataflow", f"kind {self.kind} takes dataflow {' or '.join(flows)}; "
                                         f"got {self.dataflow}" + ("" if len(flows) > 1 else f" (set dataflow: {flows[0]})"))
        if self.pe.arith not in ariths:
            raise FieldError("pe.arith", f"kind {self.kind} takes arith {', '.join(ariths)}; got {self.pe.arith}")
        if not uses_depth and self.depth != 1:
            raise FieldError("depth", f"applies to cube and matrix2d engines only; remove it for {self.kind}")
        if self.kind == "cube" and not self.rows == self.cols == self.depth:
            raise FieldError("depth", f"a cube is N×N×N: rows, cols and depth must be equal; got "
                                      f"{self.rows}, {self.cols}, {self.depth} (leave depth out for depth = rows)")
        if self.pe.pipeline and (self.kind, self.dataflow) != ("systolic", "output_stationary"):
            raise FieldError("pe.pipeline", f"is available for output-stationary systolic arrays; got kind {self.kind}, "
                                            f"dataflow {self.dataflow} (use pipeline: 0)")
        if self.drain != "mux" and ((self.kind, self.dataflow) != ("systolic", "output_stationary")
                                    or self.pe.arith != "mac"):
            raise FieldError("drain", f"shift is available for output-stationary systolic arrays of mac PEs; got "
                                      f"kind {self.kind}, dataflow {self.dataflow}, arith {self.pe.arith} (use drain: mux)")
        if self.kind == "bit_serial" and self.pe.w.bits > 8 and self.pe.arith == "sparse_serial":
            raise FieldError("pe.w", f"sparse_serial encodes weights of up to 8 bits; got {self.pe.w}")

    def _check_lut(self):
        if self.table is None:
            object.__setattr__(self, "table", TABLES[0])
        if self.dequant is None:
            object.__setattr__(self, "dequant", DEQUANTS[0])
        if self.depth not in LUT_GROUPS:
            raise FieldError("depth", f"is a LUT engine's activation group g (g activations index one table of "
                                      f"2^g sums): must be {LUT_GROUPS.start}..{LUT_GROUPS.stop - 1}, got {self.depth}")
        if self.pe.w.bits not in LUT_WEIGHT_BITS:
            raise FieldError("pe.w", f"is a LUT engine's widest weight ({LUT_WEIGHT_BITS.start}..{LUT_WEIGHT_BITS.stop - 1} "
                                     f"bit-planes; any int/uint/bipolar/ternary/binary format up to it runs), "
                                     f"got {self.pe.w}")
        if self.pe.overflow != "wrap":
            raise FieldError("pe.overflow", "a LUT engine adds table entries in its own order and form, so it "
                                            f"supports overflow: wrap only (got {self.pe.overflow})")
        if self.dequant == "group" and self.pe.acc < self.lut_partial_bits + 16:
            raise FieldError("pe.acc", f"dequant: group multiplies a group's partial sum ({self.lut_partial_bits} "
                                       f"bits for groups of up to {2 ** GROUP_LOG2_MAX}·{self.depth} {self.pe.a} "
                                       f"activations) by a 16-bit scale: acc must be at least "
                                       f"{self.lut_partial_bits + 16}, got {self.pe.acc}")

    @property
    def lut_partial_bits(self) -> int:
        """A LUT engine's group partial sum Σ a·w, exact over the largest group (2**GROUP_LOG2_MAX
        beats of ``depth`` activations) and weights of up to ``pe.w.bits`` bits (bipolar: < 2^b), signed."""
        return (2 ** GROUP_LOG2_MAX * self.depth * max(-self.pe.a.min, self.pe.a.max)
                * (1 << self.pe.w.bits)).bit_length() + 1

    @property
    def macs_per_cycle(self) -> int:
        """Peak multiply-accumulates per cycle (bit-serial and LUT: per cycle of a 1-bit weight)."""
        return self.rows * self.cols * self.depth

    @property
    def group(self) -> int:
        """Products summed exactly before each (saturating) accumulator addition."""
        if self.kind in ("cube", "matrix2d"):
            return self.depth
        return self.rows if self.kind == "adder_tree" else 1

    @property
    def pes(self) -> int:
        return self.rows * self.cols


#: element formats a PIM bank's GEMV unit decodes (stored packed, 8 // bits per byte lane)
PIM_FORMATS = ("int8", "uint8", "int4", "uint4", "int2", "uint2")


def _pow2_in(lo: int, hi: int):
    def parse(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi or v & (v - 1):
            raise ValueError(f"must be a power of two {lo}..{hi}, got {_show(v)}")
        return v
    return parse


def _pim_formats(v):
    items = v if isinstance(v, (list, tuple)) else None
    if not items or any(not isinstance(x, (str, Format)) or str(x) not in PIM_FORMATS for x in items) \
            or len(set(map(str, items))) != len(items):
        raise ValueError(f"must be a list of distinct formats out of {', '.join(PIM_FORMATS)}; got {_show(v)}")
    return tuple(parse_format(str(x)) for x in items)


@dataclass(frozen=True)
class PimConfig:
    """Processing-in-memory banks beside the engine (docs/pim.md): block RAM that holds
    resident weights and KV caches, each bank with a GEMV unit reading ``lanes`` elements per
    cycle. A bank word is ``lanes`` bytes; an element of a format of b bits is stored packed
    (8 / b per byte lane), so low-bit weights take b bits each and still stream ``lanes``
    elements per cycle. The broadcast vector is int8; accumulators wrap at ``acc`` bits.

    ``row_buffers: 2`` gives every bank a second port: the engine's weight stream and the
    host's writes on one, the GEMV on the other, at the same time. With 1 they share one port
    and the GEMV waits for the cycles the other side takes (NeuPIMs' blocked mode).
    """

    banks: int = _spec(_int_in(1, 64), default=4)
    rows: int = _spec(_pow2_in(16, 1 << 16), default=512)      #: words per bank
    lanes: int = _spec(_int_in(1, 64), default=8)              #: elements per cycle (bytes per word)
    formats: tuple = _spec(_pim_formats, lambda v: [str(f) for f in v], default=(Format(8),), sequence=True)
    acc: int = _spec(_int_in(16, 48), default=32)
    row_buffers: int = _spec(_int_in(1, 2), default=2)
    vec_words: int = _spec(_pow2_in(2, 1 << 12), default=64)   #: per-bank vector buffer (words of lanes int8)
    out_words: int = _spec(_pow2_in(2, 1 << 12), default=64)   #: per-bank results (words of lanes accumulators)

    def __post_init__(self):
        _check(self)

    @property
    def word_bits(self) -> int:
        return 8 * self.lanes


@dataclass(frozen=True)
class SocConfig:
    """The accelerator around the engine: on-chip memories, output stage and host link.

    Memory sizes are in words: an activation word is one ``a`` beat of the engine (R values,
    or an R×D block), a weight word one ``w`` beat, an accumulator word one output row
    (C accumulators), a scale word C per-column output scales.
    """

    a_words: int = _spec(_int_in(16, 1 << 20), default=2048)
    w_words: int = _spec(_int_in(16, 1 << 20), default=2048)
    acc_words: int = _spec(_int_in(16, 1 << 20), default=1024)
    scale_words: int = _spec(_int_in(1, 1 << 16), default=64)
    out: Format = _spec(_fmt, str, default=Format(8))
    clock_hz: int = _spec(_int_in(1_000_000, 1_000_000_000), default=50_000_000)
    baud: int = _spec(_int_in(1200, 50_000_000), default=1_000_000)
    #: PIM banks (absent: none)
    pim: PimConfig | None = field(default=None, metadata={"nested": PimConfig, "optional": True})

    def __post_init__(self):
        _check(self)
        if self.clock_hz // self.baud < 4:
            raise FieldError("baud", f"needs at least 4 clock cycles per bit: clock_hz {self.clock_hz} "
                                     f"allows baud up to {self.clock_hz // 4}, got {self.baud}")


@dataclass(frozen=True)
class HwgenConfig:
    """A whole hwgen design. YAML is only its serialization."""

    name: str = _spec(_name)
    array: ArrayConfig = field(metadata={"nested": ArrayConfig})
    soc: SocConfig = field(default_factory=SocConfig, metadata={"nested": SocConfig})

    def __post_init__(self):
        _check(self)

    def to_dict(self) -> dict:
        return _to_dict(self)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form: equal configs hash equal."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# -- YAML ⇄ dataclass --------------------------------------------------------------------------

def _to_dict(obj) -> dict:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if v is None and (f.metadata.get("implied") or f.metadata.get("optional")):  # a key that does not apply
            continue
        out[f.name] = f.metadata["dump"](v) if "dump" in f.metadata else _to_dict(v)
    return out


def _line(node) -> int:
    return node.start_mark.line + 1


def _lines(text: str) -> int:
    """Line breaks in ``text``, counted as YAML counts them (so a position's line matches a mark's)."""
    return len(_LINE_BREAK.findall(text))


def _key_text(key: str) -> str:
    """A key as a key path shows it: plain when it is a name, else quoted and clipped (``'rows '``)."""
    return key if _KEY_RE.fullmatch(key) and len(key) <= 40 else _show(key, 40)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, refusing nesting deeper than :data:`MAX_NESTING`.

    The composer recurses once per level (10,000 ``[`` would end in RecursionError) and the
    scanner's work grows with the square of the open levels; stopping at the limit bounds both.
    Aliases are kept as shared nodes, never expanded, so an alias bomb costs its text's size.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_NESTING} levels deep "
                                                              f"(a config needs 3)", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


#: YAML 1.1 integers that other readers (and people) take differently: ``010`` is octal 8,
#: ``1:30`` is 90 (base 60). Refused rather than guessed.
_AMBIGUOUS_INT = re.compile(r"[-+]?0[0-7_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+")
_TAG = "tag:yaml.org,2002:"


def _scalar(vnode, kpath: str, src: str):
    """The value of a scalar node, with PyYAML's safe types; a located ConfigError if it has none."""
    tag = vnode.tag.replace(_TAG, "!!") if vnode.tag.startswith(_TAG) else vnode.tag
    if vnode.tag == _TAG + "int" and vnode.style is None and _AMBIGUOUS_INT.fullmatch(vnode.value):
        v = yaml.constructor.SafeConstructor().construct_object(vnode)
        raise ConfigError(f"{vnode.value} is ambiguous: YAML 1.1 reads it as {_show(v)} "
                          f"({'base 60' if ':' in vnode.value else 'octal'}), other readers differently; "
                          f"write {_show(v)} if that is meant", file=src, line=_line(vnode), key=kpath)
    try:
        return yaml.constructor.SafeConstructor().construct_object(vnode, deep=True)
    except yaml.YAMLError as e:  # an unknown tag (!!python/object:…, !local), bad !!binary, !!set on a scalar
        if "could not determine a constructor" in str(e):
            raise ConfigError(f"tag {_clip(tag)} is not allowed (a config takes plain values)",
                              file=src, line=_line(vnode), key=kpath) from None
        reason = ""
    except Exception as e:
        # PyYAML's constructors raise whatever int(), float(), datetime() or indexing raise on odd
        # text: ValueError (!!int abc), IndexError (!!int ''), KeyError (!!bool maybe),
        # AttributeError (!!timestamp x) …; every one of them means "not readable as that tag"
        reason = ": too many digits" if "digits" in str(e) else ""
    raise ConfigError(f"cannot read {_show(vnode.value)} as {_clip(tag)}{reason}",
                      file=src, line=_line(vnode), key=kpath)


def _build(cls, node, path: str, src: str):
    here = path or "top level"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"must be a mapping with keys {', '.join(f.name for f in fields(cls))}",
                          file=src, line=_line(node), key=here)
    allowed = {f.name: f for f in fields(cls)}
    values, key_lines = {}, {}
    for knode, vnode in node.value:
        if not isinstance(knode, yaml.ScalarNode):  # a complex key (`? [a, b]`, `{[1, 2]: 3}`)
            what = "list" if isinstance(knode, yaml.SequenceNode) else "mapping"
            raise ConfigError(f"a key must be a name, not a {what}; allowed: {', '.join(allowed)}",
                              file=src, line=_line(knode), key=here)
        key = knode.value
        kpath = f"{path}.{_key_text(key)}" if path else _key_text(key)
        if key in values:
            raise ConfigError("duplicate key", file=src, line=_line(knode), key=kpath)
        if key not in allowed:
            close = difflib.get_close_matches(key[:40], allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"unknown key; {hint}allowed: {', '.join(allowed)}",
                              file=src, line=_line(knode), key=kpath)
        f = allowed[key]
        key_lines[key] = _line(knode)
        if "nested" in f.metadata:
            values[key] = _build(f.metadata["nested"], vnode, kpath, src)
        else:
            if f.metadata.get("sequence") and isinstance(vnode, yaml.SequenceNode):
                if any(not isinstance(item, yaml.ScalarNode) for item in vnode.value):
                    raise ConfigError("must be a list of single values", file=src, line=_line(vnode), key=kpath)
                raw = [_scalar(item, kpath, src) for item in vnode.value]
            elif not isinstance(vnode, yaml.ScalarNode):
                raise ConfigError("must be a single value, not a list or mapping" if not f.metadata.get("sequence")
                                  else "must be a list of single values", file=src, line=_line(vnode), key=kpath)
            else:
                raw = _scalar(vnode, kpath, src)
            try:
                values[key] = f.metadata["parse"](raw)
            except ValueError as e:
                raise ConfigError(str(e), file=src, line=_line(vnode), key=kpath) from None
    for f in fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in values and required:
            raise ConfigError("required key is missing", file=src, line=_line(node),
                              key=f"{path}.{f.name}" if path else f.name)
    try:
        return cls(**values)
    except FieldError as e:
        kpath = f"{path}.{e.key}" if path else e.key
        # a missing key's default broke a rule about another one: point at that one (kind)
        line = key_lines.get(e.key.split(".")[0]) or key_lines.get("kind") or _line(node)
        raise ConfigError(e.message, file=src, line=line, key=kpath) from None


def _decode(data: bytes, source: str) -> str:
    """YAML's encodings: UTF-8 (a BOM is skipped) or UTF-16 with a BOM; else the line of the first bad byte."""
    boms = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF8, "utf-8"))
    for bom, codec in boms:
        if data.startswith(bom):
            break
    else:
        bom, codec = b"", "utf-8"
    body = data[len(bom):]
    try:
        return body.decode(codec)
    except UnicodeDecodeError as e:
        line = _lines(body[:e.start].decode(codec)) + 1
        raise ConfigError(f"not {codec[:6].upper()} text: cannot decode byte 0x{body[e.start]:02x} (byte "
                          f"{len(bom) + e.start + 1} of the file); save the file as UTF-8",
                          file=source, line=line) from None


def loads(text: str | bytes, *, source: str = "<string>") -> HwgenConfig:
    """Parse YAML text (or UTF-8/UTF-16 bytes) into a validated :class:`HwgenConfig`."""
    if isinstance(text, (bytes, bytearray)):
        text = _decode(bytes(text), source)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (control characters, surrogates)
        char = e.character if isinstance(e.character, int) else ord(e.character or "\0")
        raise ConfigError(f"not valid YAML: character U+{char:04X} is not allowed (YAML takes printable "
                          "characters, tabs and line breaks)",
                          file=source, line=_lines(text[:e.position]) + 1) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        what = ", ".join(str(p) for p in (getattr(e, "context", None), getattr(e, "problem", None)) if p) or str(e)
        raise ConfigError(f"not valid YAML: {what}", file=source, line=mark.line + 1 if mark else 1) from None
    if node is None:
        raise ConfigError("empty config; expected keys name, array", file=source, line=1)
    return _build(HwgenConfig, node, "", source)


def load(path: str | Path) -> HwgenConfig:
    """Load and validate a YAML config file (UTF-8, or UTF-16 with a byte-order mark)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config: {e.strerror}", file=str(path)) from None
    return loads(_decode(data, str(path)), source=str(path))


def dumps(cfg: HwgenConfig) -> str:
    """Serialize a config to YAML; ``loads(dumps(c)) == c``."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def dump(cfg: HwgenConfig, path: str | Path) -> None:
    Path(path).write_text(dumps(cfg))
