"""The tickets policy (default_policy.yaml or LOYALTY_TICKETS_POLICY_FILE): parsing and lookups. Pure.

SLA policies keyed by tier and category, business-hours calendars, the
skill each category needs, the escalation policy and goodwill limits.
`parse_policy(text)` raises InvalidArgument naming every wrong field by its
path, e.g. `sla_policies[1].hours`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from services.common.errors import InvalidArgument, Violations, required_as
from services.common.settings import SettingsError
from services.common.text_files import read_utf8
from services.common.tier_names import TIER_NAME_PATTERN, TIER_NAME_SHAPE
from services.common.time_zones import time_zone
from services.common.yaml_fields import Section
from services.common.yaml_loading import load_document
from services.tickets.sla import Calendar, Hours

CATEGORIES = ("missing_points", "redemption_problem", "tier_question", "account", "other")
PRIORITIES = ("low", "normal", "high", "urgent")
AROUND_THE_CLOCK = "24x7"
ANY = "*"
DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")
POLICY_FILE_SETTING = "LOYALTY_TICKETS_POLICY_FILE"

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NAME_SHAPE = "1-64 of letters, digits, '.', '_', '-'"
_MAX_MINUTES = 60 * 24 * 365
_MAX_POINTS = 10**9


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    tiers: frozenset[str]
    categories: frozenset[str]
    priority: str
    first_response_minutes: int
    resolution_minutes: int
    hours: str

    def matches(self, tier: str, category: str) -> bool:
        return (ANY in self.tiers or tier in self.tiers) and (ANY in self.categories or category in self.categories)


@dataclass(frozen=True)
class Escalation:
    raise_priority_steps: int
    min_skill_level: int


@dataclass(frozen=True)
class GoodwillLimits:
    agent_limit: int
    ticket_limit: int


@dataclass(frozen=True)
class Policy:
    calendars: dict[str, Calendar]
    sla_policies: tuple[SlaPolicy, ...]
    skills: dict[str, str]
    escalation: Escalation
    goodwill: GoodwillLimits

    def sla_for(self, tier: str, category: str) -> SlaPolicy:
        """The first SLA policy matching; parse_policy guarantees a catch-all."""
        return next(p for p in self.sla_policies if p.matches(tier, category))

    def hours(self, name: str) -> Hours:
        """The calendar of an SLA policy's `hours`; around the clock for 24x7 or a calendar no longer configured."""
        return self.calendars.get(name)


def raised(priority: str, steps: int) -> str:
    return PRIORITIES[min(PRIORITIES.index(priority) + steps, len(PRIORITIES) - 1)]


