"""Bonuses for actions: the signup bonus on enrolment and RecordActivity within each activity's limit."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.events import decode
from services.points.application import PointsApplication
from services.points.bonuses import ActivityRecord
from services.points.domain import Enrollment
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import events_of, new_id

PROGRAM = """
id: cafe-club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
expiry:
  months_after_earning: 12
bonuses:
  signup: {points: 500}
  activities:
    - {id: newsletter-optin, description: Newsletter opt-in, points: 100}
    - {id: review, points: 50, limit: {count: 2, per: month}}
"""


@pytest.fixture
async def bonus_app(pool: asyncpg.Pool) -> PointsApplication:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM)
    return PointsApplication(pool, 2, programs)


async def enrolled(app: PointsApplication) -> str:
    return (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id


def activity(member_id: str, activity_id: str, key: str = "", at: datetime | None = None) -> ActivityRecord:
    return ActivityRecord(member_id, activity_id, key or new_id("k"), at or datetime.now(UTC))


async def earned_events(pool: asyncpg.Pool, member_id: str) -> list[events.PointsEarned]:
    async with pool.acquire() as connection:
        rows = await connection.fetch("SELECT envelope FROM outbox WHERE message_key = $1 ORDER BY id", member_id)
    payloads = [decode(row["envelope"], [])[1] for row in rows]
    return [p for p in payloads if isinstance(p, events.PointsEarned)]


async def test_enrolling_under_a_program_with_a_signup_bonus_credits_it_once(
    pool: asyncpg.Pool, bonus_app: PointsApplication
) -> None:
    member_id = await enrolled(bonus_app)
    balances = await LedgerApplication(pool).balances(member_id)
    assert (balances.available, balances.pending) == (500, 0)
    page = await bonus_app.entries(member_id, 0, "")
    assert [(e.kind, e.points, e.idempotency_key) for e in page.entries] == [("bonus", 500, f"signup:{member_id}")]
    assert [(e.points, e.reason, e.balance_after) for e in await earned_events(pool, member_id)] == [
        (500, "signup", 500)
    ]
    async with pool.acquire() as connection:
        expires_at = await connection.fetchval("SELECT expires_at FROM lots WHERE member_id = $1", member_id)
    assert expires_at is not None


async def test_enrolling_without_a_program_credits_nothing(pool: asyncpg.Pool, app: PointsApplication) -> None:
    member_id = await enrolled(app)
    assert (await app.member(member_id)).balance == 0
    assert (await app.entries(member_id, 0, "")).entries == []
    with pytest.raises(FailedPrecondition, match="occurred_at"):
        await app.record_activity(activity(member_id, "newsletter-optin"))


async def test_a_once_only_activity_credits_once_and_then_is_refused(
    pool: asyncpg.Pool, bonus_app: PointsApplication
) -> None:
    member_id = await enrolled(bonus_app)
    first = await bonus_app.record_activity(activity(member_id, "newsletter-optin"))
    assert (first.points_earned, first.duplicate, first.balance, first.entry.kind) == (100, False, 600, "bonus")
    assert json.loads(first.entry.breakdown)[0]["source"] == "activity:newsletter-optin"
    with pytest.raises(FailedPrecondition, match="activity_id"):
        await bonus_app.record_activity(activity(member_id, "newsletter-optin"))
    later = datetime.now(UTC) - timedelta(days=400)
    with pytest.raises(FailedPrecondition, match="activity_id"):
        await bonus_app.record_activity(activity(member_id, "newsletter-optin", at=later))
    assert (await bonus_app.member(member_id)).balance == 600
    reasons = [e.reason for e in await earned_events(pool, member_id)]
    assert reasons == ["signup", "activity:newsletter-optin"]


async def test_a_per_month_activity_credits_up_to_its_count_in_each_calendar_month(
    bonus_app: PointsApplication,
) -> None:
    member_id = await enrolled(bonus_app)
    this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=10)
    for at in (last_month, last_month + timedelta(days=15)):
        assert (await bonus_app.record_activity(activity(member_id, "review", at=at))).points_earned == 50
    with pytest.raises(FailedPrecondition, match=r"review.*2 per calendar month"):
        await bonus_app.record_activity(activity(member_id, "review", at=this_month - timedelta(hours=1)))
    next_one = await bonus_app.record_activity(activity(member_id, "review", at=this_month))
    assert (next_one.points_earned, next_one.balance) == (50, 650)


async def test_an_activity_reported_after_its_points_term_earns_points_that_expire_at_once(
    bonus_app: PointsApplication, pool: asyncpg.Pool
) -> None:
    member_id = await enrolled(bonus_app)  # 500 signup points
    long_ago = datetime.now(UTC) - timedelta(days=400)  # points expire 12 months after earning
    late = await bonus_app.record_activity(activity(member_id, "review", at=long_ago))
    assert (late.points_earned, late.balance) == (50, 500)
    assert (await bonus_app.member(member_id)).balance == 500
    # The credit, then its expiry: the credit's balance_after is before the expiry that follows it.
    *_, earned, expired = await events_of(pool, member_id, (events.PointsEarned, events.PointsExpired))
    assert isinstance(earned, events.PointsEarned) and isinstance(expired, events.PointsExpired)
    assert (earned.points, earned.balance_after, expired.points) == (50, 550, 50)


async def test_a_repeated_idempotency_key_returns_the_first_result(bonus_app: PointsApplication) -> None:
    member_id = await enrolled(bonus_app)
    first = await bonus_app.record_activity(activity(member_id, "newsletter-optin", key="optin-1"))
    again = await bonus_app.record_activity(activity(member_id, "newsletter-optin", key="optin-1"))
    assert (again.duplicate, again.points_earned, again.entry.entry_id) == (True, 100, first.entry.entry_id)
    assert (await bonus_app.member(member_id)).balance == 600


async def test_unknown_activities_members_and_missing_fields_are_refused(bonus_app: PointsApplication) -> None:
    member_id = await enrolled(bonus_app)
    with pytest.raises(InvalidArgument) as caught:
        await bonus_app.record_activity(activity(member_id, "tweet"))
    assert [v.field for v in caught.value.violations] == ["activity_id"]
    with pytest.raises(NotFound, match="member_id"):
        await bonus_app.record_activity(activity(new_id("ghost"), "review"))
    with pytest.raises(InvalidArgument) as caught:
        await bonus_app.record_activity(ActivityRecord("", "", "", datetime.min))
    assert {v.field for v in caught.value.violations} == {"member_id", "activity_id", "idempotency_key", "occurred_at"}


async def test_concurrent_calls_on_a_once_only_activity_credit_exactly_once(bonus_app: PointsApplication) -> None:
    member_id = await enrolled(bonus_app)
    results = await asyncio.gather(
        *(bonus_app.record_activity(activity(member_id, "newsletter-optin")) for _ in range(20)),
        return_exceptions=True,
    )
    credited = [r for r in results if not isinstance(r, BaseException)]
    assert len(credited) == 1
    assert all(isinstance(r, FailedPrecondition) for r in results if isinstance(r, BaseException))
    assert (await bonus_app.member(member_id)).balance == 600


async def test_a_repeated_idempotency_key_answers_the_balance_it_was_first_answered_with(
    bonus_app: PointsApplication,
) -> None:
    """RecordActivityResponse.balance is "the member's balance after the activity": a later credit of the
    member must not change what the repeat answers."""
    member_id = await enrolled(bonus_app)  # 500 signup points
    first = await bonus_app.record_activity(activity(member_id, "review", key="review-1"))
    await bonus_app.record_activity(activity(member_id, "newsletter-optin"))

    again = await bonus_app.record_activity(activity(member_id, "review", key="review-1"))

    assert (first.balance, again.duplicate, again.balance) == (550, True, 550)
    assert (await bonus_app.member(member_id)).balance == 650
