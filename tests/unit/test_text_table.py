"""Terminal tables: every cell fits its column, however wide a figure gets."""

from __future__ import annotations

import pytest

from services.text_table import print_table, printable, write_csv


def test_wide_figures_never_run_into_the_next_column(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("status", "records", "amount"), [("invalid", 95, "2000000000390.0002"), ("accepted", 1, "5")])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "status    records              amount",
        "invalid        95  2000000000390.0002",
        "accepted        1                   5",
    ]


def test_stored_text_is_printed_as_the_characters_it_holds() -> None:
    forged = "goodwill\n  2026-12-07 09:00:00  +99999  fake line\x1b[31mRED\x1b[0m\u2028"
    assert printable(forged) == "goodwill\\n  2026-12-07 09:00:00  +99999  fake line\\x1b[31mRED\\x1b[0m\\u2028"
    kept = "Zoë Søren-Ōtake, \u0645\u06cc\u200c\u0634\u0648\u0645"  # a Persian word joined by a ZWNJ: kept
    assert printable(kept) == kept


def test_a_stored_direction_override_is_printed_as_its_escape() -> None:
    assert printable("goodwill \u202e05") == "goodwill \\u202e05"


def test_a_partners_text_in_a_table_cannot_break_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("status", "unit"), [("invalid", "MI\nLE"), ("invalid", "\tTAB")])
    assert capsys.readouterr().out.splitlines() == ["status     unit", "invalid  MI\\nLE", "invalid   \\tTAB"]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(
        ("status", "unit", "points"), [("invalid", "=1+2", "-5"), ("invalid", "@SUM(A1)", "12.50"), ("ok", "+x", "+1")]
    )
    assert capsys.readouterr().out.splitlines() == [
        "status,unit,points",
        "invalid,'=1+2,-5",
        "invalid,'@SUM(A1),12.50",
        "ok,'+x,+1",
    ]


def test_a_partners_control_characters_in_csv_are_escaped_as_in_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Printed to a terminal, an ESC would colour or erase what follows, a CR overwrite the row it is in."""
    write_csv(("unit", "points"), [("MI\nLE", 1), ("\x1b[2K\rEVIL", 2), ("\tTAB", 3), ("\r=1+2", 4)])
    assert capsys.readouterr().out.splitlines() == [
        "unit,points",
        "MI\\nLE,1",
        "\\x1b[2K\\rEVIL,2",
        "\\tTAB,3",
        "\\r=1+2,4",
    ]
