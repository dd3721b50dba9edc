"""Goodwill rules: limits, second-agent approval, the points-side idempotency key. Pure.

An agent may grant up to their own limit (the agent's goodwill_limit, else the
policy's agent_limit) and a ticket may receive up to the policy's
ticket_limit without approval; above either a second, different agent must
approve before anything is credited, and only one whose own limit covers the
points. The points service credits a grant
once per ticket (services/points/goodwill.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import FailedPrecondition, Violations
from services.common.text_fields import check_line, is_blank
from services.tickets.policy import GoodwillLimits

MAX_GOODWILL_POINTS = 10_000_000
MAX_REASON = 500


@dataclass(frozen=True)
class GoodwillRequest:
    points: int
    reason: str


def validate(request: GoodwillRequest, violations: Violations) -> None:
    if request.points < 0 or request.points > MAX_GOODWILL_POINTS:
        violations.add("goodwill_points", f"must be between 0 and {MAX_GOODWILL_POINTS}")
    if request.points > 0 and is_blank(request.reason):
        violations.add("goodwill_reason", "is required with goodwill_points")
    else:
        check_line(violations, "goodwill_reason", request.reason, max_length=MAX_REASON)


def own_limit(agent_limit: int | None, limits: GoodwillLimits) -> int:
    """What an agent may grant on their own: their goodwill_limit, else the policy's agent_limit."""
    return limits.agent_limit if agent_limit is None else agent_limit


def over_limit(points: int, agent_limit: int | None, limits: GoodwillLimits) -> str:
    """The limits the grant exceeds, each with its value ("" when within both)."""
    own = own_limit(agent_limit, limits)
    exceeded = [(name, limit) for name, limit in (("agent", own), ("ticket", limits.ticket_limit)) if points > limit]
    return ", ".join(f"{name} limit {limit}" for name, limit in exceeded)


def require_second_agent(granted_by: str, approver: str) -> None:
    if granted_by == approver:
        raise FailedPrecondition("approver_agent_id: goodwill needs a second agent; the granting agent cannot approve")


def require_approver_authority(points: int, approver: str, approver_limit: int | None, limits: GoodwillLimits) -> None:
    """The approver must be allowed to grant the amount themselves: approval is a second agent's authority for
    the points, not a mere second signature. The ticket limit does not bind the approver (it is what sends a grant
    for approval: binding the approver too, a grant above it could never be paid)."""
    own = own_limit(approver_limit, limits)
    if points > own:
        raise FailedPrecondition(
            f"approver_agent_id: agent {approver!r} has a goodwill limit of {own} points, below the grant's {points}; "
            "an agent whose limit covers it must approve"
        )
