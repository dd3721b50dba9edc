"""PurchaseMade over Kafka: the same effect as RecordPurchase, a purchase id earns once on either path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1 import common_pb2
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.event_consumer import EventConsumer
from services.common.events import JSON, kafka_headers, new_envelope, timestamp
from services.common.kafka import PURCHASES_TOPIC, dead_letter_topic
from services.common.settings import KafkaSettings
from services.points import domain
from services.points.api import purchase_from
from services.points.application import PointsApplication
from services.points.closure import ClosureApplication
from services.points.consumers import purchases_consumer
from services.points.earning import EarnComponent
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import entries_written
from tests.integration.support import DeadLettersSentOrNot, delivered_event, eventually, header, read_topic, running

RATE = 2


def purchase_made(member_id: str, purchase_id: str, amount_minor: int) -> EventEnvelope:
    payload = commerce_pb2.PurchaseMade(
        purchase_id=purchase_id,
        member_id=member_id,
        amount=Money(amount_minor=amount_minor, currency_code="USD"),
        line_items=[
            common_pb2.LineItem(
                sku="sku-1",
                category="shoes",
                quantity=1,
                unit_price=Money(amount_minor=amount_minor, currency_code="USD"),
            )
        ],
        occurred_at=timestamp(datetime.now(UTC) - timedelta(minutes=1)),
        channel="store",
    )
    return new_envelope(payload, subject=member_id, source="commerce", occurred_at=datetime.now(UTC))


async def send(
    producer: AIOKafkaProducer, envelope: EventEnvelope, *, as_json: bool = False, ce_type: str | None = None
) -> None:
    """`ce_type` replaces the header its producer would set (a producer that misnames what it sends)."""
    if as_json:
        value = json_format.MessageToJson(envelope).encode()
        headers = [("content-type", JSON.encode())]
    else:
        value, headers = envelope.SerializeToString(), kafka_headers(envelope)
    if ce_type is not None:
        headers = [(name, ce_type.encode() if name == "ce_type" else given) for name, given in headers]
    await producer.send_and_wait(PURCHASES_TOPIC, value, key=envelope.subject.encode(), headers=headers)


@pytest.fixture
def consumer(pool: asyncpg.Pool, kafka_settings: KafkaSettings, app: PointsApplication) -> EventConsumer:
    return purchases_consumer_of(pool, kafka_settings, app)


def purchases_consumer_of(pool: asyncpg.Pool, kafka_settings: KafkaSettings, app: PointsApplication) -> EventConsumer:
    """The points service's purchases consumer, in a group of its own."""
    consumer = purchases_consumer(pool, kafka_settings, app, RefundApplication(pool, ProgramApplication(pool)))
    # A group of its own per test: rejoining one group right after its last member left waits for
    # the broker's session timeout. The inbox is per database, so nothing else changes.
    consumer.name = f"{consumer.name}.{uuid.uuid4().hex[:8]}"
    return consumer


async def applied(pool: asyncpg.Pool, consumer: EventConsumer, *envelopes: EventEnvelope) -> bool:
    ids = [e.event_id for e in envelopes]
    count = await pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::text[])", consumer.name, ids
    )
    return bool(count == len(ids))


@pytest.fixture
async def member(app: PointsApplication) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member_id, "", "", ""))
    return member_id


async def test_a_purchase_over_kafka_earns_like_one_over_grpc_and_only_once(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    purchase_id = f"order-{uuid.uuid4().hex[:8]}"
    over_kafka = purchase_made(member, purchase_id, 4299)
    # Nanoseconds: the database keeps microseconds, and the resent event must still match what it kept.
    _edit_payload(over_kafka, lambda purchase: setattr(purchase.occurred_at, "nanos", 123_456_789))
    # The commerce system sends the same purchase again as a new event (and later over gRPC).
    resent = _resent(over_kafka)
    as_json = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 1000)
    for envelope in (over_kafka, over_kafka, resent):
        await send(producer, envelope)
    await send(producer, as_json, as_json=True)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, over_kafka, resent, as_json), what="the purchases")
    # Not consumer.dead_lettered: the group reads the topic from its start, other tests' purchases of members this
    # database does not know included.
    dead_letters = await read_topic(kafka_settings, dead_letter_topic(PURCHASES_TOPIC), 0, settle=1.0)
    mine = {envelope.event_id for envelope in (over_kafka, resent, as_json)}
    assert not [record for record in dead_letters if header(record, "ce_id") in mine]
    member_row = await app.member(member)
    assert member_row.balance == 84 + 20
    entries = (await app.entries(member, 0, "")).entries
    assert sorted(e.idempotency_key for e in entries) == sorted(
        [f"purchase:{purchase_id}", f"purchase:{_purchase_id(as_json)}"]
    )
    again = await app.record_purchase(purchase_from(_payload(over_kafka)))
    # The balance it was recorded with: the JSON purchase came after it on the member's partition.
    assert (again.duplicate, again.points_earned, again.balance) == (True, 84, 84)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'loyalty.events.v1.PointsEarned'") == 2


