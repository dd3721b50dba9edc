"""Partner accruals over Kafka on a real broker: protobuf and JSON records, keys checked, refusals dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from google.protobuf import json_format
from loyalty.points.v1 import partners_pb2 as pb
from prometheus_client import REGISTRY

from services.common.events import JSON
from services.common.kafka import dead_letter_topic, new_consumer
from services.common.settings import KafkaSettings
from services.points.accrual_application import AccrualApplication
from services.points.accrual_consumer import PartnerAccrualConsumer
from services.points.application import PointsApplication
from services.points.domain import Enrollment
from services.points.partner_accrual import Rate
from services.points.partner_application import PartnerApplication
from services.points.program import Rounding
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import new_id
from tests.integration.support import (
    DeadLettersSentOrNot,
    TopicFactory,
    delivered_record,
    eventually,
    header,
    read_topic,
    running,
)

TODAY = datetime.now(UTC).date().isoformat()


async def hotel(pool: asyncpg.Pool, since: date = date(2020, 1, 1)) -> tuple[str, str]:
    """A registered hotel with a USD rate of 10 from `since`; returns (partner id, its key)."""
    partners = PartnerApplication(pool)
    partner_id = new_id("hotel").lower()
    await partners.register(partner_id, "Grand Hotels", "hotel")
    rate_from = datetime.combine(since, time(), tzinfo=UTC)
    await partners.set_rate(partner_id, Rate("USD", Decimal(10), Rounding.DOWN, rate_from))
    return partner_id, (await partners.issue_key(partner_id)).api_key


def stay(tx: str, member_id: str, usd: str) -> pb.AccrualRecord:
    return pb.AccrualRecord(
        partner_transaction_id=tx,
        member_id=member_id,
        activity_type=pb.ACTIVITY_TYPE_STAY,
        activity_date=TODAY,
        unit="USD",
        amount=usd,
    )


def partner_consumer(pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str) -> PartnerAccrualConsumer:
    accruals = AccrualApplication(pool, ProgramApplication(pool))
    return PartnerAccrualConsumer(pool, kafka_settings, accruals, name=new_id("group"), topic=topic)


def partner_headers(partner_id: str, key: str) -> list[tuple[str, bytes]]:
    """The headers that name the producing partner and carry its credential."""
    return [("partner-id", partner_id.encode()), ("authorization", f"Bearer {key}".encode())]


def delivered(offset: int, partner_id: str, key: str, record: pb.AccrualRecord) -> ConsumerRecord[bytes, bytes]:
    return delivered_record(
        "partner.accruals.v1", offset, b"member", record.SerializeToString(), partner_headers(partner_id, key)
    )


async def send(
    producer: AIOKafkaProducer,
    topic: str,
    partner_id: str,
    key: str,
    record: pb.AccrualRecord | bytes,
    *,
    as_json: bool = False,
) -> None:
    headers = partner_headers(partner_id, key)
    if isinstance(record, bytes):
        value = record
    elif as_json:
        value = json_format.MessageToJson(record).encode()
        headers.append(("content-type", JSON.encode()))
    else:
        value = record.SerializeToString()
    await producer.send_and_wait(topic, value, key=b"member", headers=headers)


async def test_records_over_kafka_credit_once_and_refusals_go_to_the_dead_letter_topic(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    topic = await fresh_topic("partner")
    partner_id, key = await hotel(pool)
    other_partner, other_key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    consumer = partner_consumer(pool, kafka_settings, topic)

    await send(producer, topic, partner_id, key, stay("s1", member, "120.50"))
    await send(producer, topic, partner_id, key, stay("s2", member, "80"), as_json=True)
    await send(producer, topic, partner_id, key, stay("s1", member, "120.50"))  # resent
    await send(producer, topic, partner_id, key, b"\xff\xfe not protobuf")
    await send(producer, topic, partner_id, key, b'{"amount": 12, "unknownField": 1}', as_json=True)
    await send(producer, topic, partner_id, "lpk_wrong", stay("s3", member, "10"))
    await send(producer, topic, partner_id, other_key, stay("s4", member, "10"))  # another partner's key
    await send(producer, topic, partner_id, key, stay("s5", "ghost", "10"))
    await send(producer, topic, other_partner, other_key, stay("s1", member, "1"))  # ids are per partner

    async with running(consumer.run):
        await eventually(lambda: balance_is(pool, member, 2015), what="both partners' stays credited once")
        letters = await read_topic(kafka_settings, dead_letter_topic(topic), 5)

    reasons = sorted((header(r, "dlq-reason") or "").split(":")[0] for r in letters)
    assert reasons == [
        "cannot parse AccrualRecord",
        "cannot parse AccrualRecord",
        "permission denied",
        "unauthenticated",
        "unknown_member",
    ]
    assert consumer.applied == 4
    # The partner's key never reaches the dead-letter topic, which operators read.
    assert all(header(r, "authorization") is None for r in letters)
    assert all(header(r, "partner-id") for r in letters)


async def balance_is(pool: asyncpg.Pool, member_id: str, expected: int) -> bool:
    return bool(await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", member_id) == expected)


async def test_partitions_ingested_at_once_credit_each_record_once_and_dead_letter_every_refusal(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    topic = await fresh_topic("partner")
    partner_id, key = await hotel(pool)
    members = [(await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id for _ in range(24)]
    headers = partner_headers(partner_id, key)
    for index, member in enumerate(members):
        stays = [stay(f"{member}-{n}", member, "10") for n in range(3)]
        # A resend and an unknown member, keyed like the rest: every partition has both.
        for record in [*stays, stays[0], stay(f"ghost-{index}", f"ghost-{index}", "10")]:
            value = record.SerializeToString()
            await producer.send(topic, value, key=record.member_id.encode(), headers=headers)
    await producer.flush()
    consumer = partner_consumer(pool, kafka_settings, topic)

    async with running(consumer.run):
        for member in members:
            await eventually(lambda member=member: balance_is(pool, member, 300), what=f"{member}'s three stays")
        letters = await read_topic(kafka_settings, dead_letter_topic(topic), len(members))

    assert sorted((header(r, "dlq-reason") or "").split(":")[0] for r in letters) == ["unknown_member"] * len(members)
    source_partitions = {(header(r, "dlq-source") or "").split("/")[1] for r in letters}
    assert len(source_partitions) > 1, "the records were meant to span partitions"
    assert consumer.applied == len(members) * 4  # three accepted, one DUPLICATE each
    credited = await pool.fetchval(
        "SELECT count(*) FROM partner_accruals WHERE partner_id = $1 AND member_id = ANY($2::text[])",
        partner_id,
        members,
    )
    assert credited == len(members) * 3


async def test_a_record_the_database_refuses_is_dead_lettered_alone_and_the_rest_is_credited(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    topic = await fresh_topic("partner")
    partner_id, key = await hotel(pool)
    member, rich = [(await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id for _ in range(2)]
    # A total a hundred points short of bigint's end: another stay overflows it, in the balance trigger.
    await pool.execute(
        "UPDATE members SET balance = $2, lifetime_earned = $2 WHERE member_id = $1", rich, 2**63 - 1 - 99
    )
    for record in (stay("s1", member, "10"), stay("s2", rich, "10"), stay("s3", member, "10")):
        await send(producer, topic, partner_id, key, record)
    consumer = partner_consumer(pool, kafka_settings, topic)

    async with running(consumer.run):
        await eventually(lambda: balance_is(pool, member, 200), what="the stays around the refused one")
        (letter,) = await read_topic(kafka_settings, dead_letter_topic(topic), 1)

    assert (header(letter, "dlq-reason") or "").startswith("the database refused a value")
    assert consumer.applied == 2
    assert await pool.fetchval("SELECT count(*) FROM partner_accruals WHERE member_id = $1", rich) == 0


async def test_messages_of_a_partner_whose_key_checks_out_refused_unread_count_invalid_in_its_control_totals(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """Nothing is answered on Kafka but the control totals: a message a partner's key signs is in that partner's
    even when it holds no record it may send. One whose key does not check out names no partner: dead letter only."""
    partner_id, key = await hotel(pool)
    other_partner, other_key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    own = partner_headers(partner_id, key)

    def message(offset: int, value: bytes | pb.AccrualRecord, headers: list[tuple[str, bytes]]) -> ConsumerRecord:
        body = value if isinstance(value, bytes) else value.SerializeToString()
        return delivered_record("partner.accruals.v1", offset, b"member", body, headers)

    messages = [
        message(0, b"\xff\xfe not protobuf", own),
        message(1, b"u2,member,10", [*own, ("content-type", b"text/csv")]),
        message(2, stay("u3", member, "10"), own[1:]),  # no partner-id header
        message(3, stay("u4", member, "10"), partner_headers(other_partner, key)),  # naming another partner
        message(4, stay("u5", member, "10"), partner_headers(partner_id, "lpk_wrong")),  # no partner's key
        message(5, stay("u6", member, "10"), partner_headers(partner_id, other_key)),  # the other partner's key
    ]
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    dead_letters = DeadLettersSentOrNot(fail=False)
    await consumer.process(messages, dead_letters)  # type: ignore[arg-type]
    assert len(dead_letters.reasons) == 6
    await consumer.process(messages, DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]  # read again

    partners = PartnerApplication(pool)
    totals, _ = await partners.control_totals(partner_id, TODAY, 0, "")
    assert [(t.status, t.unit, t.records, t.amount) for t in totals] == [("invalid", "", 4, Decimal(0))]
    # Signed by the other partner's key, naming this partner: the other partner sent it.
    totals, _ = await partners.control_totals(other_partner, TODAY, 0, "")
    assert [(t.status, t.unit, t.records, t.amount) for t in totals] == [("invalid", "", 1, Decimal(0))]
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", member) == 0


async def test_a_batch_applied_again_dead_letters_its_unreadable_partner_messages_once(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings
) -> None:
    partner_id, key = await hotel(pool)
    messages = [
        delivered_record("partner.accruals.v1", 0, b"m", b"\xff\xfe not protobuf", partner_headers(partner_id, key)),
        delivered(1, partner_id, "lpk_wrong", stay("w1", "member", "10")),  # no partner's key
    ]
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    first, again = DeadLettersSentOrNot(fail=False), DeadLettersSentOrNot(fail=False)
    await consumer.process(messages, first)  # type: ignore[arg-type]
    # As the batch is applied again after a later message met a database outage: refused the same way, not resent.
    await consumer.process(messages, again)  # type: ignore[arg-type]
    assert (len(first.reasons), len(again.reasons)) == (2, 0)


async def test_a_json_record_with_an_activity_type_this_version_does_not_know_is_invalid_not_missing(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """The JSON mapping drops an enum name it does not know, as it drops unknown fields: the record must still be
    refused for its wrong value, as the binary format's unknown number is, not as if it named no activity."""
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    value = json_format.MessageToDict(stay("tp-1", member, "10")) | {"activityType": "TELEPORT"}
    headers = [*partner_headers(partner_id, key), ("content-type", JSON.encode())]
    message = delivered_record("partner.accruals.v1", 0, b"member", json.dumps(value).encode(), headers)
    dead_letters = DeadLettersSentOrNot(fail=False)
    await partner_consumer(pool, kafka_settings, "partner.accruals.v1").process([message], dead_letters)  # type: ignore[arg-type]
    assert dead_letters.reasons == ["invalid: activity_type: must be one of flight, stay, rental, purchase"]
    totals = await pool.fetch(
        "SELECT status, amount, unit FROM partner_accrual_results WHERE partner_id = $1", partner_id
    )
    assert [(row["status"], row["amount"], row["unit"]) for row in totals] == [("invalid", Decimal(10), "USD")]


