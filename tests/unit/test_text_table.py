"""Terminal tables: every cell fits its column, however wide a figure gets."""

from __future__ import annotations

import pytest

from services.text_table import print_table


def test_wide_figures_never_run_into_the_next_column(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("status", "records", "amount"), [("invalid", 95, "2000000000390.0002"), ("accepted", 1, "5")])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "status    records              amount",
        "invalid        95  2000000000390.0002",
        "accepted        1                   5",
    ]