async def test_a_json_purchase_whose_timestamps_write_t_and_z_in_lower_case_earns(
    member: str, app: PointsApplication, pool: asyncpg.Pool, consumer: EventConsumer, producer: AIOKafkaProducer
) -> None:
    """RFC 3339 allows "2026-12-01t10:00:00z"; protobuf's JSON parser alone refused it and the purchase was
    dead-lettered."""
    envelope = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 1000)
    given = json_format.MessageToDict(envelope)
    for timestamps in (given, given["payload"]):
        timestamps["occurredAt"] = timestamps["occurredAt"].lower()
    value = json.dumps(given).encode()
    headers = [("content-type", JSON.encode())]
    await producer.send_and_wait(PURCHASES_TOPIC, value, key=member.encode(), headers=headers)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, envelope), what="the purchase")
    assert (await app.member(member)).balance == 20
    recorded = await pool.fetchval("SELECT occurred_at FROM purchases WHERE purchase_id = $1", _purchase_id(envelope))
    assert recorded == _payload(envelope).occurred_at.ToDatetime(tzinfo=UTC)


async def test_a_purchase_over_kafka_that_earned_nothing_answers_its_breakdown_when_repeated(
    member: str, app: PointsApplication, pool: asyncpg.Pool, consumer: EventConsumer, producer: AIOKafkaProducer
) -> None:
    """The first result is what the consumer recorded; a repeat over gRPC answers its breakdown as it would for a
    purchase first recorded over gRPC, though no ledger entry keeps it."""
    over_kafka = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 50)
    await send(producer, over_kafka)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, over_kafka), what="the purchase")

    again = await app.record_purchase(purchase_from(_payload(over_kafka)))

    assert (again.duplicate, again.points_earned, again.entry) == (True, 0, None)
    assert again.breakdown == (
        EarnComponent("base", 0, f"2 points per USD on 0 whole units of purchase {_purchase_id(over_kafka)}"),
    )


async def test_refused_purchases_are_dead_lettered_with_the_field_and_write_nothing(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    negative = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", -100)
    unknown_member = purchase_made(ghost, f"order-{uuid.uuid4().hex[:8]}", 500)
    good = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    for envelope in (negative, unknown_member, good):
        await send(producer, envelope)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, negative, unknown_member, good), what="the purchases")
    dlq = await read_topic(kafka_settings, dead_letter_topic(PURCHASES_TOPIC), 1, settle=1.0)
    reasons = {
        (record.key or b"").decode(): header(record, "dlq-reason") or ""
        for record in dlq
        if record.key in (member.encode(), ghost.encode())
    }
    assert reasons[member].startswith("amount.amount_minor: must not be negative")
    assert reasons[ghost] == f"member_id: member {ghost!r} is not enrolled"
    assert (await app.member(member)).balance == 10
    assert await pool.fetchval("SELECT count(*) FROM purchases") == 1
    assert await pool.fetchval("SELECT count(*) FROM members WHERE member_id = $1", ghost) == 0


async def test_a_batch_applied_again_around_a_refused_event_counts_each_ledger_entry_once(
    member: str, app: PointsApplication, consumer: EventConsumer
) -> None:
    """The batch's transaction rolls back at the refused event and runs again event by event: what the rolled-back
    attempt wrote is not counted as written."""
    good = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    unknown_member = purchase_made(f"ghost-{uuid.uuid4().hex[:8]}", f"order-{uuid.uuid4().hex[:8]}", 500)
    before = entries_written("purchase_earn")
    dead_letters = DeadLettersSentOrNot()
    batch = [delivered_event(PURCHASES_TOPIC, good, 0), delivered_event(PURCHASES_TOPIC, unknown_member, 1)]
    await consumer.process(batch, dead_letters)  # type: ignore[arg-type]
    assert [reason.split(":")[0] for reason in dead_letters.reasons] == ["member_id"]
    assert (await app.member(member)).balance == 10
    assert entries_written("purchase_earn") - before == 1


