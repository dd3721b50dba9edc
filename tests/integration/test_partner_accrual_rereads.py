"""Partner messages read again over Kafka (a broker restart, a lost commit, a partition given back by the group):
what was answered is not answered again, nor decided again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.common.db import unit_of_work
from services.common.settings import KafkaSettings
from services.points.accrual_consumer import PartnerAccrualConsumer
from services.points.application import PointsApplication
from services.points.domain import Enrollment
from tests.integration.points_ledger_support import new_id
from tests.integration.support import (
    DeadLettersSentOrNot,
    TopicFactory,
    eventually,
    running,
)
from tests.integration.test_partner_accrual_consumer import balance_is, delivered, hotel, partner_consumer, send, stay


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
    assert await balance_is(pool, member, 100)


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
    assert await balance_is(pool, member, 100)
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
    b.assigned({0})
    await b.process([second], DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    await app.enroll(Enrollment(late, "", "", ""))
    a.assigned({0})
    again = DeadLettersSentOrNot(fail=False)
    await a.process([second], again)  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", late) == 0
    assert [reason.split(":")[0] for reason in again.reasons] == ["unknown_member"]


async def test_a_batch_ending_after_its_partition_was_assigned_again_leaves_the_partition_to_be_checked(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """A's batch of offset 0 is still being written (it waits for its member) while the group moves the partition
    to B, which answers offset 1 UNKNOWN_MEMBER and loses its commit, and gives it back to A. What A's batch answered
    says nothing of what B answered meanwhile: offset 1, read again by A, must be found answered, not credited to
    the member enrolled since."""
    partner_id, key = await hotel(pool)
    enrolled = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    late = new_id("m")
    first, second = (
        delivered(0, partner_id, key, stay("ra-0", enrolled, "10")),
        delivered(1, partner_id, key, stay("ra-1", late, "10")),
    )
    a, b = [partner_consumer(pool, kafka_settings, "partner.accruals.v1") for _ in range(2)]
    async with unit_of_work(pool) as busy:  # another operation on the member holds its lock
        await busy.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", enrolled)
        in_flight = asyncio.ensure_future(a.process([first], DeadLettersSentOrNot(fail=False)))  # type: ignore[arg-type]
        await eventually(lambda: _waiting_for_a_lock(pool), what="A's batch waiting for its member")
        b.assigned({0})
        await b.process([second], DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
        a.assigned({0})
    await in_flight
    await app.enroll(Enrollment(late, "", "", ""))
    again = DeadLettersSentOrNot(fail=False)
    await a.process([second], again)  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", late) == 0
    assert [reason.split(":")[0] for reason in again.reasons] == ["unknown_member"]
    assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", enrolled) == 100


async def _waiting_for_a_lock(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
    )


async def test_another_partners_message_with_the_same_bytes_at_the_same_position_is_answered(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings
) -> None:
    """A broker that restarts empty hands out its offsets again. Two partners' records can be the same bytes (the
    partner is named in the headers), at the same offset and timestamp: the second is another message, not one
    read again, and skipping it would leave the second partner's control totals short."""
    (first_partner, first_key), (second_partner, second_key) = [await hotel(pool) for _ in range(2)]
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    record = stay("same-bytes", member, "10")
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    await consumer.process(  # type: ignore[arg-type]
        [delivered(0, first_partner, first_key, record)], DeadLettersSentOrNot(fail=False)
    )
    consumer.assigned({0})  # the restarted broker's log: offsets begin again
    await consumer.process(  # type: ignore[arg-type]
        [delivered(0, second_partner, second_key, record)], DeadLettersSentOrNot(fail=False)
    )
    assert await balance_is(pool, member, 200)
    for partner_id in (first_partner, second_partner):
        statuses = await pool.fetch("SELECT status FROM partner_accrual_results WHERE partner_id = $1", partner_id)
        assert [row["status"] for row in statuses] == ["accepted"]
