"""Text for the terminal: tables whose columns are as wide as their widest cell, so that no two cells ever run
together, and stored text shown as the characters it holds; and CSV a spreadsheet opens as data."""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Sequence

from services.common.text_fields import NOT_IN_A_LINE


def printable(text: str) -> str:
    """`text` with each control character written as its escape (\\n, \\x1b): text stored before the services
    refused them (services/common/text_fields.py) cannot forge a line or an escape sequence when printed."""
    return NOT_IN_A_LINE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def cell_text(cell: object) -> str:
    """A cell as printed, in a table or CSV: control characters escaped as printable() does, and a tab too, which,
    kept in a line of text, would push the cells after it out of their columns."""
    return printable(str(cell)).replace("\t", "\\t")


def print_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """The first column left-aligned, the others (figures) right-aligned, two spaces apart."""
    lines = [[cell_text(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for first, *values in lines:
        print("  ".join([first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(values, widths[1:], strict=True))]))


# A cell a spreadsheet would evaluate (OWASP's CSV injection): text a partner sent, such as a unit, must stay text.
# A leading tab or CR, which some spreadsheets also skip to a formula, is escaped by cell_text() before this test.
_FORMULA = re.compile(r"[=+\-@]")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def write_csv(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """Rows as CSV on stdout, each cell as cell_text() writes it (a partner's ESC or CR would reach the terminal
    raw); a text cell that begins like a formula is written behind a quote mark."""
    writer = csv.writer(sys.stdout)
    writer.writerow(header)
    writer.writerows([[_as_data(cell) for cell in row] for row in rows])


def _as_data(cell: object) -> str:
    text = cell_text(cell)
    if _FORMULA.match(text) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
