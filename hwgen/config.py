"""YAML ⇄ frozen dataclasses for hwgen configs; every config check and message lives here.

A config error names the file, the line, the key path, what was wrong and what is
allowed, e.g. ``examples/bad.yaml:7: array.rows: must be an integer 1..64, got 0``.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from .numerics import Format, parse_format

__all__ = ["ConfigError", "PEConfig", "ArrayConfig", "SocConfig", "HwgenConfig", "load", "loads", "dump", "dumps",
           "DATAFLOWS", "DRAINS", "KINDS", "KIND_RULES", "OVERFLOWS", "ARITHS", "MAX_DIM", "ACC_BITS"]

#: Engine kinds (``array.kind``); :data:`KIND_RULES` says which dataflows and arithmetic each takes.
KINDS = ("systolic", "cube", "matrix2d", "adder_tree", "bit_serial")
DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")
#: how an output-stationary systolic array's finished tile leaves: ``mux`` picks a row of
#: hold registers per beat (tiles overlap from K = max(R, C)), ``shift`` moves the hold
#: registers up their columns (no row mux: ~3 LUTs per output bit fewer; tiles overlap
#: from K = 2R + C - 1, shorter ones are spaced by bubbles)
DRAINS = ("mux", "shift")
OVERFLOWS = ("wrap", "saturate")
#: PE arithmetic: ``mac`` is the baseline; the others are the bit-weight transformations.
ARITHS = ("mac", "carry_save", "compressor_tree", "sparse_serial")
#: kind -> (allowed dataflows, allowed arithmetic, uses ``depth``)
KIND_RULES = {
    "systolic": (DATAFLOWS, ("mac", "carry_save"), False),
    "cube": (("output_stationary",), ("mac", "carry_save", "compressor_tree"), True),
    "matrix2d": (("output_stationary",), ("mac", "carry_save", "compressor_tree"), True),
    "adder_tree": (("weight_stationary",), ("mac", "compressor_tree"), False),
    "bit_serial": (("output_stationary",), ("mac", "sparse_serial"), False),
}
MAX_DIM = 64
ACC_BITS = range(2, 65)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A config is invalid. ``str()`` is the full ``file:line: key: message`` text."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, key: str | None = None):
        self.file, self.line, self.key, self.reason = file, line, key, message
        where = ":".join(str(p) for p in (file, line) if p is not None)
        text = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {text}" if where else text)


class FieldError(ValueError):
    """Raised by a dataclass check; ``key`` is the offending field relative to that dataclass."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


# -- field parsers: each takes the YAML value and returns the typed value or raises ValueError

