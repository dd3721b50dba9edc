"""Skills-based routing: which agent takes a ticket, and which queued tickets agents take. Pure.

An agent qualifies for a ticket when available, under capacity, skilled in
the ticket's required skill (at least `min_level`), speaking its language and
serving its tier (an agent with no tiers serves all). Among those the highest
skill level wins, then the least load, then whoever was given a ticket least
recently (round-robin: `last_assigned` is a global assignment sequence, 0 for
never), then the agent id so the choice is always deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class AgentState:
    agent_id: str
    available: bool
    skills: Mapping[str, int]
    languages: frozenset[str]
    tiers: frozenset[str]
    capacity: int
    load: int
    last_assigned: int


@dataclass(frozen=True)
class Need:
    """What a ticket needs of its agent."""

    skill: str
    language: str
    tier: str
    min_level: int = 1
    excluded: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Assignment:
    ticket_id: str
    agent_id: str


def qualifies(agent: AgentState, need: Need) -> bool:
    return not unmet(agent, need)


def unmet(agent: AgentState, need: Need) -> list[str]:
    """Why the agent does not qualify for the need, each condition that fails in words ([] when it qualifies)."""
    level = agent.skills.get(need.skill, 0)
    checks = [
        (agent.available, "is not available"),
        (agent.load < agent.capacity, f"has no room (load {agent.load} of {agent.capacity})"),
        (agent.agent_id not in need.excluded, "is the agent the ticket is moving from"),
        (level > 0, f"does not have skill {need.skill!r}"),
        (not level or level >= need.min_level, f"has skill {need.skill!r} at level {level}, below {need.min_level}"),
        (need.language in agent.languages, f"does not speak language {need.language!r} ({_listed(agent.languages)})"),
        (not agent.tiers or need.tier in agent.tiers, f"does not serve tier {need.tier!r} ({_listed(agent.tiers)})"),
    ]
    return [reason for met, reason in checks if not met]


def _listed(names: frozenset[str]) -> str:
    return "only " + ", ".join(repr(name) for name in sorted(names))


def choose(agents: Sequence[AgentState], need: Need) -> AgentState | None:
    """The best-qualified agent for the need, or None when nobody qualifies."""
    candidates = [a for a in agents if qualifies(a, need)]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (-a.skills[need.skill], a.load, a.last_assigned, a.agent_id))


def took_ticket(agent: AgentState, sequence: int) -> AgentState:
    return replace(agent, load=agent.load + 1, last_assigned=sequence)


def drain(queue: Sequence[tuple[str, Need]], agents: Sequence[AgentState], next_sequence: int) -> list[Assignment]:
    """Assign queued tickets (already in queue order) while anyone qualifies.

    Each assignment counts towards the agent's load and rotation before the
    next ticket is routed; `next_sequence` is the first unused assignment sequence.
    """
    states = {a.agent_id: a for a in agents}
    assignments = []
    for ticket_id, need in queue:
        chosen = choose(list(states.values()), need)
        if chosen is None:
            continue
        states[chosen.agent_id] = took_ticket(chosen, next_sequence)
        next_sequence += 1
        assignments.append(Assignment(ticket_id, chosen.agent_id))
    return assignments
