"""Partner accruals over Kafka on a real broker: protobuf and JSON records, keys checked, refusals dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from google.protobuf import json_format
from loyalty.points.v1 import partners_pb2 as pb

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


async def hotel(pool: asyncpg.Pool) -> tuple[str, str]:
    partners = PartnerApplication(pool)
    partner_id = new_id("hotel").lower()
    await partners.register(partner_id, "Grand Hotels", "hotel")
    await partners.set_rate(partner_id, Rate("USD", Decimal(10), Rounding.DOWN, datetime(2020, 1, 1, tzinfo=UTC)))
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
        await eventually(lambda: _balance(pool, member, 2015), what="both partners' stays credited once")
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


async def _balance(pool: asyncpg.Pool, member_id: str, expected: int) -> bool:
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
            await eventually(lambda member=member: _balance(pool, member, 300), what=f"{member}'s three stays")
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
        await eventually(lambda: _balance(pool, member, 200), what="the stays around the refused one")
        (letter,) = await read_topic(kafka_settings, dead_letter_topic(topic), 1)

    assert (header(letter, "dlq-reason") or "").startswith("the database refused a value")
    assert consumer.applied == 2
    assert await pool.fetchval("SELECT count(*) FROM partner_accruals WHERE member_id = $1", rich) == 0


async def test_a_message_read_again_is_not_answered_again_but_a_record_sent_again_is(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    topic = await fresh_topic("partner-reread")
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await send(producer, topic, partner_id, key, stay("s1", member, "10"))
    await send(producer, topic, partner_id, key, stay("s1", member, "10"))  # sent again by the partner
    await send(producer, topic, partner_id, key, stay("s2", "ghost", "10"))

    async def answers() -> list[str]:
        rows = await pool.fetch(
            "SELECT status FROM partner_accrual_results WHERE partner_id = $1 ORDER BY status", partner_id
        )
        return [row["status"] for row in rows]

    async def answered(expected: list[str]) -> bool:
        return await answers() == expected

    first = partner_consumer(pool, kafka_settings, topic)
    async with running(first.run):
        await eventually(lambda: answered(["accepted", "duplicate", "unknown_member"]), what="three answers")
    # A consumer reading the partition from the beginning again, as one does after a broker restart lost the
    # log it was in, reads the very same messages: nothing is answered, credited or dead-lettered twice.
    again = partner_consumer(pool, kafka_settings, topic)

    async def read_again() -> bool:
        # The ghost's key may put it on another partition than the member's, read after the new message.
        return again.dead_lettered >= 1 and await answered(["accepted", "duplicate", "duplicate", "unknown_member"])

    async with running(again.run):
        await send(producer, topic, partner_id, key, stay("s1", member, "10"))  # and once more by the partner
        await eventually(read_again, what="the new message answered and the refused one dead-lettered again")
    # The refused one is dead-lettered again (its first dead letter may not have gone out), not answered again.
    assert again.dead_lettered == 1
    assert await _balance(pool, member, 100)


def delivered(offset: int, partner_id: str, key: str, record: pb.AccrualRecord) -> ConsumerRecord[bytes, bytes]:
    return delivered_record(
        "partner.accruals.v1", offset, b"member", record.SerializeToString(), partner_headers(partner_id, key)
    )


async def a_stay_and_a_refused_one(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> tuple[str, str, PartnerAccrualConsumer, list[ConsumerRecord]]:
    """A hotel's consumer and two delivered records: a 100-point stay for a new member, one for nobody."""
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    records = [
        delivered(0, partner_id, key, stay("s1", member, "10")),
        delivered(1, partner_id, key, stay("s2", "ghost", "10")),
    ]
    return partner_id, member, consumer, records


async def test_a_refused_record_answered_before_its_dead_letter_went_out_is_dead_lettered_when_read_again(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    partner_id, member, consumer, records = await a_stay_and_a_refused_one(pool, app, kafka_settings)
    with pytest.raises(ConnectionError):
        await consumer.process(records, DeadLettersSentOrNot(fail=True))  # type: ignore[arg-type]
    # The offsets were not committed: the same messages come again.
    again = DeadLettersSentOrNot(fail=False)
    await consumer.process(records, again)  # type: ignore[arg-type]
    assert [reason.split(":")[0] for reason in again.reasons] == ["unknown_member"]
    assert await _balance(pool, member, 100)
    statuses = await pool.fetch("SELECT status FROM partner_accrual_results WHERE partner_id = $1", partner_id)
    assert sorted(row["status"] for row in statuses) == ["accepted", "unknown_member"]


async def test_a_consumer_reading_a_partition_again_skips_what_it_answered(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    partner_id, _, consumer, records = await a_stay_and_a_refused_one(pool, app, kafka_settings)
    first = DeadLettersSentOrNot(fail=False)
    await consumer.process(records, first)  # type: ignore[arg-type]
    assert consumer.applied == 1
    # Read from the beginning again (the lost-log rule): the answered message is skipped, not decided again.
    again = DeadLettersSentOrNot(fail=False)
    await consumer.process(records, again)  # type: ignore[arg-type]
    assert consumer.applied == 1
    assert [reason.split(":")[0] for reason in (*first.reasons, *again.reasons)] == ["unknown_member"] * 2
    statuses = await pool.fetch("SELECT status FROM partner_accrual_results WHERE partner_id = $1", partner_id)
    assert sorted(row["status"] for row in statuses) == ["accepted", "unknown_member"]


async def test_a_refused_message_read_again_by_a_restarted_consumer_is_not_decided_again(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """Answered UNKNOWN_MEMBER, then the process dies before committing its offset, and the member enrols:
    credited on the redelivery, the points would sit behind control totals that say the message was refused."""
    partner_id, key = await hotel(pool)
    member_id = new_id("m")  # not enrolled yet
    records = [delivered(0, partner_id, key, stay("late-1", member_id, "10"))]
    first = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    await first.process(records, DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    await app.enroll(Enrollment(member_id, "", "", ""))
    restarted = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    again = DeadLettersSentOrNot(fail=False)
    await restarted.process(records, again)  # type: ignore[arg-type]
    assert [reason.split(":")[0] for reason in again.reasons] == ["unknown_member"]
    assert await pool.fetchval("SELECT count(*) FROM partner_accruals WHERE partner_id = $1", partner_id) == 0
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", member_id) == 0
    totals = await pool.fetch("SELECT status, points FROM partner_accrual_results WHERE partner_id = $1", partner_id)
    assert [(row["status"], row["points"]) for row in totals] == [("unknown_member", 0)]


async def test_a_partition_given_back_by_the_group_is_checked_for_what_another_member_answered(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """A answers offset 0; the partition moves to B, which answers offset 1 UNKNOWN_MEMBER and loses its commit;
    given back to A, offset 1 comes again: A must not take it as fresh and credit the member enrolled since."""
    partner_id, key = await hotel(pool)
    enrolled = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    late = new_id("m")
    first, second = (
        delivered(0, partner_id, key, stay("rb-0", enrolled, "10")),
        delivered(1, partner_id, key, stay("rb-1", late, "10")),
    )
    a, b = [partner_consumer(pool, kafka_settings, "partner.accruals.v1") for _ in range(2)]
    await a.process([first], DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    b.partitions_assigned({0})
    await b.process([second], DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    await app.enroll(Enrollment(late, "", "", ""))
    a.partitions_assigned({0})
    again = DeadLettersSentOrNot(fail=False)
    await a.process([second], again)  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", late) == 0
    assert [reason.split(":")[0] for reason in again.reasons] == ["unknown_member"]


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
