"""Partner accrual decisions: validation naming the field, rates by date, conversion and rounding, answers. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from loyalty.points.v1 import partners_pb2 as pb

from services.points.partner_accrual import (
    Invalid,
    MemberFacts,
    Rate,
    RawRecord,
    Record,
    Status,
    convert,
    decide,
    names_differ,
    parse,
    rate_on,
)
from services.points.partner_api import raw_record
from services.points.program import Rounding

TODAY = date(2026, 11, 23)
GOOD = RawRecord("tx-1", "m-1", "", "flight", "2026-11-20", "MILE", "1250", "", False)
RATES = [
    Rate("MILE", Decimal(1), Rounding.DOWN, datetime(2026, 1, 1, tzinfo=UTC)),
    Rate("MILE", Decimal(2), Rounding.DOWN, datetime(2026, 11, 21, tzinfo=UTC)),
    Rate("USD", Decimal("10.5"), Rounding.HALF_UP, datetime(2025, 1, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"partner_transaction_id": ""}, "partner_transaction_id"),
        ({"partner_transaction_id": "x" * 129}, "partner_transaction_id"),
        ({"partner_transaction_id": "has space"}, "partner_transaction_id"),
        ({"member_id": ""}, "member_id"),
        ({"member_id": "m 1"}, "member_id"),
        ({"member_last_name": "x" * 257}, "member_last_name"),
        ({"member_last_name": "Sm\x00ith"}, "member_last_name"),
        ({"activity_type": ""}, "activity_type"),
        ({"activity_date": "20/11/2026"}, "activity_date"),
        ({"activity_date": "2026-02-30"}, "activity_date"),
        ({"activity_date": "2026-11-24"}, "activity_date"),
        ({"activity_date": "1999-12-31"}, "activity_date"),
        ({"unit": "miles"}, "unit"),
        ({"unit": ""}, "unit"),
        ({"amount": ""}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1e9"}, "amount"),
        ({"amount": "1.00001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "9999999999999"}, "amount"),
        ({"bonus_amount": "2000"}, "bonus_amount"),
        ({"bonus_amount": "abc"}, "bonus_amount"),
    ],
)
def test_a_wrong_record_names_its_field(change: dict[str, str], field: str) -> None:
    parsed = parse(replace(GOOD, **change), TODAY)
    assert isinstance(parsed, Invalid) and parsed.field == field


@pytest.mark.parametrize("field", ["partner_transaction_id", "member_id", "activity_date", "unit", "amount"])
def test_a_missing_value_is_required_and_a_wrong_one_must_be_right(field: str) -> None:
    missing = parse(replace(GOOD, **{field: ""}), TODAY)
    wrong = parse(replace(GOOD, **{field: "x" * 200}), TODAY)
    assert isinstance(missing, Invalid) and missing.reason.startswith("is required: ")
    assert isinstance(wrong, Invalid) and wrong.reason.startswith("must be ")


@pytest.mark.parametrize(
    ("unit", "amount", "bonus", "field", "reason"),
    [
        ("JPY", "0.5", "", "amount", "0.5 has more decimals than JPY allows"),
        ("USD", "1.0001", "", "amount", "1.0001 has more decimals than USD allows"),
        ("BHD", "0001.0005", "", "amount", "0001.0005 has more decimals than BHD allows"),
        ("JPY", "1000", "100.5", "bonus_amount", "100.5 has more decimals than JPY allows"),
    ],
)
def test_an_amount_finer_than_its_currency_is_invalid_as_a_purchase_is(
    unit: str, amount: str, bonus: str, field: str, reason: str
) -> None:
    parsed = parse(replace(GOOD, unit=unit, amount=amount, bonus_amount=bonus), TODAY)
    assert parsed == Invalid(field, reason)


@pytest.mark.parametrize(
    ("unit", "amount"), [("JPY", "5.0000"), ("USD", "1.10"), ("BHD", "1.001"), ("MILE", "0.0001"), ("KM", "1.0001")]
)
def test_an_amount_within_its_currencys_decimals_or_in_a_unit_of_no_currency_parses(unit: str, amount: str) -> None:
    parsed = parse(replace(GOOD, unit=unit, amount=amount), TODAY)
    assert isinstance(parsed, Record) and parsed.amount == Decimal(amount)


def test_a_good_record_parses() -> None:
    parsed = parse(replace(GOOD, bonus_amount="250.5", pending=True), TODAY)
    assert isinstance(parsed, Record)
    assert (parsed.activity_date, parsed.amount, parsed.bonus_amount, parsed.pending) == (
        date(2026, 11, 20),
        Decimal(1250),
        Decimal("250.5"),
        True,
    )


def test_the_rate_in_force_on_the_activity_date_applies() -> None:
    assert rate_on(RATES, "MILE", datetime(2026, 11, 20, tzinfo=UTC)) == RATES[0]
    assert rate_on(RATES, "MILE", datetime(2026, 11, 21, tzinfo=UTC)) == RATES[1]
    assert rate_on(RATES, "MILE", datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert rate_on(RATES, "NIGHT", datetime(2026, 11, 21, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("rounding", "amount", "bonus", "expected"),
    [
        (Rounding.DOWN, "389.50", "0", (4089, 0)),  # 4089.75
        (Rounding.HALF_UP, "389.50", "0", (4090, 0)),
        (Rounding.UP, "389.01", "0", (4085, 0)),  # 4084.605
        (Rounding.HALF_UP, "100", "20", (840, 210)),  # base 80 -> 840, bonus 20 -> 210
    ],
)
def test_conversion_rounds_base_and_bonus_by_the_rate(
    rounding: Rounding, amount: str, bonus: str, expected: tuple[int, int]
) -> None:
    rate = Rate("USD", Decimal("10.5"), rounding, datetime(2025, 1, 1, tzinfo=UTC))
    assert convert(rate, Decimal(amount), Decimal(bonus)) == expected


def test_names_match_ignoring_case_accents_and_punctuation() -> None:
    assert not names_differ("Müller-Lüdenscheidt", "MULLER LUDENSCHEIDT")
    for apostrophe in ("'", "\u2019", "\u02bc", "\u02bb", ""):
        assert not names_differ("O'Brien", f"o{apostrophe}brien")
    assert names_differ("Smith", "Smyth")
    # As ASCII-only systems (airline reservations) write them: no case of the dotless i, no stroke letters.
    for name, written in (("Y\u0131ld\u0131z", "YILDIZ"), ("Øberg", "OBERG"), ("Łukasiewicz", "LUKASIEWICZ")):
        assert not names_differ(name, written)
    assert not names_differ("Đorđević", "DORDEVIC")
    # Not known on either side: nothing to compare.
    assert not names_differ("Smith", " ")
    assert not names_differ("Smith", "-")
    assert not names_differ("", "Smyth")


@pytest.mark.parametrize(
    ("family_name", "written"),
    [
        ("Müller", "MUELLER"),
        ("Müller", "MULLER"),
        ("Müller", "Muller"),
        ("Mu\u0308ller", "MUELLER"),  # decomposed: u and a combining diaeresis
        ("Mueller", "Müller"),  # either side may be the one written so
        ("Ångström", "AANGSTROEM"),  # ICAO: Å as AA, Ö as OE
        ("Ångström", "ANGSTROM"),
        ("Søren", "SOEREN"),
        ("Søren", "SOREN"),
        ("Straße", "STRASSE"),
        ("Ærø", "AEROE"),
        ("Bäcker", "baecker"),
        # ICAO's Russian table (passports since 2013), and the older forms reservations still hold.
        ("Юсупов", "IUSUPOV"),
        ("Юсупов", "YUSUPOV"),
        ("Яковлев", "IAKOVLEV"),
        ("Цой", "TSOI"),
        ("Толстой", "TOLSTOI"),
        ("Хабенский", "KHABENSKII"),
        ("Подъячев", "PODIEIACHEV"),
        ("Щукин", "SHCHUKIN"),
    ],
)
def test_names_match_as_passports_and_reservation_systems_expand_them(family_name: str, written: str) -> None:
    """ICAO Doc 9303 (a passport's machine-readable zone) writes Ä, Ö, Ü as AE, OE, UE, Å as AA, Æ as AE, Ø as OE,
    ß as SS; airline systems copy it, or strip the accents."""
    assert not names_differ(family_name, written)


@pytest.mark.parametrize(
    ("family_name", "written"),
    [
        ("Müller", "MILLER"),
        ("Müller", "MUELER"),
        ("Müller", "MUEELLER"),
        ("Søren", "SAEREN"),
        ("Ångström", "AGSTROM"),
        ("Цой", "TSAI"),
    ],
)
def test_a_different_name_still_mismatches_whichever_way_it_is_written(family_name: str, written: str) -> None:
    assert names_differ(family_name, written)


def test_every_record_gets_its_answer_in_order() -> None:
    raws = [
        GOOD,
        replace(GOOD, partner_transaction_id="tx-2", member_id="ghost"),
        replace(GOOD, partner_transaction_id="tx-3", member_last_name="Smyth"),
        replace(GOOD, partner_transaction_id="tx-4", unit="NIGHT"),
        replace(GOOD, partner_transaction_id="tx-5", amount="oops"),
        replace(GOOD, partner_transaction_id="tx-1"),  # repeated within the batch
        replace(GOOD, partner_transaction_id="tx-old"),  # accepted in an earlier batch
        replace(GOOD, partner_transaction_id="tx-6", member_id="m-closed"),
        replace(GOOD, partner_transaction_id="tx-7", activity_date="2026-11-22", member_last_name="smith"),
    ]
    members = {"m-1": MemberFacts("Smith", active=True), "m-closed": MemberFacts("", active=False)}
    decisions = decide(
        [parse(raw, TODAY) for raw in raws], raws, members=members, accepted_before={"tx-old": 99}, rates=RATES
    )
    assert [(d.partner_transaction_id, d.status, d.points, d.field) for d in decisions] == [
        ("tx-1", Status.ACCEPTED, 1250, ""),
        ("tx-2", Status.UNKNOWN_MEMBER, 0, ""),
        ("tx-3", Status.NAME_MISMATCH, 0, ""),
        ("tx-4", Status.RATE_MISSING, 0, ""),
        ("tx-5", Status.INVALID, 0, "amount"),
        ("tx-1", Status.DUPLICATE, 1250, ""),
        ("tx-old", Status.DUPLICATE, 99, ""),
        ("tx-6", Status.UNKNOWN_MEMBER, 0, ""),
        ("tx-7", Status.ACCEPTED, 2500, ""),
    ]
    assert decisions[4].amount == 0 and decisions[0].amount == 1250


def test_a_record_earning_more_than_one_entry_holds_is_invalid_not_an_overflow() -> None:
    big = Rate("KM", Decimal(1_000_000), Rounding.DOWN, datetime(2026, 1, 1, tzinfo=UTC))
    raws = [
        replace(GOOD, unit="KM", amount="1000000"),
        replace(GOOD, partner_transaction_id="tx-2", unit="KM", amount="1000001"),
    ]
    members = {"m-1": MemberFacts("Smith", active=True)}
    decisions = decide([parse(raw, TODAY) for raw in raws], raws, members=members, accepted_before={}, rates=[big])
    assert [(d.status, d.points, d.field) for d in decisions] == [
        (Status.ACCEPTED, 10**12, ""),  # the most one entry holds
        (Status.INVALID, 0, "amount"),
    ]
    assert "more than 1000000000000 points" in decisions[1].reason


def test_an_activity_type_this_version_does_not_know_must_be_one_it_does() -> None:
    unknown = raw_record(pb.AccrualRecord(partner_transaction_id="t", member_id="m", activity_type=99))  # type: ignore[arg-type]
    unset = raw_record(pb.AccrualRecord(partner_transaction_id="t", member_id="m"))
    assert (unknown.activity_type, unset.activity_type) == ("99", "")
    parsed = parse(replace(GOOD, activity_type=unknown.activity_type), TODAY)
    assert isinstance(parsed, Invalid) and parsed.reason.startswith("must be one of flight")
