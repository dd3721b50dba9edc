"""Program definitions: parsing, and every refusal naming its field. Pure, no I/O."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.errors import InvalidArgument, Violations
from services.common.yaml_fields import Section
from services.points.program import (
    ActivityLimit,
    BonusPer,
    Caps,
    LimitPer,
    Match,
    Rounding,
    TierBasis,
    TierWindow,
    add_months,
)
from services.points.program_schema import parse_program

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "programs"

MINIMAL: dict[str, Any] = {
    "id": "shop",
    "effective_from": "2025-01-01T00:00:00Z",
    "currency": "USD",
    "earning": {"base_rates": {"USD": 2}},
}


def definition(change: Callable[[dict[str, Any]], object] | None = None) -> str:
    document = copy.deepcopy(MINIMAL)
    if change is not None:
        change(document)
    return yaml.safe_dump(document, sort_keys=False)


def refused(text: str) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_program(text)
    return {v.field: v.description for v in caught.value.violations}


def with_rule(**rule: object) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["earning"].update(rules=[{"id": "ok", "multiplier": 2}, {"id": "r", **rule}])


def with_campaign(**campaign: object) -> Callable[[dict[str, Any]], object]:
    window = {"starts_at": "2025-07-04", "ends_at": "2025-07-04"}
    return lambda d: d["earning"].update(campaigns=[{"id": "c", **window, **campaign}])


def with_tiers(**tiers: object) -> Callable[[dict[str, Any]], object]:
    levels = [{"name": "base", "threshold": 0}, {"name": "gold", "threshold": 100, "earn_bonus_percent": 25}]
    return lambda d: d.update(tiers={"window": "calendar_year", "levels": levels, **tiers})


def test_minimal_program_has_documented_defaults() -> None:
    program = parse_program(definition())
    assert program.id == "shop"
    assert program.effective_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert program.timezone == "UTC"
    assert program.earning.base_rates == {"USD": Decimal(2)}
    assert program.earning.rounding is Rounding.DOWN
    assert program.earning.rules == () and program.earning.campaigns == ()
    assert program.earning.caps.per_purchase is None and program.earning.caps.per_day is None
    assert program.tiers is None
    assert program.expires_at(datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert program.pending_days == 0


@pytest.mark.parametrize("name", ["hotel", "airline"])
def test_example_programs_parse(name: str) -> None:
    program = parse_program((EXAMPLES / f"{name}.yaml").read_text())
    assert program.earning.rules and program.earning.campaigns and program.tiers


def test_hotel_example_reads_as_documented() -> None:
    program = parse_program((EXAMPLES / "hotel.yaml").read_text())
    assert program.effective_from == datetime(2025, 1, 1, 5, tzinfo=UTC)  # midnight in New York
    assert program.earning.base_rates["CAD"] == Decimal("7.3")
    assert [rule.id for rule in program.earning.rules] == ["no-points-on-taxes", "extended-stay", "app-booking"]
    summer = program.earning.campaigns[0]
    assert summer.window is not None
    # A date as ends_at includes that whole day, in the program's time zone.
    assert summer.window.ends_at == datetime(2025, 9, 1, 4, tzinfo=UTC)
    spa = program.earning.campaigns[1]
    assert spa.per is BonusPer.UNIT and spa.bonus_points == 1000
    assert program.tiers is not None and program.tiers.basis is TierBasis.POINTS
    assert program.tier_bonus_percent("gold") == 25 and program.tier_bonus_percent("unknown") == 0
    assert program.expiry.inactivity_months == 24 and program.pending_days == 3


def test_airline_example_tiers_qualify_on_spend_over_a_rolling_year() -> None:
    program = parse_program((EXAMPLES / "airline.yaml").read_text())
    assert program.tiers is not None
    assert (program.tiers.basis, program.tiers.window, program.tiers.window_months) == (
        TierBasis.SPEND,
        TierWindow.ROLLING,
        12,
    )
    assert [level.threshold for level in program.tiers.levels] == [0, 2500, 5000, 9000]
    assert program.earning.caps.per_purchase == 75000


def test_min_spend_as_a_number_is_in_the_program_currency_and_as_a_mapping_per_currency() -> None:
    program = parse_program(
        definition(
            lambda d: d["earning"].update(
                base_rates={"USD": 1, "JPY": "0.01"},
                rules=[
                    {"id": "a", "match": {"min_spend": 49.99}, "bonus_points": 5},
                    {"id": "b", "match": {"min_spend": {"USD": 10, "JPY": 1500}}, "bonus_points": 5},
                ],
            )
        )
    )
    assert program.earning.rules[0].match.min_spend == {"USD": 4999}
    assert program.earning.rules[1].match.min_spend == {"USD": 1000, "JPY": 1500}


def test_amounts_take_the_iso_4217_decimals_of_their_currency() -> None:
    # ISO 4217 gives IQD 3 decimals and HUF 2 (CLDR shows both with none); JPY has none.
    program = parse_program(
        definition(
            lambda d: d["earning"].update(
                base_rates={"USD": 1, "IQD": "0.001", "HUF": "0.01", "JPY": "0.01"},
                rules=[{"id": "a", "match": {"min_spend": {"IQD": 2500.125, "HUF": 999.99}}, "bonus_points": 5}],
            )
        )
    )
    assert program.earning.rules[0].match.min_spend == {"IQD": 2_500_125, "HUF": 99_999}
    too_fine = lambda d: d["earning"].update(  # noqa: E731
        base_rates={"USD": 1, "IQD": 1, "JPY": 1},
        rules=[{"id": "a", "match": {"min_spend": {"IQD": 1.0005, "JPY": 1.5}}, "bonus_points": 5}],
    )
    violations = refused(definition(too_fine))
    assert violations["earning.rules[0].match.min_spend.IQD"] == "has more decimals than IQD allows"
    assert violations["earning.rules[0].match.min_spend.JPY"] == "has more decimals than JPY allows"


def test_amounts_go_up_to_the_largest_amount_of_money_in_minor_units_of_their_currency() -> None:
    # 10**13 minor units, the most a purchase can be: 10**13 yen, but 10**10 dinars of 1,000 fils.
    def rule(amounts: dict[str, object]) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["earning"].update(
            base_rates={"USD": 1, "JPY": 1, "BHD": 1},
            rules=[{"id": "a", "match": {"min_spend": amounts}, "bonus_points": 5}],
        )

    program = parse_program(definition(rule({"JPY": 10**13, "BHD": "10000000000.000"})))
    assert program.earning.rules[0].match.min_spend == {"JPY": 10**13, "BHD": 10**13}
    violations = refused(definition(rule({"JPY": 10**13 + 1, "BHD": "10000000000.001"})))
    assert violations["earning.rules[0].match.min_spend.JPY"] == "must be between 0 and 10000000000000"
    assert violations["earning.rules[0].match.min_spend.BHD"] == "must be between 0 and 10000000000"


def test_spend_thresholds_are_in_the_program_currency_with_its_iso_4217_decimals() -> None:
    levels = [{"name": "base", "threshold": 0}, {"name": "gold", "threshold": 20000.125}]
    program = parse_program(
        definition(
            lambda d: d.update(
                currency="IQD",
                earning={"base_rates": {"IQD": 1}},
                tiers={"basis": "spend", "window": "calendar_year", "levels": levels},
            )
        )
    )
    assert program.tiers is not None
    assert [level.threshold for level in program.tiers.levels] == [0, Decimal("20000.125")]


def test_local_times_are_in_the_program_time_zone() -> None:
    program = parse_program(
        definition(lambda d: d.update(timezone="Europe/Paris", effective_from="2025-07-01 09:30:00"))
    )
    assert program.effective_from == datetime(2025, 7, 1, 7, 30, tzinfo=UTC)
    assert program.day_bounds(datetime(2025, 7, 1, 23, tzinfo=UTC)) == (
        datetime(2025, 7, 1, 22, tzinfo=UTC),
        datetime(2025, 7, 2, 22, tzinfo=UTC),
    )


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month() -> None:
    assert add_months(datetime(2025, 1, 31, 8, tzinfo=UTC), 1) == datetime(2025, 2, 28, 8, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 15, tzinfo=UTC), 26) == datetime(2028, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2025, 3, 31, tzinfo=UTC), -13) == datetime(2024, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(id="Bad Id"), "id"),
        (lambda d: d.pop("effective_from"), "effective_from"),
        (lambda d: d.update(effective_from="next tuesday"), "effective_from"),
        (lambda d: d.update(timezone="Mars/Olympus"), "timezone"),
        (lambda d: d.update(timezone="America"), "timezone"),
        (lambda d: d.update(effective_from="1999-12-31"), "effective_from"),
        (lambda d: d.update(effective_from="9999-12-31T23:00:00-05:00"), "effective_from"),
        (lambda d: d.update(effective_from=["2025-01-01"]), "effective_from"),
        (lambda d: d.update(currency="usd"), "currency"),
        (lambda d: d.update(currency="XYZ"), "currency"),
        # ISO 4217 lists gold and "no currency" with no minor unit: not a purchase currency.
        (lambda d: d.update(currency="XAU"), "currency"),
        (lambda d: d.update(currency="XXX"), "currency"),
        (lambda d: d["earning"].update(base_rates={"USD": 1, "XAU": 1}), "earning.base_rates.XAU"),
        (lambda d: (d.update(currency="XAU"), with_tiers(basis="spend")(d)), "currency"),
        (lambda d: d.pop("earning"), "earning"),
        (lambda d: d.update(earning=[1, 2]), "earning"),
        (lambda d: d.update(name=["x"]), "name"),
        (lambda d: d["earning"].pop("base_rates"), "earning.base_rates"),
        (lambda d: d["earning"].update(base_rates={"EUR": 1}), "earning.base_rates"),
        (lambda d: d["earning"].update(base_rates={"USD": 0}), "earning.base_rates.USD"),
        (lambda d: d["earning"].update(base_rates={"USD": "lots"}), "earning.base_rates.USD"),
        (lambda d: d["earning"].update(base_rates={"USD": 1.23456}), "earning.base_rates.USD"),
        (lambda d: d["earning"].update(base_rates={"USD": True}), "earning.base_rates.USD"),
        (lambda d: d["earning"].update(base_rates={"USD": 1, "dollars": 1}), "earning.base_rates.dollars"),
        (lambda d: d["earning"].update(rounding="nearest"), "earning.rounding"),
        (lambda d: d["earning"].update(caps={"per_purchase": 0}), "earning.caps.per_purchase"),
        (lambda d: d["earning"].update(caps={"per_day": 1.5}), "earning.caps.per_day"),
        (lambda d: d["earning"].update(caps={"per_week": 5}), "earning.caps.per_week"),
        (lambda d: d["earning"].update(rules={"id": "x"}), "earning.rules"),
        (lambda d: d["earning"].update(rules=["x"]), "earning.rules[0]"),
        (with_rule(multiplier=101), "earning.rules[1].multiplier"),
        (with_rule(multiplier=-1), "earning.rules[1].multiplier"),
        (with_rule(multiplier=0.5), "earning.rules[1].multiplier"),
        (with_rule(multiplier=2, bonus_points=5), "earning.rules[1].multiplier"),
        (with_rule(), "earning.rules[1].multiplier"),
        (with_rule(bonus_points=0), "earning.rules[1].bonus_points"),
        (with_rule(bonus_points=5, per="unit"), "earning.rules[1].per"),
        (with_rule(bonus_points=5, per="day"), "earning.rules[1].per"),
        (with_rule(multiplier=2, per="purchase"), "earning.rules[1].per"),
        (with_rule(id="ok", multiplier=2), "earning.rules[1].id"),
        (with_rule(id="Has Space", multiplier=2), "earning.rules[1].id"),
        (with_rule(multiplier=2, colour="red"), "earning.rules[1].colour"),
        (with_rule(multiplier=2, match={"sku": ["a"]}), "earning.rules[1].match.sku"),
        (with_rule(multiplier=2, match={"skus": "a"}), "earning.rules[1].match.skus"),
        (with_rule(multiplier=2, match={"skus": []}), "earning.rules[1].match.skus"),
        (with_rule(multiplier=2, match={"categories": ["ok", 7]}), "earning.rules[1].match.categories[1]"),
        (with_rule(multiplier=2, match={"skus": ["ok", " "]}), "earning.rules[1].match.skus[1]"),  # no SKU is blank
        (with_rule(multiplier=2, match={"min_spend": 10.001}), "earning.rules[1].match.min_spend"),
        (with_rule(multiplier=2, match={"min_spend": -1}), "earning.rules[1].match.min_spend"),
        (with_rule(multiplier=2, match={"min_spend": {"EUR": 5}}), "earning.rules[1].match.min_spend.EUR"),
        (with_campaign(multiplier=0.5, match={"skus": ["a"]}), "earning.campaigns[0].multiplier"),
        (with_campaign(multiplier=2, starts_at=None), "earning.campaigns[0].starts_at"),
        (with_campaign(multiplier=2, ends_at="2025-07-03"), "earning.campaigns[0].ends_at"),
        (with_campaign(multiplier=2, ends_at="soon"), "earning.campaigns[0].ends_at"),
        (with_campaign(multiplier=2, ends_at="9999-12-31"), "earning.campaigns[0].ends_at"),
        (with_tiers(window="weekly"), "tiers.window"),
        (with_tiers(window=None), "tiers.window"),
        (with_tiers(window="rolling"), "tiers.window_months"),
        (with_tiers(window_months=12), "tiers.window_months"),
        (with_tiers(basis="nights"), "tiers.basis"),
        (with_tiers(downgrade_steps=-1), "tiers.downgrade_steps"),
        (with_tiers(levels=None), "tiers.levels"),
        (with_tiers(levels=[]), "tiers.levels"),
        (with_tiers(levels=[{"name": "base", "threshold": 5}]), "tiers.levels[0].threshold"),
        (with_tiers(levels=[{"name": "base"}]), "tiers.levels[0].threshold"),
        (with_tiers(levels=[{"name": "Gold Tier", "threshold": 0}]), "tiers.levels[0].name"),
        (with_tiers(levels=[{"name": "a", "threshold": 0}, {"name": "a", "threshold": 5}]), "tiers.levels[1].name"),
        (
            with_tiers(levels=[{"name": "a", "threshold": 0}, {"name": "b", "threshold": 0}]),
            "tiers.levels[1].threshold",
        ),
        (
            with_tiers(levels=[{"name": "a", "threshold": 0, "earn_bonus_percent": 2000}]),
            "tiers.levels[0].earn_bonus_percent",
        ),
        (with_tiers(levels=[{"name": "a", "threshold": 0, "bonus": 5}]), "tiers.levels[0].bonus"),
        (
            with_tiers(basis="spend", levels=[{"name": "a", "threshold": 0}, {"name": "b", "threshold": 9.999}]),
            "tiers.levels[1].threshold",
        ),
        (
            with_tiers(levels=[{"name": "a", "threshold": 0}, {"name": "b", "threshold": 1.5}]),
            "tiers.levels[1].threshold",
        ),
        (lambda d: d.update(expiry={}), "expiry"),
        (lambda d: d.update(expiry={"months_after_earning": 0}), "expiry.months_after_earning"),
        (lambda d: d.update(expiry={"inactivity_months": "two years"}), "expiry.inactivity_months"),
        (lambda d: d.update(expiry={"inactivity_months": 12, "reminder_days": 400}), "expiry.reminder_days"),
        (lambda d: d.update(expiry={"months": 12}), "expiry.months"),
        (lambda d: d.update(pending={"days": 400}), "pending.days"),
        (lambda d: d.update(pending={"days": None}), "pending.days"),
        (lambda d: d.update(pending={"hours": 1}), "pending.hours"),
        (lambda d: d.update(version=3), "version"),
    ],
)
def test_refusals_name_the_field(change: Callable[[dict[str, Any]], object], field: str) -> None:
    violations = refused(definition(change))
    assert field in violations, violations


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("expiry:\n", "expiry"),
        ("tiers:\n", "tiers"),
        ("pending:\n", "pending"),
        ("bonuses:\n  birthday:\n", "bonuses.birthday"),
        ("bonuses:\n  referral:\n", "bonuses.referral"),
        ("earning:\n  base_rates: {USD: 2}\n  caps:\n", "earning.caps"),
    ],
)
def test_a_section_with_no_value_is_refused_not_read_as_left_out(section: str, field: str) -> None:
    # `expiry:` would otherwise mean no expiry at all, where `expiry: {}` is refused.
    text = definition(lambda d: d.pop("earning")) + section
    assert "has no value" in refused(text)[field]


def test_every_problem_is_reported_at_once() -> None:
    def break_three(d: dict[str, Any]) -> None:
        d.update(id="", colour="red")
        d["earning"]["base_rates"] = {"USD": -1}

    assert set(refused(definition(break_three))) == {"id", "colour", "earning.base_rates.USD"}


def test_unknown_keys_are_named_with_what_is_expected() -> None:
    violations = refused(definition(lambda d: d["earning"].update(multiplier=2)))
    assert violations["earning.multiplier"].startswith("unknown key; expected one of base_rates, rounding")


def test_unquoted_on_as_a_key_is_explained() -> None:
    violations = refused(definition() + "on: 1\n")
    assert "quote" in violations["True"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is required"),
        ("   \n", "is required"),
        ("id: [unclosed", "is not valid YAML"),
        ("id: a\nid: b\n", "duplicate key 'id'"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases"),
        ("x" * 1_000_001, "at most"),
    ],
)
def test_malformed_documents_are_refused_on_the_definition(text: str, problem: str) -> None:
    violations = refused(text)
    assert problem in violations["definition"]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert "definition" in refused("- just\n- a list\n")


@pytest.mark.parametrize(
    ("written", "field"),
    [
        ("effective_from: 2026-13-45", "effective_from"),
        ("effective_from: 2026-02-30", "effective_from"),
        ("effective_from: 2026-02-28T25:00:00Z", "effective_from"),
        (
            "effective_from: 2026-01-01\nearning:\n  base_rates: {USD: 2}\n  campaigns:\n"
            "    - {id: spring, multiplier: 2, starts_at: 2026-13-01, ends_at: 2026-14-01}",
            "earning.campaigns[0].starts_at",
        ),
    ],
)
def test_a_day_or_time_that_does_not_exist_is_refused_naming_its_field(written: str, field: str) -> None:
    # Unquoted, YAML reads these as timestamps, and building one raised ValueError (an INTERNAL error).
    text = f"id: shop\ncurrency: USD\n{written}\n"
    if "earning" not in written:
        text += "earning:\n  base_rates: {USD: 2}\n"
    assert field in refused(text)


def test_a_threshold_refused_for_its_value_is_not_also_said_to_be_out_of_order() -> None:
    levels = [{"name": "member", "threshold": 0}, {"name": "silver", "threshold": 100.5}]
    assert refused(definition(with_tiers(levels=levels))) == {
        "tiers.levels[1].threshold": "must be a whole number, not 100.5"
    }


def test_a_multiplier_refused_for_its_value_is_not_also_called_a_reduction() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_program(definition(with_rule(multiplier=101)))
    about = [v.description for v in caught.value.violations if v.field == "earning.rules[1].multiplier"]
    assert len(about) == 1 and "between" in about[0], about


def test_an_unquoted_yes_in_a_match_list_is_named_once_with_a_hint_to_quote_it() -> None:
    assert refused(definition(with_rule(multiplier=2, match={"channels": [True]}))) == {
        "earning.rules[1].match.channels[0]": "must be text of 1-256 characters (quote it: True is not text)"
    }


def _full_definition() -> dict[str, Any]:
    """The hotel example with every optional key of the schema given (none of it left to a default)."""
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / "hotel.yaml").read_text())
    document["earning"]["caps"] = {"per_purchase": 100_000, "per_day": 200_000}
    document["earning"]["rules"][2]["match"]["min_spend"] = {"USD": 100, "CAD": 130}
    document["earning"]["campaigns"][0]["per"] = "purchase"
    document["earning"]["campaigns"][0]["bonus_points"] = document["earning"]["campaigns"][0].pop("multiplier")
    document["expiry"]["months_after_earning"] = 36
    document["bonuses"] = {
        "signup": {"points": 500},
        "birthday": {"points": 1000, "when": "day"},
        "referral": {"referrer_points": 1500, "referee_points": 500, "minimum_spend": 25},
        "activities": [
            {"id": "review", "description": "Review written", "points": 50, "limit": {"count": 2, "per": "month"}}
        ],
    }
    document["refunds"] = {"spent_points": "negative_balance"}
    return document


def _keys(value: object, path: str = "") -> list[tuple[str, tuple[str | int, ...], object]]:
    """(field path, location, value) of every key of `value`, nested ones included; list items are no keys."""
    found: list[tuple[str, tuple[str | int, ...], object]] = []

    def walk(value: object, path: str, location: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                field = f"{path}.{key}" if path else key
                found.append((field, (*location, key), item))
                walk(item, field, (*location, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", (*location, index))

    walk(value, path, ())
    return found


def _set(document: dict[str, Any], location: tuple[str | int, ...], value: object) -> str:
    changed = copy.deepcopy(document)
    *parents, last = location
    container: Any = changed
    for step in parents:
        container = container[step]
    container[last] = value
    return yaml.safe_dump(changed, sort_keys=False)


FULL = _full_definition()
MAPPING_KEYS = [(field, location) for field, location, value in _keys(FULL) if isinstance(value, dict)]
SCALAR_KEYS = [(field, location) for field, location, value in _keys(FULL) if not isinstance(value, dict | list)]


def test_the_full_definition_parses_with_every_key_given() -> None:
    program = parse_program(yaml.safe_dump(FULL, sort_keys=False))
    assert program.spent_points.value == "negative_balance" and program.bonuses.activities[0].limit.count == 2
    assert {"earning.caps", "bonuses.activities[0].limit", "earning.rules[2].match.min_spend"} <= {
        field for field, _ in MAPPING_KEYS
    }


@pytest.mark.parametrize(("field", "location"), MAPPING_KEYS, ids=[field for field, _ in MAPPING_KEYS])
def test_every_empty_mapping_is_refused_naming_it(field: str, location: tuple[str | int, ...]) -> None:
    # `limit: {}` was once per lifetime, `match: {}` every purchase, `caps: {}` no cap: none of them what was meant.
    violations = refused(_set(FULL, location, {}))
    # Required, they are read: what they lack is named.
    if field == "earning":
        assert violations == {"earning.base_rates": "is required: points per whole currency unit, e.g. {USD: 10}"}
    elif field == "earning.base_rates":
        assert violations[field] == "must give a rate for the program currency USD"
    else:
        # Fields that depend on the section may be refused too (a rule's reduction needs its match).
        assert violations[field].startswith("is empty: give it ") and violations[field].endswith(", or leave it out")


@pytest.mark.parametrize(("field", "location"), SCALAR_KEYS, ids=[field for field, _ in SCALAR_KEYS])
def test_every_key_written_with_no_value_is_refused_naming_it(field: str, location: tuple[str | int, ...]) -> None:
    # `rounding:` took the default, `timezone:` was UTC and `per_day:` no cap, as if the key were left out.
    violations = refused(_set(FULL, location, None))
    assert field in violations, violations
    assert violations[field] in ("is required", "set exactly one of multiplier and bonus_points") or violations[
        field
    ].startswith("has no value: give it "), violations


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda d: d.update(timezone=""), "timezone", "is blank: give it an IANA time zone such as Europe/Paris"),
        (lambda d: d.update(timezone=" "), "timezone", "is blank: give it an IANA time zone such as Europe/Paris"),
        (lambda d: d.update(name=""), "name", "is blank: give it text"),
        (with_rule(multiplier=2, description=""), "earning.rules[1].description", "is blank: give it text"),
        (lambda d: d.update(id=""), "id", "is required"),
    ],
)
def test_blank_text_is_refused_not_read_as_left_out(
    change: Callable[[dict[str, Any]], object], field: str, problem: str
) -> None:
    # `timezone: ''` was read as UTC.
    assert refused(definition(change)) == {field: f"{problem}, or leave it out" if "blank" in problem else problem}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("timezone:\n", "timezone"),
        ("timezone: ''\n", "timezone"),
        ("name:\n", "name"),
        ("earning:\n  base_rates: {USD: 2}\n  rounding:\n", "earning.rounding"),
        ("earning:\n  base_rates: {USD:}\n", "earning.base_rates.USD"),
        (
            "tiers:\n  window: calendar_year\n  downgrade_steps:\n  levels: [{name: a, threshold: 0}]\n",
            "tiers.downgrade_steps",
        ),
    ],
)
def test_a_key_written_with_no_value_in_yaml_is_refused(text: str, field: str) -> None:
    document = definition(lambda d: d.pop("earning")) if "earning" in text else definition()
    assert field in refused(document + text)


TEXT_FIELDS = [
    ("name", lambda d, text: d.update(name=text)),
    ("earning.rules[1].description", lambda d, text: with_rule(multiplier=2, description=text)(d)),
    ("earning.campaigns[0].description", lambda d, text: with_campaign(multiplier=2, description=text)(d)),
    (
        "bonuses.activities[0].description",
        lambda d, text: d.update(bonuses={"activities": [{"id": "a", "points": 5, "description": text}]}),
    ),
    ("earning.rules[1].match.skus[0]", lambda d, text: with_rule(multiplier=2, match={"skus": [text]})(d)),
    ("earning.rules[1].match.channels[0]", lambda d, text: with_rule(multiplier=2, match={"channels": [text]})(d)),
]


@pytest.mark.parametrize("text", ["QA\u0007Hotel\u001b[31m", "two\nlines", "price \u202e01$", "a\u2028b", "a\x85b"])
@pytest.mark.parametrize(("field", "change"), TEXT_FIELDS, ids=[field for field, _ in TEXT_FIELDS])
def test_text_fields_are_one_line_without_control_characters(
    field: str, change: Callable[[dict[str, Any], str], object], text: str
) -> None:
    # Descriptions reach members as ledger text: a bell, an escape or a bidi override there forges what they see.
    violations = refused(definition(lambda d: change(d, text)))
    assert violations == {
        field: "must be a single line of text, without control characters (a tab excepted) or bidirectional overrides"
    }


@pytest.mark.parametrize(("field", "change"), TEXT_FIELDS, ids=[field for field, _ in TEXT_FIELDS])
def test_text_fields_take_tabs_and_any_script(field: str, change: Callable[[dict[str, Any], str], object]) -> None:
    # French, a tab, Hebrew, a right-to-left mark (which orders only what it touches) and Arabic.
    text = "H\u00f4tel\t\u05e9\u05dc\u05d5\u05dd \u200f\u062c\u0645\u064a\u0644"
    parse_program(definition(lambda d: change(d, text)))


def _stored_under_earlier_rules() -> str:
    """A definition applied before empty sections, keys with no value and control characters were refused."""
    document = copy.deepcopy(MINIMAL)
    document["name"] = "Shop\u0007"
    document["timezone"] = ""
    document["earning"]["rounding"] = None
    document["earning"]["caps"] = {}
    document["earning"]["rules"] = [{"id": "all", "description": "every\u001b purchase", "match": {}, "multiplier": 2}]
    document["bonuses"] = {"activities": [{"id": "review", "points": 50, "limit": {}}]}
    return yaml.safe_dump(document, sort_keys=False)


def test_a_definition_stored_under_earlier_rules_is_refused_if_applied_now_but_still_read_as_it_was() -> None:
    text = _stored_under_earlier_rules()
    assert set(refused(text)) == {
        "name",
        "timezone",
        "earning.rounding",
        "earning.caps",
        "earning.rules[0].description",
        "earning.rules[0].match",
        "bonuses.activities[0].limit",
    }
    # Purchases recorded under it are still priced by it, as they were when it was applied.
    stored = parse_program(text, stored=True)
    assert (stored.name, stored.timezone, stored.earning.rounding) == ("Shop\u0007", "UTC", Rounding.DOWN)
    assert stored.earning.caps == Caps(None, None)
    [rule] = stored.earning.rules
    assert (rule.description, rule.multiplier) == ("every\u001b purchase", Decimal(2))
    assert rule.match == Match(frozenset(), frozenset(), frozenset(), {})  # any purchase
    assert stored.bonuses.activities[0].limit == ActivityLimit(1, LimitPer.EVER)


def test_blank_text_of_a_stored_definition_reads_as_written() -> None:
    violations = Violations()
    section = Section.of(violations, "", {"description": " "}, ["description"], lenient=True)
    assert section is not None
    assert section.text("description") == " "  # as it was read when it was stored
    violations.raise_if_any()
