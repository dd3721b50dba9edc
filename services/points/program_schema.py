"""The YAML schema of a program definition (docs/program.md): parsing and validation. Pure, no I/O.

`parse_program(text)` returns the Program or raises InvalidArgument naming
every wrong field by its path in the document, e.g.
`earning.rules[2].multiplier`. Unknown keys are refused, naming them, so a
typo never silently turns a rule off.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.common.currencies import currency_refusal, is_currency_code, minor_unit_exponent
from services.common.errors import Violations
from services.common.text_fields import check_line
from services.common.tier_names import MAX_TIERS, TIER_NAME_PATTERN, TIER_NAME_SHAPE
from services.common.time_zones import time_zone
from services.common.yaml_fields import EARLIEST, MAX_TEXT, Section, check_decimal, join
from services.common.yaml_loading import load_document
from services.points.program import (
    BonusPer,
    Caps,
    EarningPolicy,
    ExpiryPolicy,
    Match,
    Program,
    Rounding,
    Rule,
    SpentPoints,
    TierBasis,
    TierLevel,
    TierPolicy,
    TierWindow,
    Window,
)
from services.points.program_bonuses import BONUSES_KEYS, parse_bonuses
from services.points.program_values import MAX_BONUS_POINTS, RULE_ID_PATTERN, amount_minor

PROGRAM_KEYS = (
    "id",
    "name",
    "effective_from",
    "timezone",
    "currency",
    "earning",
    "tiers",
    "expiry",
    "pending",
    "bonuses",
    "refunds",
)
EARNING_KEYS = ("base_rates", "rounding", "rules", "campaigns", "caps")
RULE_KEYS = ("id", "description", "match", "multiplier", "bonus_points", "per")
CAMPAIGN_KEYS = (*RULE_KEYS, "starts_at", "ends_at")
MATCH_KEYS = ("skus", "categories", "channels", "min_spend")
TIERS_KEYS = ("basis", "window", "window_months", "downgrade_steps", "levels")
LEVEL_KEYS = ("name", "threshold", "earn_bonus_percent")

PROGRAM_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_RULES = 200
MAX_MATCH_VALUES = 10_000
MAX_RATE = Decimal(1000)
MIN_RATE = Decimal("0.0001")
MAX_MULTIPLIER = Decimal(100)
MAX_CAP = 10**12


def parse_program(text: str, *, stored: bool = False) -> Program:
    """The program defined by YAML `text`, or InvalidArgument naming every wrong field.

    A `stored` definition, applied under the rules of its day, is read by them where later ones are stricter
    (yaml_fields: lenient)."""
    document = load_document(text, lenient=stored)
    violations = Violations()
    root = Section.of(violations, "", document, PROGRAM_KEYS, lenient=stored)
    program = _program(root) if root is not None else None
    violations.raise_if_any()
    assert program is not None
    return program


def _program(root: Section) -> Program:
    zone = _zone(root)
    currency = _currency(root, "currency", required=True)
    earning = _earning(root.section("earning", EARNING_KEYS, required=True), currency, zone)
    return Program(
        id=root.text("id", required=True, pattern=PROGRAM_ID_PATTERN, hint="1-64 of a-z, 0-9, '.', '_', '-'"),
        name=root.text("name"),
        effective_from=root.moment("effective_from", zone, required=True) or EARLIEST,
        timezone=zone.key,
        currency=currency,
        earning=earning,
        tiers=_tiers(root.section("tiers", TIERS_KEYS), currency),
        expiry=_expiry(root.section("expiry", ("months_after_earning", "inactivity_months", "reminder_days"))),
        pending_days=_pending_days(root.section("pending", ("days",))),
        bonuses=parse_bonuses(root.section("bonuses", BONUSES_KEYS), currency),
        spent_points=_spent_points(root.section("refunds", ("spent_points",))),
    )


def _spent_points(section: Section | None) -> SpentPoints:
    if section is None:
        return SpentPoints.DEBT
    return SpentPoints(section.choice("spent_points", [s.value for s in SpentPoints], SpentPoints.DEBT))


def _zone(root: Section) -> ZoneInfo:
    hint = "an IANA time zone such as Europe/Paris"
    name = root.text("timezone", hint=hint)
    if not name:
        return ZoneInfo("UTC")  # left out, or refused already as text
    zone = time_zone(name)
    if zone is None:
        root.refuse("timezone", f"{name!r} is not {hint}")
        return ZoneInfo("UTC")
    return zone


def _currency(section: Section, key: str, *, required: bool = False) -> str:
    code = section.text(key, required=required)
    if code and (refusal := currency_refusal(code)):
        section.refuse(key, refusal)
    return code


def _earning(section: Section | None, currency: str, zone: ZoneInfo) -> EarningPolicy:
    if section is None:
        return EarningPolicy({}, Rounding.DOWN, (), (), Caps(None, None))
    rates = _base_rates(section, currency)
    rules = tuple(_rules(section, "rules", RULE_KEYS, rates, currency, zone))
    campaigns = tuple(_rules(section, "campaigns", CAMPAIGN_KEYS, rates, currency, zone))
    caps = section.section("caps", ("per_purchase", "per_day"))
    return EarningPolicy(
        base_rates=rates,
        rounding=Rounding(section.choice("rounding", [r.value for r in Rounding], Rounding.DOWN)),
        rules=rules,
        campaigns=campaigns,
        caps=Caps(_cap(caps, "per_purchase"), _cap(caps, "per_day")),
    )


def _base_rates(section: Section, currency: str) -> dict[str, Decimal]:
    if not section.has("base_rates"):
        section.refuse("base_rates", f"is required: points per whole currency unit, e.g. {{{currency or 'USD'}: 10}}")
        return {}
    rates: dict[str, Decimal] = {}
    field = section.field("base_rates")
    for code, value in section.mapping("base_rates", "points per whole unit by currency code", required=True).items():
        if refusal := currency_refusal(code):
            section.violations.add(join(field, code), refusal)
            continue
        rates[code] = check_decimal(
            section.violations, join(field, code), value, MIN_RATE, MAX_RATE, places=4, lenient=section.lenient
        )
    if currency and currency not in rates:
        section.refuse("base_rates", f"must give a rate for the program currency {currency}")
    return rates


def _cap(caps: Section | None, key: str) -> int | None:
    return None if caps is None else caps.optional_integer(key, minimum=1, maximum=MAX_CAP)


def _rules(
    section: Section, key: str, known: Collection[str], rates: dict[str, Decimal], currency: str, zone: ZoneInfo
) -> list[Rule]:
    rules: list[Rule] = []
    seen: set[str] = set()
    for rule_section in section.sections(key, known, max_items=MAX_RULES):
        rule = _rule(rule_section, rates, currency, zone, campaign=key == "campaigns")
        if rule.id in seen:
            rule_section.refuse("id", f"{rule.id!r} is used by another item of {key}")
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _rule(section: Section, rates: dict[str, Decimal], currency: str, zone: ZoneInfo, *, campaign: bool) -> Rule:
    rule_id = section.text("id", required=True, pattern=RULE_ID_PATTERN, hint="1-64 of a-z, 0-9, '_', '-'")
    match = _match(section.section("match", MATCH_KEYS), rates, currency)
    multiplier, bonus_points = _effect(section, match, campaign=campaign)
    per = BonusPer(section.choice("per", [p.value for p in BonusPer], BonusPer.PURCHASE))
    if section.has("per") and bonus_points is None:
        section.refuse("per", "applies to bonus_points only")
    elif per is BonusPer.UNIT and not match.per_item:
        section.refuse("per", "unit needs match.skus or match.categories: the units of the matching items")
    return Rule(
        id=rule_id,
        description=section.text("description"),
        match=match,
        multiplier=multiplier,
        bonus_points=bonus_points,
        per=per,
        window=_window(section, zone) if campaign else None,
    )


def _effect(section: Section, match: Match, *, campaign: bool) -> tuple[Decimal | None, int | None]:
    """(multiplier, bonus_points), exactly one of them set."""
    if section.written("multiplier") == section.written("bonus_points"):
        section.refuse("multiplier", "set exactly one of multiplier and bonus_points")
        return None, None
    if section.written("bonus_points"):
        return None, section.integer("bonus_points", minimum=1, maximum=MAX_BONUS_POINTS)
    multiplier = section.decimal("multiplier", minimum=Decimal(0), maximum=MAX_MULTIPLIER)
    if section.violations.about(section.field("multiplier")):
        return multiplier, None  # refused for its value already: what stands in for it says nothing more
    if multiplier < 1 and campaign:
        section.refuse("multiplier", "must be at least 1: a campaign adds points")
    elif multiplier < 1 and not match.per_item:
        # A reduction of the whole purchase could stack with others and take more than the base.
        section.refuse("multiplier", "may be below 1 only with match.skus or match.categories")
    return multiplier, None


def _match(section: Section | None, rates: dict[str, Decimal], currency: str) -> Match:
    if section is None:
        return Match(frozenset(), frozenset(), frozenset(), {})
    return Match(
        skus=_values(section, "skus"),
        categories=_values(section, "categories"),
        channels=_values(section, "channels"),
        min_spend=_min_spend(section, rates, currency),
    )


def _values(section: Section, key: str) -> frozenset[str]:
    values: set[str] = set()
    items = section.items(key, max_items=MAX_MATCH_VALUES)
    for path, value in items:
        if not isinstance(value, str):
            # YAML reads an unquoted yes, no, on, off or 123 as a boolean or a number.
            section.violations.add(path, f"must be text of 1-{MAX_TEXT} characters (quote it: {value!r} is not text)")
        elif not value or (not value.strip() and not section.lenient):
            section.violations.add(path, f"must be text of 1-{MAX_TEXT} characters, not blank")
        else:
            # As a purchase's SKUs, categories and channel are: a value they cannot hold would never match.
            if not section.lenient:
                check_line(section.violations, path, value, max_length=MAX_TEXT)
            values.add(value)
    if section.has(key) and not items:
        section.refuse(key, "must not be empty (leave it out to match any)")
    return frozenset(values)


def _min_spend(section: Section, rates: dict[str, Decimal], currency: str) -> dict[str, int]:
    """Currency -> minimum in minor units; a plain number is in the program currency."""
    value = section.raw("min_spend", "an amount")
    if value is None:
        return {}
    field = section.field("min_spend")
    if isinstance(value, dict):
        by_currency = section.mapping("min_spend", "amounts by currency code")
        amounts = [(join(field, code), code, amount) for code, amount in by_currency.items()]
    else:
        amounts = [(field, currency, value)]
    minimums: dict[str, int] = {}
    for path, code, amount in amounts:
        if code and code not in rates:
            section.violations.add(path, f"{code} has no base rate in earning.base_rates")
        elif code:
            minimums[code] = amount_minor(section, path, amount, code)
    return minimums


def _window(section: Section, zone: ZoneInfo) -> Window:
    starts_at = section.moment("starts_at", zone, required=True)
    ends_at = section.moment("ends_at", zone, required=True, end_of_day=True)
    if starts_at and ends_at and ends_at <= starts_at:
        section.refuse("ends_at", "must be after starts_at")
    return Window(starts_at or EARLIEST, ends_at or EARLIEST)


def _tiers(section: Section | None, currency: str) -> TierPolicy | None:
    if section is None:
        return None
    basis = TierBasis(section.choice("basis", [b.value for b in TierBasis], TierBasis.POINTS))
    if not section.has("window"):
        section.refuse("window", "is required: calendar_year or rolling")
    window = TierWindow(section.choice("window", [w.value for w in TierWindow], TierWindow.CALENDAR_YEAR))
    months: int | None = None
    if window is TierWindow.ROLLING:
        months = section.integer("window_months", minimum=1, maximum=120, required=True)
    elif section.written("window_months"):
        section.refuse("window_months", "applies to window: rolling only")
    return TierPolicy(
        basis=basis,
        window=window,
        window_months=months,
        downgrade_steps=section.integer("downgrade_steps", minimum=0, maximum=MAX_TIERS, default=1),
        levels=_levels(section, basis, currency),
    )


def _levels(section: Section, basis: TierBasis, currency: str) -> tuple[TierLevel, ...]:
    if not section.has("levels") or section.raw("levels") == []:
        section.refuse("levels", "is required: the tiers, lowest first, the first at threshold 0")
    levels: list[TierLevel] = []
    for level in section.sections("levels", LEVEL_KEYS, max_items=MAX_TIERS):
        name = level.text("name", required=True, pattern=TIER_NAME_PATTERN, hint=TIER_NAME_SHAPE)
        threshold = _threshold(level, basis, currency)
        if any(other.name == name for other in levels):
            level.refuse("name", f"{name!r} names another tier too")
        # A threshold refused already has no order to compare.
        refused = level.violations.about(level.field("threshold"))
        if not refused and not levels and threshold != 0:
            level.refuse("threshold", "must be 0 for the first (entry) tier")
        elif not refused and levels and threshold <= levels[-1].threshold:
            level.refuse("threshold", f"must be above the threshold of {levels[-1].name!r}: tiers go lowest first")
        percent = level.decimal("earn_bonus_percent", minimum=Decimal(0), maximum=Decimal(1000))
        levels.append(TierLevel(name, threshold, percent))
    return tuple(levels)


def _threshold(level: Section, basis: TierBasis, currency: str) -> Decimal:
    if not level.has("threshold"):
        level.refuse("threshold", "is required")
        return Decimal(0)
    if basis is TierBasis.POINTS:
        return Decimal(level.integer("threshold", minimum=0, maximum=MAX_CAP))
    if not currency:
        return Decimal(0)
    minor = amount_minor(level, level.field("threshold"), level.raw("threshold"), currency)
    if not is_currency_code(currency):
        return Decimal(0)  # the program's currency is refused on its own field
    return Decimal(minor).scaleb(-minor_unit_exponent(currency))


def _expiry(section: Section | None) -> ExpiryPolicy:
    if section is None:
        return ExpiryPolicy(None, None, None)
    terms = [
        section.optional_integer(key, minimum=1, maximum=600) for key in ("months_after_earning", "inactivity_months")
    ]
    reminder = section.optional_integer("reminder_days", minimum=1, maximum=365)
    if terms == [None, None]:
        section.violations.add(section.path, "needs months_after_earning, inactivity_months or both")
    return ExpiryPolicy(terms[0], terms[1], reminder)


def _pending_days(section: Section | None) -> int:
    if section is None:
        return 0
    return section.integer("days", minimum=0, maximum=365, required=True)
