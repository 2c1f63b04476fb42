"""Plain-text tables for the CLI and the benchmarks."""
from __future__ import annotations

__all__ = ["table"]


def table(headers: list[str], rows: list[list], *, align: str | None = None) -> str:
    """Format rows as a fixed-width table; numbers right-aligned unless ``align`` says otherwise."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))

    def line(vals):
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w) for v, w, a in zip(vals, widths, align)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.1%}" if 0 <= v <= 1.5 else f"{v:.1f}"
    return str(v)