async def test_records_answered_count_as_applied_in_the_consumer_metrics(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    accepted, resent, refused = (stay("m1", member, "10"), stay("m1", member, "10"), stay("m2", "ghost", "10"))
    records = [delivered(offset, partner_id, key, r) for offset, r in enumerate((accepted, resent, refused))]
    await consumer.process(records, DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    labels = {"consumer": consumer.name, "topic": consumer.topic}
    assert REGISTRY.get_sample_value("loyalty_consumer_applied_total", labels) == 2  # ACCEPTED and DUPLICATE
    assert REGISTRY.get_sample_value("loyalty_consumer_dead_lettered_total", labels) == 1


async def test_a_consumer_is_told_the_partitions_the_group_assigns_it(
    kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("assigned")
    assignments: list[set[int]] = []
    consumer = new_consumer(kafka_settings, new_id("group"), topic, on_assignment=assignments.append)
    await consumer.start()
    try:
        await eventually(lambda: _polled_once(consumer), what="the group's first assignment")
        assert assignments[-1] == {p.partition for p in consumer.assignment()}
    finally:
        await consumer.stop()


async def _polled_once(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=200)
    return bool(consumer.assignment())


async def test_a_record_finer_than_its_currency_is_invalid_over_kafka_as_over_grpc(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    messages = [delivered(0, partner_id, key, stay("cent-and-more", member, "1.0001"))]
    dead_letters = DeadLettersSentOrNot(fail=False)
    await partner_consumer(pool, kafka_settings, "partner.accruals.v1").process(messages, dead_letters)  # type: ignore[arg-type]
    assert dead_letters.reasons == ["invalid: amount: 1.0001 has more decimals than USD allows"]
    assert await balance_is(pool, member, 0)
