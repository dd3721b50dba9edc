"""A ticket's life with an injected clock: policy by tier and category, replies, waiting, breaches, goodwill limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument, Violations
from services.tickets import domain
from services.tickets.agents import Agent, validate_agent
from services.tickets.goodwill import over_limit, require_second_agent
from services.tickets.policy import DEFAULT_POLICY_FILE, GoodwillLimits, load_policy, parse_policy

POLICY = load_policy(None)
MONDAY_10 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def new(category: str = "account", claim: domain.Claim | None = None, language: str = "en") -> domain.NewTicket:
    return domain.NewTicket("alice", category, "email", "help", "details", language, claim)


def open_ticket(tier: str, category: str = "account", at: datetime = MONDAY_10) -> domain.Ticket:
    claim = domain.Claim("order-1", "", "", 0) if category == "missing_points" else None
    return domain.opened(new(category, claim), uuid.uuid4(), tier, POLICY, at)


def test_top_tier_gets_one_hour_first_response_and_eight_hours_around_the_clock() -> None:
    saturday = datetime(2026, 11, 21, 22, tzinfo=UTC)
    ticket = open_ticket("gold", at=saturday)
    assert (ticket.sla_policy, ticket.priority, ticket.hours) == ("top-tier", "high", "24x7")
    assert ticket.first_response_due == saturday + timedelta(hours=1)
    assert ticket.resolution_due == saturday + timedelta(hours=8)


def test_base_tier_waits_for_business_hours_and_claims_need_the_claims_skill() -> None:
    friday_16 = datetime(2026, 11, 20, 16, tzinfo=UTC)
    ticket = open_ticket("base", "missing_points", at=friday_16)
    assert (ticket.sla_policy, ticket.priority, ticket.required_skill) == ("standard-claims", "normal", "claims")
    # 8 working hours: 1 on Friday, 7 on Monday.
    assert ticket.first_response_due == datetime(2026, 11, 23, 16, tzinfo=UTC)
    assert open_ticket("base", "other").sla_policy == "standard"


def test_first_agent_reply_stops_first_response_and_waiting_pauses_resolution() -> None:
    ticket = open_ticket("gold")
    replied = domain.agent_replied(ticket, None, MONDAY_10 + timedelta(minutes=30), awaiting_member=True)
    assert replied.first_responded_at == MONDAY_10 + timedelta(minutes=30)
    assert not replied.first_response_breached
    assert (replied.status, replied.resolution_due, replied.resolution_used_s) == ("waiting_on_member", None, 1800)
    # Two days later the member answers: 7.5 hours of the 8 are left.
    answer_at = MONDAY_10 + timedelta(days=2)
    answered = domain.member_replied(replied, None, answer_at)
    assert answered.status == "open"
    assert answered.resolution_due == answer_at + timedelta(hours=7, minutes=30)
    assert domain.due_breaches(answered, answer_at + timedelta(hours=7)) == []


def test_late_first_reply_counts_as_breached() -> None:
    ticket = open_ticket("gold")
    late = domain.agent_replied(ticket, None, MONDAY_10 + timedelta(hours=2), awaiting_member=False)
    assert late.first_response_breached


def test_breaches_are_reported_once_and_raise_priority() -> None:
    ticket = open_ticket("gold")
    later = MONDAY_10 + timedelta(hours=9)
    due = domain.due_breaches(ticket, later)
    assert due == [("first_response", MONDAY_10 + timedelta(hours=1)), ("resolution", MONDAY_10 + timedelta(hours=8))]
    escalated = domain.escalated(ticket, [sla for sla, _ in due], POLICY.escalation)
    assert (escalated.priority, escalated.first_response_breached, escalated.resolution_breached) == (
        "urgent",
        True,
        True,
    )
    assert domain.due_breaches(escalated, later) == []


def test_resolve_reopen_keeps_the_budget_left() -> None:
    ticket = open_ticket("gold")
    done = domain.resolved(ticket, None, MONDAY_10 + timedelta(hours=2), "fixed")
    assert (done.status, done.resolution_due, done.queued_at) == ("resolved", None, None)
    with pytest.raises(FailedPrecondition):
        domain.resolved(done, None, MONDAY_10 + timedelta(hours=3), "again")
    with pytest.raises(FailedPrecondition):
        domain.agent_replied(done, None, MONDAY_10 + timedelta(hours=3), awaiting_member=False)
    back = domain.reopened(done, None, MONDAY_10 + timedelta(hours=5))
    assert back.status == "open"
    assert back.resolution_due == MONDAY_10 + timedelta(hours=11)
    with pytest.raises(FailedPrecondition):
        domain.reopened(back, None, MONDAY_10 + timedelta(hours=6))


@pytest.mark.parametrize(
    ("ticket", "field"),
    [
        (new("missing_points"), "claim"),
        (new("account", domain.Claim("order-1", "", "", 0)), "claim"),
        (new("missing_points", domain.Claim("", "", "", 0)), "claim.purchase_id"),
        (new("missing_points", domain.Claim("", "airline", "", 0)), "claim.partner_transaction_id"),
        (new("missing_points", domain.Claim("", "Air Line", "tx-9", 0)), "claim.partner_id"),
        (new("missing_points", domain.Claim("order-1", "airline", "tx-9", 0)), "claim.purchase_id"),
        (new("missing_points", domain.Claim("order-1", "", "", -5)), "claim.expected_points"),
        (new(language="english"), "language"),
        (domain.NewTicket("", "other", "web", "s", "", "en", None), "member_id"),
        (domain.NewTicket("bob", "other", "web", " ", "", "en", None), "subject"),
    ],
)
def test_open_request_names_the_wrong_field(ticket: domain.NewTicket, field: str) -> None:
    violations = Violations()
    domain.validate_new_ticket(ticket, violations)
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    assert [v.field for v in caught.value.violations] == [field]


@pytest.mark.parametrize(
    ("purchase_id", "description"),
    [
        ("", "is required: 1-128 printable ASCII characters without spaces (or partner_id and partner_transaction_id)"),
        ("bad id with spaces", "must be 1-128 printable ASCII characters without spaces"),
        ("x" * 129, "must be 1-128 printable ASCII characters without spaces"),
    ],
)
def test_a_claimed_purchase_id_of_the_wrong_shape_is_not_called_missing(purchase_id: str, description: str) -> None:
    violations = Violations()
    domain.validate_new_ticket(new("missing_points", domain.Claim(purchase_id, "", "", 0)), violations)
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    assert [(v.field, v.description) for v in caught.value.violations] == [("claim.purchase_id", description)]


def test_goodwill_limits() -> None:
    limits = GoodwillLimits(agent_limit=500, ticket_limit=2000)
    assert over_limit(500, None, limits) == ""
    assert over_limit(501, None, limits) == "agent limit 500"
    assert over_limit(1500, 3000, limits) == ""
    assert over_limit(2500, 3000, limits) == "ticket limit 2000"
    assert over_limit(100, 50, limits) == "agent limit 50"
    assert over_limit(2500, None, limits) == "agent limit 500, ticket limit 2000"
    with pytest.raises(FailedPrecondition):
        require_second_agent("ann", "ann")
    require_second_agent("ann", "bea")


def test_policy_file_errors_name_the_field() -> None:
    text = """