def _int_in(lo: int, hi: int):
    def parse(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an integer {lo}..{hi}, got {v!r}")
        return v
    return parse


def _choice(options):
    def parse(v):
        if v not in options:
            raise ValueError(f"must be one of {', '.join(options)}; got {v!r}")
        return v
    return parse


def _fmt(v):
    if isinstance(v, Format):
        return v
    try:
        return parse_format(v)
    except ValueError:
        raise ValueError(f"must be intN or uintN with N = 2..16 (e.g. int8, int4, uint8); got {v!r}") from None


def _name(v):
    if not isinstance(v, str) or not _NAME_RE.match(v):
        raise ValueError(f"must be an identifier (letters, digits, _; not starting with a digit), got {v!r}")
    return v


def _spec(parse, dump=lambda v: v, **kw):
    return field(metadata={"parse": parse, "dump": dump}, **kw)


def _check(obj) -> None:
    """Run each field's parser on the constructed value, so Python construction is checked too."""
    for f in fields(obj):
        parse = f.metadata.get("parse")
        if parse is not None:
            try:
                parse(getattr(obj, f.name))
            except ValueError as e:
                raise FieldError(f.name, str(e)) from None


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
      (``mac``) or one non-zero digit (``sparse_serial``) per cycle.

    ``overflow: saturate`` on a dot-product engine clamps after every addition into the
    accumulator, i.e. after each ``depth`` (or ``rows`` for ``adder_tree``) products.
    """

    rows: int = _spec(_int_in(1, MAX_DIM))
    cols: int = _spec(_int_in(1, MAX_DIM))
    kind: str = _spec(_choice(KINDS), default="systolic")
    dataflow: str = _spec(_choice(DATAFLOWS), default="output_stationary")
    depth: int = _spec(_int_in(1, MAX_DIM), default=1)
    drain: str = _spec(_choice(DRAINS), default="mux")
    pe: PEConfig = field(default_factory=PEConfig, metadata={"nested": PEConfig})

    def __post_init__(self):
        _check(self)
        flows, ariths, uses_depth = KIND_RULES[self.kind]
        if self.dataflow not in flows:
            raise FieldError("dataflow", f"kind {self.kind} takes dataflow {' or '.join(flows)}; "
                                         f"got {self.dataflow}" + ("" if len(flows) > 1 else f" (set dataflow: {flows[0]})"))
        if self.pe.arith not in ariths:
            raise FieldError("pe.arith", f"kind {self.kind} takes arith {', '.join(ariths)}; got {self.pe.arith}")
        if not uses_depth and self.depth != 1:
            raise FieldError("depth", f"applies to cube and matrix2d engines only; remove it for {self.kind}")
        if self.kind == "cube" and not self.rows == self.cols == self.depth:
            raise FieldError("depth", f"a cube is N×N×N: rows, cols and depth must be equal; got "
                                      f"{self.rows}, {self.cols}, {self.depth}")
        if self.pe.pipeline and (self.kind, self.dataflow) != ("systolic", "output_stationary"):
            raise FieldError("pe.pipeline", f"is available for output-stationary systolic arrays; got kind {self.kind}, "
                                            f"dataflow {self.dataflow} (use pipeline: 0)")
        if self.drain != "mux" and ((self.kind, self.dataflow) != ("systolic", "output_stationary")
                                    or self.pe.arith != "mac"):
            raise FieldError("drain", f"shift is available for output-stationary systolic arrays of mac PEs; got "
                                      f"kind {self.kind}, dataflow {self.dataflow}, arith {self.pe.arith} (use drain: mux)")
        if self.kind == "bit_serial" and self.pe.w.bits > 8 and self.pe.arith == "sparse_serial":
            raise FieldError("pe.w", f"sparse_serial encodes weights of up to 8 bits; got {self.pe.w}")

    @property
    def macs_per_cycle(self) -> int:
        """Peak multiply-accumulates per cycle (bit-serial: per cycle of a 1-bit weight)."""
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
        if not isinstance(self.array, ArrayConfig):
            raise FieldError("array", f"must be an ArrayConfig, got {type(self.array).__name__}")

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
        out[f.name] = f.metadata["dump"](v) if "dump" in f.metadata else _to_dict(v)
    return out


def _line(node) -> int:
    return node.start_mark.line + 1


def _build(cls, node, path: str, src: str):
    here = path or "top level"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"must be a mapping with keys {', '.join(f.name for f in fields(cls))}",
                          file=src, line=_line(node), key=here)
    allowed = {f.name: f for f in fields(cls)}
    values, key_lines = {}, {}
    for knode, vnode in node.value:
        key = knode.value
        kpath = f"{path}.{key}" if path else str(key)
        if key in values:
            raise ConfigError("duplicate key", file=src, line=_line(knode), key=kpath)
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"unknown key; {hint}allowed: {', '.join(allowed)}",
                              file=src, line=_line(knode), key=kpath)
        f = allowed[key]
        key_lines[key] = _line(knode)
        if "nested" in f.metadata:
            values[key] = _build(f.metadata["nested"], vnode, kpath, src)
        else:
            if not isinstance(vnode, yaml.ScalarNode):
                raise ConfigError("must be a single value, not a list or mapping",
                                  file=src, line=_line(vnode), key=kpath)
            raw = yaml.safe_load(yaml.serialize(vnode)) if vnode.value != "" else None
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


def loads(text: str, *, source: str = "<string>") -> HwgenConfig:
    """Parse YAML text into a validated :class:`HwgenConfig`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(e, 'problem', e)}", file=source,
                          line=mark.line + 1 if mark else None) from None
    if node is None:
        raise ConfigError("empty config; expected keys name, array", file=source, line=1)
    return _build(HwgenConfig, node, "", source)


def load(path: str | Path) -> HwgenConfig:
    """Load and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config: {e.strerror}", file=str(path)) from None
    return loads(text, source=str(path))


def dumps(cfg: HwgenConfig) -> str:
    """Serialize a config to YAML; ``loads(dumps(c)) == c``."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def dump(cfg: HwgenConfig, path: str | Path) -> None:
    Path(path).write_text(dumps(cfg))
