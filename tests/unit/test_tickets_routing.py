"""Routing picks the expected agent: skill and language first, then level, then load, then round-robin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.tickets.routing import AgentState, Need, choose, drain, unmet


def agent(
    agent_id: str,
    *,
    skills: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("en",),
    tiers: tuple[str, ...] = (),
    capacity: int = 5,
    load: int = 0,
    last_assigned: int = 0,
    available: bool = True,
) -> AgentState:
    return AgentState(
        agent_id=agent_id,
        available=available,
        skills=skills if skills is not None else {"claims": 3},
        languages=frozenset(languages),
        tiers=frozenset(tiers),
        capacity=capacity,
        load=load,
        last_assigned=last_assigned,
    )


CLAIM_EN = Need(skill="claims", language="en", tier="gold")

CASES = [
    ("only the skilled agent", [agent("a", skills={"tiers": 5}), agent("b")], CLAIM_EN, "b"),
    ("only the agent speaking the language", [agent("a", languages=("de",)), agent("b")], CLAIM_EN, "b"),
    ("skill beats load", [agent("a", skills={"claims": 2}), agent("b", skills={"claims": 4}, load=3)], CLAIM_EN, "b"),
    ("least load at equal level", [agent("a", load=2), agent("b", load=1)], CLAIM_EN, "b"),
    ("tie: least recently assigned", [agent("a", last_assigned=7), agent("b", last_assigned=3)], CLAIM_EN, "b"),
    ("tie: never assigned first", [agent("a", last_assigned=1), agent("b")], CLAIM_EN, "b"),
    ("full agents skipped", [agent("a", skills={"claims": 5}, capacity=2, load=2), agent("b")], CLAIM_EN, "b"),
    ("unavailable agents skipped", [agent("a", skills={"claims": 5}, available=False), agent("b")], CLAIM_EN, "b"),
    ("tier-restricted agent skipped", [agent("a", skills={"claims": 5}, tiers=("base",)), agent("b")], CLAIM_EN, "b"),
    (
        "tier-restricted agent serves its tier",
        [agent("a", skills={"claims": 5}, tiers=("gold",)), agent("b")],
        CLAIM_EN,
        "a",
    ),
    ("nobody qualifies", [agent("a", languages=("fr",)), agent("b", skills={"general": 5})], CLAIM_EN, None),
    ("escalation needs a level", [agent("a", skills={"claims": 2})], Need("claims", "en", "gold", min_level=3), None),
    (
        "escalation excludes the assignee",
        [agent("a", skills={"claims": 5}), agent("b")],
        Need("claims", "en", "gold", excluded=frozenset({"a"})),
        "b",
    ),
    ("identical agents: by id", [agent("b"), agent("a")], CLAIM_EN, "a"),
]


@pytest.mark.parametrize(("agents", "need", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_choose(agents: list[AgentState], need: Need, expected: str | None) -> None:
    chosen = choose(agents, need)
    assert (chosen.agent_id if chosen else None) == expected


def test_equal_agents_take_turns_round_robin() -> None:
    queue = [(f"t{i}", CLAIM_EN) for i in range(6)]
    planned = drain(queue, [agent("a", capacity=10), agent("b", capacity=10), agent("c", capacity=10)], 1)
    assert [a.agent_id for a in planned] == ["a", "b", "c", "a", "b", "c"]


def test_drain_stops_at_capacity_and_leaves_the_rest_queued() -> None:
    queue = [("t1", CLAIM_EN), ("t2", Need("tiers", "en", "gold")), ("t3", CLAIM_EN), ("t4", CLAIM_EN)]
    planned = drain(queue, [agent("a", capacity=2, load=0)], 1)
    assert [(a.ticket_id, a.agent_id) for a in planned] == [("t1", "a"), ("t3", "a")]


def test_drain_balances_load_before_rotation() -> None:
    # b already holds two tickets: a takes the next two, then they alternate.
    planned = drain([(f"t{i}", CLAIM_EN) for i in range(4)], [agent("a"), agent("b", load=2)], 5)
    assert [a.agent_id for a in planned] == ["a", "a", "b", "a"]


def test_every_condition_an_agent_fails_is_named_and_none_when_it_qualifies() -> None:
    senior = Need(skill="claims", language="en", tier="gold", min_level=4, excluded=frozenset({"a"}))
    everything_wrong = agent("a", skills={"claims": 3}, languages=("de",), tiers=("base",), capacity=2, load=2)
    assert unmet(replace(everything_wrong, available=False), senior) == [
        "is not available",
        "has no room (load 2 of 2)",
        "is the agent the ticket is moving from",
        "has skill 'claims' at level 3, below 4",
        "does not speak language 'en' (only 'de')",
        "does not serve tier 'gold' (only 'base')",
    ]
    assert unmet(agent("b", skills={"tiers": 5}), senior) == ["does not have skill 'claims'"]
    assert unmet(agent("c", skills={"claims": 4}), senior) == []
