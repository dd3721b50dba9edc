"""Points domain rules: purchase validation, earning and member ids. Pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common import bounds
from services.common.activity_time import MAX_FUTURE_SKEW
from services.common.errors import InvalidArgument
from services.common.member_ids import require_member_id
from services.points import domain
from services.points.domain import Enrollment, LineItem, Money, Purchase

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def purchase(**changes: object) -> Purchase:
    base = Purchase(
        purchase_id="order-1",
        member_id="m-1",
        amount=Money(4299, "USD"),
        line_items=(LineItem("sku-1", "shoes", 1, Money(4299, "USD")),),
        occurred_at=NOW - timedelta(minutes=5),
        channel="web",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def violated_fields(bad: Purchase) -> set[str]:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_purchase(bad, NOW)
    return {v.field for v in caught.value.violations}


def test_valid_purchase_is_returned_unchanged() -> None:
    good = purchase()
    assert domain.validate_purchase(good, NOW) is good


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purchase_id": ""}, "purchase_id"),
        ({"purchase_id": "has space"}, "purchase_id"),
        ({"purchase_id": "x" * 129}, "purchase_id"),
        ({"purchase_id": "order-1\n"}, "purchase_id"),
        ({"member_id": ""}, "member_id"),
        ({"member_id": "bad/id"}, "member_id"),
        ({"amount": Money(-1, "USD"), "line_items": ()}, "amount.amount_minor"),
        ({"amount": Money(bounds.MAX_AMOUNT_MINOR + 1, "USD"), "line_items": ()}, "amount.amount_minor"),
        ({"amount": Money(100, "ZZZ"), "line_items": ()}, "amount.currency_code"),
        ({"amount": Money(100, "usd"), "line_items": ()}, "amount.currency_code"),
        ({"amount": Money(100, ""), "line_items": ()}, "amount.currency_code"),
        ({"amount": Money(0, ""), "line_items": ()}, "amount"),  # absent altogether: "is required"
        ({"occurred_at": datetime.min}, "occurred_at"),
        ({"occurred_at": datetime(1999, 12, 31, tzinfo=UTC)}, "occurred_at"),
        ({"occurred_at": NOW + MAX_FUTURE_SKEW + timedelta(seconds=1)}, "occurred_at"),
        ({"channel": "c" * 257}, "channel"),
    ],
)
def test_each_wrong_field_is_named(changes: dict[str, object], field: str) -> None:
    assert violated_fields(purchase(**changes)) == {field}


@pytest.mark.parametrize(
    ("currency", "said"),
    [("usd", "'usd' must be upper case, as ISO 4217 writes it: 'USD'"), ("XAU", "'XAU' is an ISO 4217 code without")],
)
def test_a_currency_code_refused_says_why(currency: str, said: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_purchase(purchase(amount=Money(100, currency), line_items=()), NOW)
    assert caught.value.violations[0].description.startswith(said)


def test_occurred_at_within_the_allowed_skew_is_accepted() -> None:
    domain.validate_purchase(purchase(occurred_at=NOW + MAX_FUTURE_SKEW), NOW)


RANGE_SAID = "must be from 2000-01-01T00:00:00Z to 24 hours ahead of the service's clock"


@pytest.mark.parametrize(
    ("occurred_at", "said"),
    [
        (datetime.min, "is required"),  # what the API makes of a request without one
        (datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), RANGE_SAID),
        (NOW + MAX_FUTURE_SKEW + timedelta(microseconds=1), RANGE_SAID),  # either side says the range
    ],
)
def test_an_activity_time_refused_says_what_is_accepted_and_calls_only_a_missing_one_required(
    occurred_at: datetime, said: str
) -> None:
    refund = domain.Refund("refund-1", "order-1", Money(100, "USD"), occurred_at)
    for validate in (
        lambda: domain.validate_purchase(purchase(occurred_at=occurred_at), NOW),
        lambda: domain.validate_refund(refund, NOW),
    ):
        with pytest.raises(InvalidArgument) as caught:
            validate()
        assert caught.value.message == f"occurred_at: {said}"


def test_the_first_instant_of_2000_is_an_activity_time_accepted() -> None:
    first = datetime(2000, 1, 1, tzinfo=UTC)
    domain.validate_purchase(purchase(occurred_at=first), NOW)
    domain.validate_refund(domain.Refund("refund-1", "order-1", Money(100, "USD"), first), NOW)


def test_amount_at_the_maximum_is_accepted() -> None:
    domain.validate_purchase(purchase(amount=Money(bounds.MAX_AMOUNT_MINOR, "USD"), line_items=()), NOW)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (LineItem("", "shoes", 1, Money(1, "USD")), "line_items[1].sku"),
        (LineItem("s" * 257, "shoes", 1, Money(1, "USD")), "line_items[1].sku"),
        (LineItem("sku", "c" * 257, 1, Money(1, "USD")), "line_items[1].category"),
        (LineItem("sku", "shoes", 0, Money(1, "USD")), "line_items[1].quantity"),
        (LineItem("sku", "shoes", 1_000_001, Money(1, "USD")), "line_items[1].quantity"),
        (LineItem("sku", "shoes", 1, Money(-5, "USD")), "line_items[1].unit_price.amount_minor"),
        (LineItem("sku", "shoes", 1, Money(5, "EUR")), "line_items[1].unit_price.currency_code"),
        (LineItem("sku", "shoes", 1, Money(5, "eur")), "line_items[1].unit_price.currency_code"),
    ],
)
def test_line_item_violations_name_the_index_and_field(item: LineItem, field: str) -> None:
    good = LineItem("sku-0", "shoes", 2, Money(100, "USD"))
    assert violated_fields(purchase(line_items=(good, item))) == {field}


def test_too_many_line_items_is_one_violation() -> None:
    items = tuple(LineItem(f"s{i}", "", 1, Money(1, "USD")) for i in range(domain.MAX_LINE_ITEMS + 1))
    assert violated_fields(purchase(line_items=items)) == {"line_items"}


def test_all_violations_are_reported_at_once() -> None:
    bad = purchase(
        purchase_id="",
        member_id="",
        amount=Money(-1, "usd"),
        line_items=(LineItem("", "", 0, Money(1, "USD")),),
        occurred_at=datetime.min,
    )
    assert violated_fields(bad) == {
        "purchase_id",
        "member_id",
        "amount.amount_minor",
        "amount.currency_code",
        "line_items[0].sku",
        "line_items[0].quantity",
        "line_items[0].unit_price.currency_code",
        "occurred_at",
    }


def test_invalid_argument_message_names_fields() -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_purchase(purchase(member_id=""), NOW)
    assert caught.value.message == "member_id: is required"


@pytest.mark.parametrize(
    ("amount", "rate", "points"),
    [
        (Money(4299, "USD"), 2, 84),  # 42.99 USD: 42 whole units, rounded down
        (Money(99, "USD"), 2, 0),  # below one whole unit
        (Money(0, "USD"), 2, 0),
        (Money(4299, "USD"), 0, 0),
        (Money(1500, "JPY"), 2, 3000),  # exponent 0: every yen is a whole unit
        (Money(12_345, "BHD"), 3, 36),  # exponent 3: 12.345 BHD
        (Money(999, "BHD"), 10, 0),
        (Money(bounds.MAX_POINTS, "JPY"), 1, bounds.MAX_POINTS),  # the most one entry holds
    ],
)
def test_earning_is_per_whole_currency_unit_rounded_down(amount: Money, rate: int, points: int) -> None:
    earning = domain.earn_for_purchase(purchase(amount=amount, line_items=()), rate)
    assert earning.points == points


def test_earning_description_explains_the_rule() -> None:
    earning = domain.earn_for_purchase(purchase(), 2)
    assert earning.description == "2 points per USD on 42 whole units of purchase order-1"


@pytest.mark.parametrize(("minor", "rate"), [(bounds.MAX_POINTS + 1, 1), (bounds.MAX_AMOUNT_MINOR, 2**62)])
def test_earning_more_than_one_entry_holds_is_refused(minor: int, rate: int) -> None:
    # Bounded per entry, far below bigint: no run of credits overflows a member's totals.
    with pytest.raises(InvalidArgument) as caught:
        domain.earn_for_purchase(purchase(amount=Money(minor, "JPY")), rate)
    assert [v.field for v in caught.value.violations] == ["amount.amount_minor"]


@pytest.mark.parametrize("member_id", ["a", "M-1", "user.name_2:x", "A" * 64, "0-9._:-"])
def test_member_id_accepts_the_allowed_alphabet(member_id: str) -> None:
    assert require_member_id(member_id) == member_id


@pytest.mark.parametrize(
    ("member_id", "description"),
    [
        ("", "is required"),
        ("A" * 65, "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
        ("has space", "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
        ("ümlaut", "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
        ("a/b", "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
        ("x\n", "must be 1-64 letters, digits, '.', '_', ':' or '-'"),
    ],
)
def test_member_id_rejects_others(member_id: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        require_member_id(member_id, field="subject")
    assert [(v.field, v.description) for v in caught.value.violations] == [("subject", description)]


def test_enrollment_validation_names_each_field() -> None:
    bad = Enrollment(member_id="", email="no-at-sign", given_name="g" * 257, family_name="f" * 257)
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_enrollment(bad)
    assert {v.field for v in caught.value.violations} == {"member_id", "email", "given_name", "family_name"}


def test_enrollment_with_optional_fields_empty_is_valid() -> None:
    good = Enrollment(member_id="m-2", email="", given_name="", family_name="")
    assert domain.validate_enrollment(good) is good


@pytest.mark.parametrize(
    ("birth_date", "referrer", "field"),
    [
        ("1990-02-30", "", "birth_date"),
        ("19900101", "", "birth_date"),
        ("\uff11\uff19\uff19\uff10-01-01", "", "birth_date"),  # full-width digits
        ("1899-12-31", "", "birth_date"),
        ("2999-01-01", "", "birth_date"),
        ("", "bad id", "referrer_member_id"),
        ("", "m-1", "referrer_member_id"),
    ],
)
def test_a_wrong_birth_date_or_referrer_is_refused_naming_it(birth_date: str, referrer: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.validate_enrollment(Enrollment("m-1", "", "", "", birth_date=birth_date, referrer_member_id=referrer))
    assert [v.field for v in refused.value.violations] == [field]


def test_a_birth_date_out_of_range_is_refused_saying_whose_today_bounds_it() -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.validate_enrollment(Enrollment("m-1", "", "", "", birth_date="1899-12-31"))
    assert refused.value.message == "birth_date: must be between 1900-01-01 and today (in UTC)"


def test_a_valid_birth_date_is_read_as_a_date() -> None:
    enrollment = domain.validate_enrollment(Enrollment("m-1", "", "", "", birth_date="2000-02-29"))
    assert enrollment.birth_day == date(2000, 2, 29)
