"""Text meant as one line: a tab is kept (it breaks no line and drives no terminal), as clients send it: an email
ticket's subject as the Subject header unfolds (RFC 5322 folds a long header with CRLF and a tab), a reason or a
description pasted from a spreadsheet row."""

from __future__ import annotations

from datetime import timedelta

from services.common.errors import Violations
from services.points import ledger
from services.tickets import domain as tickets


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
