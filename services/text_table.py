"""Tables for the terminal: columns as wide as their widest cell, so that no two cells ever run together."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """The first column left-aligned, the others (figures) right-aligned, two spaces apart."""
    lines = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for first, *values in lines:
        print("  ".join([first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(values, widths[1:], strict=True))]))
