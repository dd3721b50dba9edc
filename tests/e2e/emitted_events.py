"""The events the platform itself emitted during the e2e session, held to what its consumers require of a message."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.event_identity import check_headers_agree, check_subject_agrees
from services.common.events import TOPIC_EVENT_TYPES, MalformedEvent, decode
from tests.e2e.support import DEADLINE_S

# What the services and the `loyalty` client name themselves as an envelope's source; tests use other names.
PLATFORM_SOURCE_PREFIX = "loyalty."


async def contradicting_platform_events(bootstrap: str) -> list[str]:
    """For each event a service emitted on an event topic that a consumer would dead-letter as contradicting
    itself (services/common/event_identity.py), where it is and why; empty when there is none."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()
        partitions = [
            TopicPartition(topic, partition)
            for topic in TOPIC_EVENT_TYPES
            for partition in reader.partitions_for_topic(topic) or ()
        ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        found = []
        deadline = time.monotonic() + DEADLINE_S
        while [p for p, end in ends.items() if await reader.position(p) < end]:
            if time.monotonic() > deadline:
                return [*found, f"not all read back within {DEADLINE_S:.0f}s: {ends}"]
            for batch in (await reader.getmany(timeout_ms=1000)).values():
                found += [why for record in batch if (why := _contradiction(record)) is not None]
        return found
    finally:
        await reader.stop()


def _contradiction(record: ConsumerRecord[bytes, bytes]) -> str | None:
    headers = list(record.headers or ())
    try:
        envelope, payload = decode(record.value, headers)
    except MalformedEvent:
        return None  # a test's garbage: the platform emits only envelopes it can read
    if not envelope.source.startswith(PLATFORM_SOURCE_PREFIX):
        return None
    try:
        check_headers_agree(headers, envelope)
        check_subject_agrees(record.key, envelope, payload)
    except MalformedEvent as error:
        return f"{envelope.type} from {envelope.source}: {error}"
    return None
