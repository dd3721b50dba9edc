"""A value given but of the wrong shape is refused saying what it must be; `is required` is for a missing one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import asyncpg
import pytest
from loyalty.events.v1.tickets_pb2 import GoodwillGranted

from services.common.errors import InvalidArgument, Violations
from services.points import accrual_cancellation, goodwill
from services.points.partner_application import PartnerApplication
from services.rewards import codes_application
from services.tickets import domain as tickets_domain
from services.tickets.policy import DEFAULT_POLICY_FILE, parse_policy

ID_SHAPE = "1-128 printable ASCII characters without spaces"


def _refusal(call: Callable[[], object], field: str) -> str:
    with pytest.raises(InvalidArgument) as refused:
        call()
    return {v.field: v.description for v in refused.value.violations}[field]


@pytest.mark.parametrize(
    ("transaction_id", "description"),
    [
        ("", f"is required: {ID_SHAPE}"),
        ("abc def", f"must be {ID_SHAPE}"),
        ("ÄBC", f"must be {ID_SHAPE}"),
        ("x" * 129, f"must be {ID_SHAPE}"),
    ],
)
def test_a_cancelled_transaction_id(transaction_id: str, description: str) -> None:
    call = lambda: accrual_cancellation._validate(transaction_id, "refunded")  # noqa: E731
    assert _refusal(call, "partner_transaction_id") == description


@pytest.mark.parametrize(
    ("code", "description"),
    [
        ("", "is required: at most 64 characters"),
        (" ", "is required: at most 64 characters"),
        ("C" * 300, "must be at most 64 characters"),
    ],
)
def test_a_code(code: str, description: str) -> None:
    assert _refusal(lambda: codes_application._code_from(code), "code") == description


@pytest.mark.parametrize(
    ("ticket_id", "description"),
    [("", "is required: at most 64 characters"), ("t" * 65, "must be at most 64 characters")],
)
def test_a_goodwill_ticket_id(ticket_id: str, description: str) -> None:
    grant = GoodwillGranted(ticket_id=ticket_id, member_id="m-1", points=5, reason="sorry", granted_by="agent-1")
    assert _refusal(lambda: goodwill.validate_grant(grant), "ticket_id") == description


@pytest.mark.parametrize(
    ("partner_id", "starts"), [("", "is required: 1-64 of a-z"), ("Air Line", "must be 1-64 of a-z")]
)
def test_a_claimed_partner_id(partner_id: str, starts: str) -> None:
    violations = Violations()
    claim = tickets_domain.Claim("", partner_id, "tx-9", 0)
    tickets_domain.validate_new_ticket(
        tickets_domain.NewTicket("bob", "missing_points", "web", "s", "", "en", claim), violations
    )
    assert _refusal(violations.raise_if_any, "claim.partner_id").startswith(starts)


@pytest.mark.parametrize(
    ("skill", "starts"), [('""', "is required: the skill name"), ('"two words"', "must be the skill name")]
)
def test_a_policy_skill(skill: str, starts: str) -> None:
    text = DEFAULT_POLICY_FILE.read_text().replace("  account: accounts", f"  account: {skill}")
    assert _refusal(lambda: parse_policy(text), "skills.account").startswith(starts)


@pytest.mark.parametrize(("kind", "starts"), [("", "is required: one of "), ("bank", "must be one of ")])
def test_a_partner_kind(kind: str, starts: str) -> None:
    partners = PartnerApplication(cast(asyncpg.Pool, None))  # refused before the database is asked
    assert _refusal(lambda: asyncio.run(partners.register("airline", "Air", kind)), "kind").startswith(starts)
