"""The points side of goodwill: GoodwillGranted from the real broker credits once per ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import tickets_pb2 as ticket_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.event_consumer import EventConsumer
from services.common.events import kafka_headers, new_envelope, timestamp
from services.common.kafka import TICKETS_EVENTS_TOPIC, dead_letter_topic
from services.common.settings import KafkaSettings
from services.points import domain
from services.points.application import PointsApplication
from services.points.goodwill import goodwill_consumer
from tests.integration.support import DeadLettersSentOrNot, delivered_event, eventually, header, read_topic, running
from tests.integration.test_points_consumer import applied


def granted(member_id: str, ticket_id: str, points: int, **claim: str) -> EventEnvelope:
    """The grant's event; `claim` names what a claim ticket claimed (claim_purchase_id=..., or claim_partner_...)."""
    now = datetime.now(UTC)
    payload = ticket_events.GoodwillGranted(
        ticket_id=ticket_id,
        member_id=member_id,
        points=points,
        reason="late delivery",
        granted_by="ann",
        approved_by="bea",
        granted_at=timestamp(now),
        **claim,
    )
    return new_envelope(payload, subject=member_id, source="loyalty.tickets", occurred_at=now)


async def send(producer: AIOKafkaProducer, envelope: EventEnvelope) -> None:
    await producer.send_and_wait(
        TICKETS_EVENTS_TOPIC,
        envelope.SerializeToString(),
        key=envelope.subject.encode(),
        headers=kafka_headers(envelope),
    )


@pytest.fixture
def consumer(pool: asyncpg.Pool, kafka_settings: KafkaSettings) -> EventConsumer:
    consumer = goodwill_consumer(pool, kafka_settings)
    consumer.name = f"{consumer.name}.{uuid.uuid4().hex[:8]}"  # a group of its own: no rejoin wait
    return consumer


async def test_a_grant_replayed_twice_credits_once_with_the_ticket_on_the_entry(
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member, "", "", ""))
    ticket_id = str(uuid.uuid4())
    first = granted(member, ticket_id, 750)
    # The same grant in a second event (a republished outbox row): keyed by ticket, it credits nothing more.
    replay = granted(member, ticket_id, 750)
    ghost = granted(f"ghost-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), 10)
    for envelope in (first, first, replay, ghost):
        await send(producer, envelope)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, first, replay, ghost), what="the goodwill events")
    assert (await app.member(member)).balance == 750
    entry = await pool.fetchrow(
        """SELECT e.kind, e.points, e.idempotency_key, e.description, g.ticket_id, g.granted_by, g.approved_by
             FROM ledger_entries e JOIN goodwill_credits g ON g.entry_id = e.entry_id WHERE e.member_id = $1""",
        member,
    )
    assert dict(entry) == {
        "kind": "adjustment",
        "points": 750,
        "idempotency_key": f"goodwill:{ticket_id}",
        "description": f"goodwill on ticket {ticket_id}: late delivery (by ann, approved by bea)",
        "ticket_id": ticket_id,
        "granted_by": "ann",
        "approved_by": "bea",
    }
    lot = await pool.fetchrow("SELECT points, remaining, expires_at FROM lots WHERE member_id = $1", member)
    assert (lot["points"], lot["remaining"], lot["expires_at"]) == (750, 750, None)
    adjusted = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'loyalty.events.v1.PointsAdjusted' AND message_key = $1", member
    )
    assert adjusted == 1
    dead = await read_topic(kafka_settings, dead_letter_topic(TICKETS_EVENTS_TOPIC), 1)
    reasons = [header(r, "dlq-reason") for r in dead if header(r, "ce_id") == ghost.event_id]
    assert reasons and "is not enrolled" in (reasons[0] or "")


async def test_a_grant_dated_years_ahead_is_dead_lettered_and_credits_nothing_while_the_next_credits(
    app: PointsApplication, pool: asyncpg.Pool, consumer: EventConsumer
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member, "", "", ""))
    ahead = granted(member, str(uuid.uuid4()), 500)
    grant = ticket_events.GoodwillGranted()
    ahead.payload.Unpack(grant)
    grant.granted_at.FromDatetime(datetime(9999, 1, 1, tzinfo=UTC))  # the bound is the one purchases are held to
    ahead.payload.Pack(grant)
    dead_letters = DeadLettersSentOrNot()
    records = [delivered_event(TICKETS_EVENTS_TOPIC, e, n) for n, e in enumerate([ahead, granted(member, "t-2", 40)])]
    await consumer.process(records, dead_letters)  # type: ignore[arg-type]
    assert dead_letters.reasons == ["granted_at: must not be more than 24 hours in the future"]
    assert (await app.member(member)).balance == 40
