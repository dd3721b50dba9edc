"""Text for the terminal: tables whose columns are as wide as their widest cell, so that no two cells ever run
together, and stored text shown as the characters it holds."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.text_fields import NOT_IN_A_LINE


def printable(text: str) -> str:
    """`text` with each control character written as its escape (\\n, \\x1b): text stored before the services
    refused them (services/common/text_fields.py) cannot forge a line or an escape sequence when printed."""
    return NOT_IN_A_LINE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def print_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """The first column left-aligned, the others (figures) right-aligned, two spaces apart."""
    lines = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for first, *values in lines:
        print("  ".join([first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(values, widths[1:], strict=True))]))
