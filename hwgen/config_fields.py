"""The field checks every config dataclass runs (:mod:`hwgen.config`): one parser per field
type, taking a YAML (or Python) value and returning the typed value or raising ``ValueError``
with the allowed values; :func:`_check` runs them at construction."""
from __future__ import annotations

import re
from dataclasses import field, fields

from .numerics import Format, parse_format

__all__ = ["FieldError", "MAX_NAME"]

#: longest ``name``: it names the Verilog module and its files (``<name>_top.v``, Verilator's
#: ``V<name>__…`` sources), which must stay under the file systems' 255-byte names
MAX_NAME = 64
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMAT_RE = re.compile(r"u?int[0-9]+")


class FieldError(ValueError):
    """Raised by a dataclass check; ``key`` is the offending field relative to that dataclass."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def _clip(text: str, limit: int = 60) -> str:
    """``text`` for a message: a value can be a megabyte string."""
    return text if len(text) <= limit else f"{text[:limit - 20]}…{text[-12:]} ({len(text)} characters)"


def _show(v, limit: int = 60) -> str:
    """``repr(v)`` for a message, clipped; a 5,000-digit number is shown by its size."""
    try:
        return _clip(repr(v), limit)
    except ValueError:  # int → str refuses more than sys.get_int_max_str_digits() digits
        return f"a {v.bit_length()}-bit integer"


# -- field parsers: each takes the YAML value and returns the typed value or raises ValueError

def _int_in(lo: int, hi: int):
    def parse(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an integer {lo}..{hi}, got {_show(v)}")
        return v
    return parse


def _choice(options):
    def parse(v):
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"must be one of {', '.join(options)}; got {_show(v)}")
        return v
    return parse


def _fmt(v):
    if isinstance(v, Format):
        return v
    try:
        if not isinstance(v, str) or not _FORMAT_RE.fullmatch(v):  # parse_format's `$` passes "int8\n"
            raise ValueError
        return parse_format(v)
    except ValueError:
        raise ValueError(f"must be intN or uintN with N = 2..16 (e.g. int8, int4, uint8); got {_show(v)}") from None


def _name(v):
    if not isinstance(v, str) or not _NAME_RE.fullmatch(v):
        raise ValueError(f"must be an identifier (letters, digits, _; not starting with a digit), got {_show(v)}")
    if len(v) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters (it names the Verilog module and its files), "
                         f"got {len(v)}")
    return v


def _spec(parse, dump=lambda v: v, *, implied: bool = False, sequence: bool = False, **kw):
    """A field read by ``parse``, written by ``dump``; ``implied``: None means "derive it" (Python only);
    ``sequence``: the YAML value is a list of scalars."""
    return field(metadata={"parse": parse, "dump": dump, "implied": implied, "sequence": sequence}, **kw)


def _check(obj) -> None:
    """Run each field's parser on the constructed value, so Python construction is checked too.

    The parsed value replaces the given one (``a="int4"`` becomes ``Format(4)``), so a config
    built from Python equals the one loaded from YAML. Nested configs must be of their class.
    """
    for f in fields(obj):
        value = getattr(obj, f.name)
        nested = f.metadata.get("nested")
        if nested is not None and value is None and f.metadata.get("optional"):
            continue
        if nested is not None and not isinstance(value, nested):
            article = "an" if nested.__name__[0] in "AEIOU" else "a"
            raise FieldError(f.name, f"must be {article} {nested.__name__}, got {type(value).__name__}")
        parse = f.metadata.get("parse")
        if parse is None or (value is None and f.metadata.get("implied")):
            continue
        try:
            object.__setattr__(obj, f.name, parse(value))
        except ValueError as e:
            raise FieldError(f.name, str(e)) from None
