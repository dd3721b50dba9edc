"""Text meant as one line: a tab is kept (it breaks no line and drives no terminal), as clients send it: an email
ticket's subject as the Subject header unfolds (RFC 5322 folds a long header with CRLF and a tab), a reason or a
description pasted from a spreadsheet row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.common.errors import InvalidArgument, Violations
from services.common.text_fields import SINGLE_LINE, check_line
from services.points import ledger
from services.tickets import domain as tickets
from services.tickets import goodwill


def test_an_email_ticket_whose_unfolded_subject_keeps_a_tab_is_accepted() -> None:
    # "Subject: My points from the March order\r\n\tare missing" as the mail gateway unfolds it.
    subject = "My points from the March order\tare missing"
    ticket = tickets.NewTicket("alice", "account", "email", subject, "details", "en", None)
    violations = Violations()
    tickets.validate_new_ticket(ticket, violations)
    assert not violations.about("subject"), violations


def test_an_adjustment_reason_pasted_from_a_spreadsheet_row_is_accepted() -> None:
    ledger.validate_adjustment(250, "adj-2026-0042", "Order 1234\tmissing points\tcase 42", "agent-7")


def test_a_hold_description_pasted_from_a_spreadsheet_row_is_accepted() -> None:
    ledger.validate_hold(100, "hold-2026-0042", timedelta(minutes=10), "Reward 17\tcinema voucher")


def test_a_reason_that_overrides_the_direction_of_what_follows_it_is_refused() -> None:
    # Shown right to left from U+202E on: "goodwill 05" reads as "goodwill 50" on the agent's screen.
    for opener in ("\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"):
        violations = Violations()
        check_line(violations, "reason", f"goodwill {opener}50", max_length=200)
        with pytest.raises(InvalidArgument, match=re.escape(SINGLE_LINE)):
            violations.raise_if_any()


def test_a_name_in_hebrew_with_a_right_to_left_mark_is_accepted() -> None:
    violations = Violations()
    check_line(violations, "name", "\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\u200f (David)", max_length=200)
    assert not violations.about("name")


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff", " \u2060\u200d ", "\u00a0", "\u200e"])
def test_a_required_line_of_only_invisible_characters_is_blank(blank: str) -> None:
    # A zero-width space is a format character (Cf), not whitespace: str.strip() keeps it.
    violations = Violations()
    check_line(violations, "name", blank, max_length=200, required=True)
    assert violations.about("name")


def test_a_name_joined_by_a_zero_width_joiner_is_kept() -> None:
    violations = Violations()
    check_line(violations, "name", "\U0001f469\u200d\U0001f4bb Ada", max_length=200, required=True)
    assert not violations.about("name")


def test_goodwill_whose_reason_is_only_a_zero_width_space_has_no_reason() -> None:
    violations = Violations()
    goodwill.validate(goodwill.GoodwillRequest(points=50, reason="\u200b"), violations)
    assert violations.about("goodwill_reason")
