"""Page tokens name their position and the listing that gave them; anything else is refused naming page_token."""

from __future__ import annotations

import base64
import json

import pytest

from services.common import page_tokens
from services.common.errors import InvalidArgument
from services.points.application import _before_seq


def b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


def refusal(token: str, listing: list[str], size: int = 1) -> str:
    with pytest.raises(InvalidArgument) as caught:
        page_tokens.read(token, listing, size)
    (violation,) = caught.value.violations
    assert violation.field == "page_token"
    return violation.description


def test_a_token_reads_back_its_position_in_its_own_listing() -> None:
    token = page_tokens.issue(["member-1", "True"], ["2025-01-02T03:04:05+00:00", "id"])
    assert page_tokens.read(token, ["member-1", "True"], size=2) == ["2025-01-02T03:04:05+00:00", "id"]


def test_no_token_is_the_first_page() -> None:
    assert page_tokens.read("", ["member-1"], size=1) is None


def test_a_token_of_another_listing_is_refused_not_read_part_way() -> None:
    token = page_tokens.issue(["member-1"], ["42"])
    assert refusal(token, ["member-2"]) == page_tokens.ANOTHER_LISTING
    assert refusal(page_tokens.issue(["p", "2025-01-01"], ["a", "b"]), ["p", "2025-01-02"], 2) == (
        page_tokens.ANOTHER_LISTING
    )


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        "abc",  # bad padding
        b64(b"seq:12"),  # the shape tokens had before they named their listing
        b64(b"\xff\xfe"),
        b64(b"12"),
        b64(b'{"a": 1, "b": 2}'),
        b64(b'[["member-1"], ["1", "2"]]'),  # another position's size
        b64(b'[["member-1"], [1]]'),
        b64(b'["member-1", ["1"]]'),
    ],
)
def test_what_no_listing_issued_is_not_a_token(token: str) -> None:
    assert refusal(token, ["member-1"]) == page_tokens.NOT_A_TOKEN


@pytest.mark.parametrize("seq", [0, 1, 42, 2**63 - 1])
def test_a_ledger_token_names_the_entries_before_its_position(seq: int) -> None:
    assert _before_seq("member-1", page_tokens.issue(["member-1"], [str(seq)])) == seq


@pytest.mark.parametrize("position", ["", "-1", "12x", "\u00b2", str(2**63)])  # "²" is isdigit() but not int()
def test_a_ledger_token_whose_position_is_no_entry_is_refused(position: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _before_seq("member-1", page_tokens.issue(["member-1"], [position]))
    assert [v.field for v in caught.value.violations] == ["page_token"]


def forged(issued_for: object, position: object) -> str:
    return b64(json.dumps([issued_for, position]).encode())


@pytest.mark.parametrize(
    "position",
    [
        pytest.param(["1" * 5000], id="5000 digits"),  # int() refuses more than 4300 digits with ValueError
        pytest.param(["MILE\x00"], id="NUL"),  # PostgreSQL text cannot hold it
        pytest.param(["\ud800"], id="lone surrogate"),  # no UTF-8 for PostgreSQL either
        pytest.param(["x" * (page_tokens.MAX_PART + 1)], id="longer than any part issued"),
    ],
)
def test_a_position_no_listing_could_have_issued_is_not_a_token(position: list[str]) -> None:
    assert refusal(forged(["member-1"], position), ["member-1"]) == page_tokens.NOT_A_TOKEN


def test_listing_arguments_no_listing_could_have_issued_are_not_a_token() -> None:
    assert refusal(forged(["member-1\x00"], ["1"]), ["member-1"]) == page_tokens.NOT_A_TOKEN
    assert refusal(forged([1], ["1"]), ["member-1"]) == page_tokens.NOT_A_TOKEN


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_or_huge_tokens_are_not_tokens(depth: int) -> None:
    """json.loads raises RecursionError, no ValueError, for deep nesting."""
    assert refusal(b64(b"[" * depth + b"]" * depth), ["member-1"]) == page_tokens.NOT_A_TOKEN


def test_the_longest_parts_listings_issue_read_back() -> None:
    """A 64-character member or partner id beside the longest positions (a time with its offset, a UUID)."""
    listing = ["m" * 64, "False"]
    position = ["2025-01-02T03:04:05.123456+00:00", "0" * 36]
    assert page_tokens.read(page_tokens.issue(listing, position), listing, size=2) == position


def test_a_ledger_token_of_5000_digits_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        _before_seq("member-1", forged(["member-1"], ["1" * 5000]))
    assert caught.value.violations[0].description == page_tokens.NOT_A_TOKEN
