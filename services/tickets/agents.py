"""Agents: validation and their routing state. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import Violations, check_each_once
from services.common.tier_names import check_tier_name
from services.tickets.domain import LANGUAGE_PATTERN, require_id, require_text
from services.tickets.routing import AgentState

STATUSES = ("available", "busy", "away")
SKILL_LEVELS = range(1, 6)
# As the database checks it (ASCII only: str.isalnum() would let 'é' through to a refused insert).
SKILL_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_CAPACITY = 100
MAX_GOODWILL_LIMIT = 10**9


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    tiers: tuple[str, ...]
    capacity: int
    status: str
    # None: the policy's agent limit.
    goodwill_limit: int | None
    last_assigned: int = 0
    load: int = 0

    def state(self) -> AgentState:
        return AgentState(
            agent_id=self.agent_id,
            available=self.status == "available",
            skills=self.skills,
            languages=frozenset(self.languages),
            tiers=frozenset(self.tiers),
            capacity=self.capacity,
            load=self.load,
            last_assigned=self.last_assigned,
        )


def validate_agent(agent: Agent, skill_entries: list[tuple[str, int]], violations: Violations) -> None:
    """Records every problem of an UpsertAgent request; `skill_entries` as given, to catch repeats."""
    require_id(violations, "agent.agent_id", agent.agent_id)
    require_text(violations, "agent.display_name", agent.display_name, 200, required=False)
    _validate_skills(skill_entries, violations)
    _validate_languages(agent.languages, violations)
    for index, tier in enumerate(agent.tiers):
        check_tier_name(violations, f"agent.tiers[{index}]", tier)
    check_each_once(violations, "agent.tiers", agent.tiers, "tier")
    if not 1 <= agent.capacity <= MAX_CAPACITY:
        violations.add("agent.capacity", f"must be between 1 and {MAX_CAPACITY}")
    if agent.goodwill_limit is not None and not 0 <= agent.goodwill_limit <= MAX_GOODWILL_LIMIT:
        violations.add("agent.goodwill_limit", f"must be between 0 and {MAX_GOODWILL_LIMIT}")


def _validate_skills(skill_entries: list[tuple[str, int]], violations: Violations) -> None:
    if not skill_entries:
        violations.add("agent.skills", "must list at least one skill")
    for index, (skill, level) in enumerate(skill_entries):
        if not SKILL_NAME.fullmatch(skill):
            violations.add(f"agent.skills[{index}].skill", "must be 1-64 of A-Z, a-z, 0-9, '-', '_', '.'")
        if level not in SKILL_LEVELS:
            violations.add(f"agent.skills[{index}].level", "must be between 1 and 5")
    check_each_once(violations, "agent.skills", [skill for skill, _ in skill_entries], "skill")


def _validate_languages(languages: tuple[str, ...], violations: Violations) -> None:
    if not languages:
        violations.add("agent.languages", "must list at least one language")
    for index, language in enumerate(languages):
        if not LANGUAGE_PATTERN.fullmatch(language):
            violations.add(f"agent.languages[{index}]", "must be a 2-letter lower-case language code")
    # Stored as listed and shown back by GetAgent, a repeat would stay, though routing reads the list as a set.
    check_each_once(violations, "agent.languages", languages, "language")
