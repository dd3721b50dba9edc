"""A partner accrual's points take the expiry term of the program version in force on the activity date, as a
purchase's take the one in force at its occurred_at; none before any program. Their pending days stay those of the
version in force when the record is received, counted from then. Over the gRPC stream and the Kafka intake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import grpc
from aiokafka import AIOKafkaProducer
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2_grpc

from services.common.events import timestamp
from services.common.settings import KafkaSettings
from services.points.application import PointsApplication
from services.points.domain import Enrollment
from services.points.partner_accrual import EARLIEST_ACTIVITY_DATE
from services.points.program import add_months
from services.points.program_application import ProgramApplication
from tests.integration.partner_support import admin, airline, auth, balance, enroll, flight, intake
from tests.integration.points_ledger_support import new_id
from tests.integration.support import TopicFactory, eventually, running
from tests.integration.test_partner_accrual_consumer import balance_is, hotel, partner_consumer, send, stay
from tests.integration.test_points_grpc import purchase_request

__all__ = ["admin", "intake"]

# The long term and the short one: which of them a lot got says which version gave it.
LONG_TERM, SHORT_TERM = 34, 1
# The program switches to the short term this many days ago; the activities are of a day before that.
SWITCHED_DAYS_AGO, ACTIVITY_DAYS_AGO = 3, 10


def version(effective_from: date, months_after_earning: int, pending_days: int) -> str:
    return (
        f"id: coalition\neffective_from: {effective_from.isoformat()}\ncurrency: USD\n"
        f"earning: {{base_rates: {{USD: 1}}}}\npending: {{days: {pending_days}}}\n"
        f"expiry: {{months_after_earning: {months_after_earning}}}\n"
    )


async def long_then_short_term(pool: asyncpg.Pool) -> date:
    """Version 1 (from 2024) with the long term and 5 pending days, then version 2 (since a few days ago) with the
    short term and 2 pending days; returns the day of the activities, under version 1."""
    today = datetime.now(UTC).date()
    programs = ProgramApplication(pool)
    await programs.apply(version(date(2024, 1, 1), LONG_TERM, pending_days=5))
    await programs.apply(version(today - timedelta(days=SWITCHED_DAYS_AGO), SHORT_TERM, pending_days=2))
    return today - timedelta(days=ACTIVITY_DAYS_AGO)


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def accrual_lot(pool: asyncpg.Pool, partner_id: str, transaction_id: str) -> asyncpg.Record:
    lot = await pool.fetchrow(
        """SELECT l.earned_at, l.expires_at FROM lots l JOIN ledger_entries e USING (entry_id)
            WHERE e.idempotency_key = $1""",
        f"partner:{partner_id}:{transaction_id}",
    )
    assert lot is not None
    return lot


async def expired_points(pool: asyncpg.Pool, member_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT coalesce(sum(points), 0) FROM ledger_entries WHERE member_id = $1 AND kind = 'expiry'", member_id
        )
    )


async def test_a_streamed_accrual_takes_the_term_in_force_on_its_activity_date_as_a_purchase_of_that_day_does(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    activity_day = await long_then_short_term(pool)
    partner_id, key = await airline(admin, since=EARLIEST_ACTIVITY_DATE)
    member = await enroll(channel)
    day = activity_day.isoformat()
    records = [
        flight("under-v1", member, "100", activity_date=day),
        flight("under-v1-pending", member, "10", activity_date=day, pending=True),
        flight("before-any-program", member, "1000", activity_date="2000-01-02"),
    ]

    async def batches() -> AsyncIterator[pb.AccrualBatch]:
        yield pb.AccrualBatch(records=records)

    answers = [answer async for answer in intake.StreamAccruals(batches(), metadata=auth(key))]
    assert [r.status for r in answers[0].results] == [pb.ACCRUAL_STATUS_ACCEPTED] * 3
    purchase = purchase_request(member, occurred_at=timestamp(start_of(activity_day)))
    bought = await points_pb2_grpc.PointsServiceStub(channel).RecordPurchase(purchase)

    lot = await accrual_lot(pool, partner_id, "under-v1")
    assert lot["expires_at"] == add_months(start_of(activity_day), LONG_TERM) == bought.expires_at.ToDatetime(UTC)
    assert (await accrual_lot(pool, partner_id, "before-any-program"))["expires_at"] is None
    assert await expired_points(pool, member) == 0  # nothing expired as it arrived
    state = await balance(channel, member)
    # Version 1's 5 pending days from the activity are long past; version 2's 2 days from receipt are not.
    assert (state.balance, state.pending) == (1110 + bought.points_earned, 10)


async def test_an_accrual_over_kafka_takes_the_term_in_force_on_its_activity_date(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    activity_day = await long_then_short_term(pool)
    topic = await fresh_topic("partner")
    partner_id, key = await hotel(pool, since=EARLIEST_ACTIVITY_DATE)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    under_v1, before_any_program = stay("under-v1", member, "10"), stay("before-any-program", member, "20")
    under_v1.activity_date, before_any_program.activity_date = activity_day.isoformat(), "2000-01-02"
    await send(producer, topic, partner_id, key, under_v1)
    await send(producer, topic, partner_id, key, before_any_program)

    async with running(partner_consumer(pool, kafka_settings, topic).run):
        await eventually(lambda: balance_is(pool, member, 300), what="both stays credited, neither expired")

    lot = await accrual_lot(pool, partner_id, "under-v1")
    assert lot["expires_at"] == add_months(start_of(activity_day), LONG_TERM)
    assert (await accrual_lot(pool, partner_id, "before-any-program"))["expires_at"] is None
    assert await expired_points(pool, member) == 0