async def test_a_refund_event_of_a_purchase_stamped_ahead_applies_in_real_time_but_not_a_day_before_its_stamp(
    member: str, app: PointsApplication, consumer: EventConsumer
) -> None:
    # Sent right after its purchase, and dated before the consumer, lagging, records the purchase.
    sent_before_recorded = datetime.now(UTC) - timedelta(seconds=1)
    bought = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 1000)  # 20 points
    stamp = datetime.now(UTC) + timedelta(hours=23)  # accepted: at most 24 hours ahead
    _edit_payload(bought, lambda purchase: purchase.occurred_at.CopyFrom(timestamp(stamp)))
    dead_letters = DeadLettersSentOrNot()
    await consumer.process([delivered_event(PURCHASES_TOPIC, bought, 0)], dead_letters)  # type: ignore[arg-type]
    too_early = purchase_refunded(member, _purchase_id(bought), 500, stamp - timedelta(hours=24, seconds=1))
    lagged = purchase_refunded(member, _purchase_id(bought), 500, sent_before_recorded)
    in_real_time = purchase_refunded(member, _purchase_id(bought), 500)  # dated now: hours before the stamp
    sent = (too_early, lagged, in_real_time)
    refunds = [delivered_event(PURCHASES_TOPIC, e, offset) for offset, e in enumerate(sent, 1)]
    await consumer.process(refunds, dead_letters)  # type: ignore[arg-type]
    assert [reason.split(" occurred_at")[0] for reason in dead_letters.reasons] == [
        "occurred_at: is more than 24 hours before the purchase's"
    ]
    assert (await app.member(member)).balance == 20 - 10 - 10


async def test_purchases_whose_ce_type_header_names_no_type_of_the_topic_are_dead_lettered_naming_it(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    """Not skipped as a type the consumer has no use for: the topic carries no such type, so the producer erred."""
    misnamed = {
        ce_type: purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
        for ce_type in ("PurchaseMade", "loyalty.events.v1.Unknown", "loyalty.events.v1.PointsEarned")
    }
    good = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    for ce_type, envelope in misnamed.items():
        await send(producer, envelope, ce_type=ce_type)
    await send(producer, good)  # the member's partition: after the misnamed ones
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, good), what="the purchase after the misnamed ones")
        dlq = await eventually(
            lambda: _dead_letters_of(kafka_settings, list(misnamed.values())), what="the dead letters"
        )
    reasons = {header(record, "ce_id"): header(record, "dlq-reason") for record in dlq}
    assert reasons == {
        envelope.event_id: f"the ce_type header {ce_type!r} is not an event type of {PURCHASES_TOPIC}"
        for ce_type, envelope in misnamed.items()
    }
    assert (await app.member(member)).balance == 10  # the good purchase alone


async def test_an_event_of_a_type_the_topic_does_not_carry_is_dead_lettered_naming_the_type(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    """Without a ce_type header (a producer need not set one) the envelope's type is the one checked."""
    earned = points_events.PointsEarned(member_id=member, points=500)
    stray = new_envelope(earned, subject=member, source="commerce", occurred_at=datetime.now(UTC))
    headers = [(name, value) for name, value in kafka_headers(stray) if name != "ce_type"]
    await producer.send_and_wait(PURCHASES_TOPIC, stray.SerializeToString(), key=member.encode(), headers=headers)
    good = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    await send(producer, good)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, good), what="the purchase after the stray event")
        [dead] = await eventually(lambda: _dead_letters_of(kafka_settings, [stray]), what="the dead letter")
    assert header(dead, "dlq-reason") == (
        f"the envelope's type 'loyalty.events.v1.PointsEarned' is not an event type of {PURCHASES_TOPIC}"
    )
    assert (await app.member(member)).balance == 10


def _purchase_id(envelope: EventEnvelope) -> str:
    return _payload(envelope).purchase_id


def _payload(envelope: EventEnvelope) -> commerce_pb2.PurchaseMade:
    payload = commerce_pb2.PurchaseMade()
    assert envelope.payload.Unpack(payload)
    return payload


def _resent(envelope: EventEnvelope) -> EventEnvelope:
    """The same purchase in a new event (a new event id), as a producer retrying it sends it."""
    return new_envelope(_payload(envelope), subject=envelope.subject, source="commerce", occurred_at=datetime.now(UTC))


async def test_a_purchase_id_reused_with_other_details_is_dead_lettered_naming_the_detail(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    """Not a resend: the same id from another channel is another purchase, which must not pass as a duplicate."""
    first = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 1000)
    reused = _resent(first)
    _edit_payload(reused, lambda purchase: setattr(purchase, "channel", "web"))
    async with running(consumer.run):
        await send(producer, first)
        await eventually(lambda: applied(pool, consumer, first), what="the purchase")
        await send(producer, reused)
        dlq = await eventually(lambda: _dead_letters_of(kafka_settings, [reused]), what="the dead letter")
    assert [header(record, "dlq-reason") for record in dlq] == [
        "purchase_id: already recorded with a different channel"
    ]
    assert (await app.member(member)).balance == 20


