"""`loyalty balance`'s first line: what the member holds, and what it owes and how that debt ends."""

from __future__ import annotations

from loyalty.points.v1 import points_pb2 as pb

from services.client import balance_line

OWING = pb.GetBalanceResponse(member_id="bob", balance=0, lifetime_earned=600, points_owed=600)


def test_an_open_members_debt_is_repaid_from_what_it_earns_next() -> None:
    assert balance_line(OWING, closed=False) == (
        "bob: 0 points: 0 available, 0 pending, 0 held (600 earned in all);"
        " 600 owed, repaid from the next points earned"
    )


def test_a_closed_members_debt_is_never_repaid_but_left_for_finance_to_write_off() -> None:
    assert balance_line(OWING, closed=True) == (
        "bob (closed): 0 points: 0 available, 0 pending, 0 held (600 earned in all);"
        " 600 owed (closed: never repaid, for finance to write off)"
    )


def test_no_debt_says_nothing_owed() -> None:
    assert balance_line(pb.GetBalanceResponse(member_id="bob", balance=5, available=5), closed=True) == (
        "bob (closed): 5 points: 5 available, 0 pending, 0 held (0 earned in all)"
    )
