"""A message that contradicts itself is dead-lettered naming the fields, not applied as either of its versions.

Through a real consumer and the embedded broker: a `ce_id` header that is not the envelope's event id (which
one would the inbox deduplicate by?), an envelope whose subject is not the member its payload is about, and a
Kafka key that is not the subject (the member's other events are ordered under it). Headers and key are
optional, as a JSON producer may send neither: an event without them is applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.event_consumer import EventConsumer
from services.common.events import kafka_headers
from services.common.kafka import dead_letter_topic
from services.common.settings import KafkaSettings
from tests.integration.support import eventually, header, read_topic, running
from tests.integration.test_consumer import (
    consumer,
    effects_of,
    pool,
    purchase_event,
    topic,
)

__all__ = ["consumer", "pool", "topic"]


@dataclass(frozen=True)
class Contradiction:
    envelope: EventEnvelope
    key: bytes
    headers: list[tuple[str, bytes]]
    reason: str


def ce_id_not_the_event_id(member: str) -> Contradiction:
    envelope = purchase_event(member)
    other_id = str(uuid.uuid4())
    headers = [(name, other_id.encode() if name == "ce_id" else value) for name, value in kafka_headers(envelope)]
    reason = f"the ce_id header {other_id!r} does not match the envelope's event_id {envelope.event_id!r}"
    return Contradiction(envelope, member.encode(), headers, reason)


def subject_not_the_payload_member(member: str) -> Contradiction:
    """The tester's case: key and subject one member, the payload crediting another."""
    other = f"carol-{uuid.uuid4().hex[:8]}"
    envelope = purchase_event(other)
    envelope.subject = member
    reason = f"the envelope's subject {member!r} is not its payload.member_id {other!r}"
    return Contradiction(envelope, member.encode(), kafka_headers(envelope), reason)


def key_not_the_subject(member: str) -> Contradiction:
    envelope = purchase_event(member)
    other = f"dave-{uuid.uuid4().hex[:8]}"
    reason = f"the Kafka key {other!r} does not match the envelope's subject {member!r}"
    return Contradiction(envelope, other.encode(), kafka_headers(envelope), reason)


@pytest.mark.parametrize("contradiction", [ce_id_not_the_event_id, subject_not_the_payload_member, key_not_the_subject])
async def test_a_message_that_contradicts_itself_is_dead_lettered_naming_both_sides(
    consumer: EventConsumer,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    topic: str,
    contradiction: Callable[[str], Contradiction],
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    crafted = contradiction(member)
    await producer.send_and_wait(topic, crafted.envelope.SerializeToString(), key=crafted.key, headers=crafted.headers)
    async with running(consumer.run):
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=0.5)
    assert header(dead, "dlq-reason") == crafted.reason
    assert await effects_of(pool, crafted.envelope.event_id) == 0
    assert consumer.applied == 0


async def test_an_event_without_headers_or_key_is_applied(
    consumer: EventConsumer, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    """As a JSON producer may send it: nothing to contradict the envelope, which is read as protobuf."""
    bare = purchase_event(f"m-{uuid.uuid4().hex[:8]}")
    await producer.send_and_wait(consumer.topic, bare.SerializeToString())
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, bare.event_id), what="the event without headers or key")
    assert consumer.dead_lettered == 0