async def test_events_no_database_can_hold_are_dead_lettered_naming_the_field(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    nul_sku = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    _edit_payload(nul_sku, lambda purchase: setattr(purchase.line_items[0], "sku", "sku\x00"))
    far_purchase = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    _edit_payload(far_purchase, lambda purchase: purchase.occurred_at.CopyFrom(Timestamp(seconds=2**62)))
    far_envelope = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    far_envelope.occurred_at.CopyFrom(Timestamp(seconds=-(2**62)))
    good = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    refused = (nul_sku, far_purchase, far_envelope)
    for envelope in (*refused, good):
        await send(producer, envelope)
    async with running(consumer.run):
        await eventually(lambda: applied(pool, consumer, good), what="the purchase after the refused ones")
        dlq = await eventually(lambda: _dead_letters_of(kafka_settings, refused), what="the three dead letters")
    reasons = {header(record, "ce_id"): header(record, "dlq-reason") or "" for record in dlq}
    assert reasons[nul_sku.event_id].startswith("payload.line_items[0].sku: must not contain the NUL character")
    assert reasons[far_purchase.event_id] == "payload.occurred_at: is not a valid timestamp"
    assert reasons[far_envelope.event_id] == "envelope.occurred_at: is not a valid timestamp"
    assert (await app.member(member)).balance == 10  # the good purchase alone


async def test_a_purchase_of_a_closed_member_is_dead_lettered_and_earns_nothing(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    await ClosureApplication(pool).close(member, "member request", "agent-7")
    after_closure = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 500)
    async with running(consumer.run):
        await send(producer, after_closure)
        dlq = await eventually(lambda: _dead_letters_of(kafka_settings, [after_closure]), what="the dead letter")
    assert [header(record, "dlq-reason") for record in dlq] == [f"member_id: member {member!r} is closed"]
    assert (await app.member(member)).balance == 0
    assert await pool.fetchval("SELECT count(*) FROM purchases WHERE member_id = $1", member) == 0


async def _dead_letters_of(kafka: KafkaSettings, envelopes: Sequence[EventEnvelope]) -> list[ConsumerRecord]:
    """The dead letters of `envelopes` once all have arrived, else none."""
    records = await read_topic(kafka, dead_letter_topic(PURCHASES_TOPIC), 1, settle=0.5)
    ids = {envelope.event_id for envelope in envelopes}
    mine = [record for record in records if header(record, "ce_id") in ids]
    return mine if len(mine) == len(ids) else []


def purchase_refunded(
    member_id: str, purchase_id: str, amount_minor: int, occurred_at: datetime | None = None
) -> EventEnvelope:
    """A PurchaseRefunded of a new refund id, naming `member_id`, dated `occurred_at` (default: now)."""
    payload = commerce_pb2.PurchaseRefunded(
        refund_id=f"r-{uuid.uuid4().hex[:8]}",
        purchase_id=purchase_id,
        member_id=member_id,
        amount=Money(amount_minor=amount_minor, currency_code="USD"),
        occurred_at=timestamp(occurred_at or datetime.now(UTC)),
    )
    return new_envelope(payload, subject=member_id, source="commerce", occurred_at=datetime.now(UTC))


def _edit_payload(envelope: EventEnvelope, edit: Callable[[commerce_pb2.PurchaseMade], None]) -> None:
    payload = commerce_pb2.PurchaseMade()
    assert envelope.payload.Unpack(payload)
    edit(payload)
    envelope.payload.Pack(payload)


async def test_a_refund_naming_another_member_than_the_buyer_is_dead_lettered_and_takes_nothing(
    member: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
) -> None:
    bought = purchase_made(member, f"order-{uuid.uuid4().hex[:8]}", 1000)
    stranger = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(stranger, "", "", ""))
    refunds = [purchase_refunded(member_id, _purchase_id(bought), 500) for member_id in (stranger, member)]
    async with running(consumer.run):
        await send(producer, bought)
        await eventually(lambda: applied(pool, consumer, bought), what="the purchase")
        for envelope in refunds:  # keyed by the member each names, so on partitions of their own
            await send(producer, envelope)
        await eventually(lambda: applied(pool, consumer, *refunds), what="the refunds")
    dlq = await read_topic(kafka_settings, dead_letter_topic(PURCHASES_TOPIC), 1, settle=1.0)
    reasons = [header(record, "dlq-reason") or "" for record in dlq if record.key == stranger.encode()]
    assert reasons == ["member_id: is not the member who made the purchase"]
    assert (await app.member(member)).balance == 20 - 10  # only the buyer's own refund of half
    assert await pool.fetchval("SELECT count(*) FROM refunds WHERE purchase_id = $1", _purchase_id(bought)) == 1
