"""A measured row kept under a digest of what it depends on, for the benchmark scripts that
measure outside a sweep (lut_compare, lut_parts, lut_up5k). ``hwgen bench tpe`` and sweeps keep
their points in :mod:`hwgen.dse` records instead."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["row_key", "kept_row", "keep_row"]


def row_key(*settings) -> str:
    """The key a measured row is kept under: a digest of everything it depends on (the
    generated Verilog's text and the measurement's parameters; JSON-serializable)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def kept_row(saved: Path, key: str) -> dict | None:
    """The row kept in ``saved`` (a ``row.json``) under ``key``; None when there is none,
    it is unreadable (an interrupted write) or it was measured on other RTL or settings."""
    try:
        kept = json.loads(saved.read_text())
    except (OSError, ValueError):
        return None
    return kept["row"] if isinstance(kept, dict) and kept.get("key") == key else None


def keep_row(saved: Path, key: str, row: dict) -> None:
    """Keep ``row`` in ``saved`` under ``key`` (see :func:`kept_row`)."""
    from hwgen.dse.point import write_atomic
    write_atomic(saved, {"key": key, "row": row})