calendars: {office: {timezone: Mars/Base, weekdays: [mon, funday], opens: "18:00", closes: "09:00"}}
sla_policies:
  - {name: gold, tiers: [gold, "Gold!", SILVER], categories: [lost_luggage], priority: asap,
     first_response_minutes: 0, resolution_minutes: 60, hours: nights}
skills: {missing_points: claims}
escalation: {raise_priority_steps: 1, min_skill_level: 9}
goodwill: {agent_limit: 100, ticket_limit: 200}
"""
    with pytest.raises(InvalidArgument) as caught:
        parse_policy(text)
    fields = {v.field for v in caught.value.violations}
    assert {
        "calendars.office.timezone",
        "calendars.office.weekdays",
        "calendars.office.closes",
        "sla_policies[0].categories[0]",
        "sla_policies[0].tiers[1]",  # no member's tier could ever match it
        "sla_policies[0].tiers[2]",
        "sla_policies[0].priority",
        "sla_policies[0].first_response_minutes",
        "sla_policies[0].hours",
        "sla_policies",
        "skills.account",
        "escalation.min_skill_level",
    } <= fields


def test_an_agent_naming_a_skill_a_language_or_a_tier_twice_is_refused_naming_the_list() -> None:
    entries = [("claims", 3), ("claims", 4)]
    twice = Agent("ann", "Ann", dict(entries), ("en", "en", "en"), ("gold", "gold"), 5, "available", None)
    violations = Violations()
    validate_agent(twice, entries, violations)
    with pytest.raises(InvalidArgument) as refused:
        violations.raise_if_any()
    assert {v.field: v.description for v in refused.value.violations} == {
        "agent.skills": "must name each skill once",
        "agent.languages": "must name each language once",
        "agent.tiers": "must name each tier once",
    }


def test_an_unquoted_time_of_day_in_the_policy_is_text_not_a_base_60_number() -> None:
    # YAML 1.1 reads 17:30 as 1050, which closes refused as no text.
    text = DEFAULT_POLICY_FILE.read_text().replace('closes: "17:00"', "closes: 17:30")
    assert {c.closes for c in parse_policy(text).calendars.values()} == {time(17, 30)}