def load_policy(path: Path | None) -> Policy:
    """The policy file LOYALTY_TICKETS_POLICY_FILE names (the default policy for None).

    A file that cannot be read or is wrong is a SettingsError naming the file and every wrong field, which the
    command line reports in a line: the service does not start on a policy it cannot apply.
    """
    if path is None:
        return parse_policy(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    setting = f"{POLICY_FILE_SETTING}={path}"
    text = read_utf8(path, setting, SettingsError)
    try:
        return parse_policy(text)
    except InvalidArgument as error:
        raise SettingsError(f"{setting}: {error.message}") from None


def parse_policy(text: str) -> Policy:
    violations = Violations()
    document = load_document(text, "policy", what="the tickets policy (docs/tickets.md)")
    root = Section.of(violations, "", document, _ROOT_KEYS)
    if root is None:
        violations.raise_if_any()
        raise AssertionError("unreachable: a violation was recorded")
    calendars = _calendars(root)
    policies = tuple(
        _sla_policy(section, calendars) for section in root.sections("sla_policies", _SLA_KEYS, max_items=200)
    )
    if not any(ANY in p.tiers and ANY in p.categories for p in policies):
        root.refuse("sla_policies", 'needs a catch-all policy with tiers ["*"] and categories ["*"]')
    skills = _skills(root)
    policy = Policy(calendars, policies, skills, _escalation(root), _goodwill(root))
    violations.raise_if_any()
    return policy


_ROOT_KEYS = ("calendars", "sla_policies", "skills", "escalation", "goodwill")
_CALENDAR_KEYS = ("timezone", "weekdays", "opens", "closes")
_SLA_KEYS = ("name", "tiers", "categories", "priority", "first_response_minutes", "resolution_minutes", "hours")


def _calendars(root: Section) -> dict[str, Calendar]:
    calendars = {}
    for name, value in root.mapping("calendars", "calendars by name").items():
        section = Section.of(root.violations, f"calendars.{name}", value, _CALENDAR_KEYS)
        if section is not None:
            calendars[name] = _calendar(name, section)
    return calendars


def _calendar(name: str, section: Section) -> Calendar:
    zone = section.text("timezone", required=True)
    if time_zone(zone) is None:
        section.refuse("timezone", f"{zone!r} is not an IANA time zone")
        zone = "UTC"
    days = frozenset(_WEEKDAYS.index(str(d)) for _, d in section.items("weekdays", max_items=7) if d in _WEEKDAYS)
    if not days or len(days) != len(section.items("weekdays", max_items=7)):
        section.refuse("weekdays", f"must list days among {', '.join(_WEEKDAYS)}, each once")
    opens = section.text("opens", required=True, pattern=_CLOCK, hint="a time HH:MM")
    closes = section.text("closes", required=True, pattern=_CLOCK, hint="a time HH:MM")
    if _CLOCK.fullmatch(opens) and _CLOCK.fullmatch(closes) and opens >= closes:
        section.refuse("closes", "must be after opens")
    parsed = [time.fromisoformat(t) if _CLOCK.fullmatch(t) else time() for t in (opens, closes)]
    return Calendar(name, zone, days, parsed[0], parsed[1])


def _is_tier(value: str) -> bool:
    """A name the program could give a member's tier: any other could never match a ticket."""
    return TIER_NAME_PATTERN.fullmatch(value) is not None


def _names(section: Section, key: str, allowed: tuple[str, ...] | None) -> frozenset[str]:
    names = set()
    for path, value in section.items(key, max_items=100):
        if value == ANY or (isinstance(value, str) and (value in allowed if allowed else _is_tier(value))):
            names.add(value)
        else:
            shape = ", ".join(allowed) if allowed else f"tier names ({TIER_NAME_SHAPE})"
            section.violations.add(path, f"must be {ANY!r} or one of {shape}")
    if not names:
        section.refuse(key, "must list at least one name")
    return frozenset(names)


def _sla_policy(section: Section, calendars: dict[str, Calendar]) -> SlaPolicy:
    hours = section.text("hours", required=True)
    if hours != AROUND_THE_CLOCK and hours not in calendars:
        section.refuse("hours", f"must be {AROUND_THE_CLOCK} or a calendar name")
    return SlaPolicy(
        name=section.text("name", required=True, pattern=_NAME, hint="a name"),
        tiers=_names(section, "tiers", None),
        categories=_names(section, "categories", CATEGORIES),
        priority=section.choice("priority", PRIORITIES, "normal"),
        first_response_minutes=section.integer(
            "first_response_minutes", minimum=1, maximum=_MAX_MINUTES, required=True
        ),
        resolution_minutes=section.integer("resolution_minutes", minimum=1, maximum=_MAX_MINUTES, required=True),
        hours=hours,
    )


def _skills(root: Section) -> dict[str, str]:
    skills = {key: str(value) for key, value in root.mapping("skills", "the skill each category needs").items()}
    for category in CATEGORIES:
        if not _NAME.fullmatch(skill := skills.get(category, "")):
            root.violations.add(f"skills.{category}", required_as(skill, f"the skill name agents need, {_NAME_SHAPE}"))
    for key in set(skills) - set(CATEGORIES):
        root.violations.add(f"skills.{key}", f"unknown category; expected one of {', '.join(CATEGORIES)}")
    return skills


def _escalation(root: Section) -> Escalation:
    section = root.section("escalation", ("raise_priority_steps", "min_skill_level"), required=True)
    if section is None:
        return Escalation(1, 1)
    return Escalation(
        raise_priority_steps=section.integer("raise_priority_steps", minimum=0, maximum=3, default=1),
        min_skill_level=section.integer("min_skill_level", minimum=1, maximum=5, default=1),
    )


def _goodwill(root: Section) -> GoodwillLimits:
    section = root.section("goodwill", ("agent_limit", "ticket_limit"), required=True)
    if section is None:
        return GoodwillLimits(0, 0)
    return GoodwillLimits(
        agent_limit=section.integer("agent_limit", minimum=0, maximum=_MAX_POINTS, required=True),
        ticket_limit=section.integer("ticket_limit", minimum=0, maximum=_MAX_POINTS, required=True),
    )
