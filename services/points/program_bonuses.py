"""The `bonuses` section of a program definition (docs/program.md): signup, birthday, referral and activities.

Pure, no I/O; part of parse_program, with the same field-path messages.
"""

from __future__ import annotations

from services.common.yaml_fields import Section
from services.points.program import (
    NO_BONUSES,
    Activity,
    ActivityLimit,
    BirthdayBonus,
    BirthdayWhen,
    Bonuses,
    LimitPer,
    ReferralBonus,
)
from services.points.program_values import MAX_BONUS_POINTS, RULE_ID_PATTERN, amount_minor

BONUSES_KEYS = ("signup", "birthday", "referral", "activities")
ACTIVITY_KEYS = ("id", "description", "points", "limit")
LIMIT_KEYS = ("count", "per")
BIRTHDAY_KEYS = ("points", "when")
REFERRAL_KEYS = ("referrer_points", "referee_points", "minimum_spend")
MAX_ACTIVITIES = 200
MAX_LIMIT_COUNT = 1000


def parse_bonuses(section: Section | None, currency: str) -> Bonuses:
    if section is None:
        return NO_BONUSES
    signup = section.section("signup", ("points",))
    signup_points = _points(signup, "points") if signup else None
    activities: list[Activity] = []
    for item in section.sections("activities", ACTIVITY_KEYS, max_items=MAX_ACTIVITIES):
        activity = _activity(item)
        if any(other.id == activity.id for other in activities):
            item.refuse("id", f"{activity.id!r} is used by another activity")
        activities.append(activity)
    return Bonuses(
        signup_points,
        tuple(activities),
        birthday=_birthday(section.section("birthday", BIRTHDAY_KEYS)),
        referral=_referral(section.section("referral", REFERRAL_KEYS), currency),
    )


def _points(section: Section, key: str) -> int:
    return section.integer(key, minimum=1, maximum=MAX_BONUS_POINTS, required=True)


def _birthday(section: Section | None) -> BirthdayBonus | None:
    if section is None:
        return None
    when = BirthdayWhen(section.choice("when", [o.value for o in BirthdayWhen], BirthdayWhen.MONTH))
    return BirthdayBonus(points=_points(section, "points"), when=when)


def _referral(section: Section | None, currency: str) -> ReferralBonus | None:
    if section is None:
        return None
    if not section.written("referrer_points") and not section.written("referee_points"):
        section.refuse("referrer_points", "set referrer_points, referee_points or both")
    minimum = section.raw("minimum_spend", "an amount")
    return ReferralBonus(
        referrer_points=_optional_points(section, "referrer_points"),
        referee_points=_optional_points(section, "referee_points"),
        minimum_spend_minor=0
        if minimum is None
        else amount_minor(section, section.field("minimum_spend"), minimum, currency),
    )


def _optional_points(section: Section, key: str) -> int:
    return section.optional_integer(key, minimum=1, maximum=MAX_BONUS_POINTS) or 0


def _activity(section: Section) -> Activity:
    limit = section.section("limit", LIMIT_KEYS)
    return Activity(
        id=section.text("id", required=True, pattern=RULE_ID_PATTERN, hint="1-64 of a-z, 0-9, '_', '-'"),
        description=section.text("description"),
        points=_points(section, "points"),
        # Once-only unless the definition says otherwise.
        limit=ActivityLimit(
            count=limit.integer("count", minimum=1, maximum=MAX_LIMIT_COUNT, default=1) if limit else 1,
            per=LimitPer(limit.choice("per", [p.value for p in LimitPer], LimitPer.EVER) if limit else LimitPer.EVER),
        ),
    )
