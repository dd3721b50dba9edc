"""An event whose `ce_type` header names one type and whose envelope holds another is malformed.

Consumers read the header to decide whether to parse a message at all, and the envelope's type to pick the
handler. A parsed message on which the two disagree is dead-lettered naming the mismatch, not applied as
either type.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.events.v1 import points_pb2

from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import KafkaSettings
from services.rewards.perks import perks_consumer
from tests.integration.support import DeadLettersSentOrNot, PoolFactory, delivered_event


async def test_an_event_whose_ce_type_header_contradicts_its_envelope_is_dead_lettered_not_applied(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings
) -> None:
    _, pool = await migrated_pool("rewards")
    consumer = perks_consumer(pool, kafka_settings)
    enrolled = points_pb2.MemberEnrolled(member_id="m-typeclash", birth_date="1990-06-01", tier="member")
    envelope = new_envelope(enrolled, subject="m-typeclash", source="tests", occurred_at=datetime.now(UTC))
    record = delivered_event(POINTS_EVENTS_TOPIC, envelope)
    # The header says TierReached; the envelope (and its payload) is a MemberEnrolled.
    record.headers = [
        (name, b"loyalty.events.v1.TierReached" if name == "ce_type" else value) for name, value in record.headers
    ]
    dead_letters = DeadLettersSentOrNot()

    await consumer.process([record], dead_letters)  # type: ignore[arg-type]

    assert await pool.fetchval("SELECT count(*) FROM member_birthdays") == 0, "applied as the envelope's type"
    assert len(dead_letters.reasons) == 1
    assert "ce_type" in dead_letters.reasons[0]
