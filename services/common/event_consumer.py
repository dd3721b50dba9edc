"""Consumers of the platform's event envelopes: events by type, applied through the inbox.

The poll loop, retries and dead letters are BatchConsumer's (services/common/consumer.py); these decode
envelopes, skip the types of their topic a consumer has no handler for, dead-letter the types their topic does
not carry (events.TOPIC_EVENT_TYPES), and apply the rest once each (the inbox), each held first to the bounds
every consumer holds its type to (services/common/event_fields.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import Message
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.consumer import BatchConsumer, refusal_reason
from services.common.db import VALUE_REFUSED, savepoint, unit_of_work
from services.common.dead_letters import DeadLetters
from services.common.errors import DomainError
from services.common.event_fields import check_event
from services.common.event_identity import check_headers_agree, check_subject_agrees
from services.common.events import MalformedEvent, decode, event_types_of, header
from services.common.metrics import CONSUMER_APPLIED, CONSUMER_DUPLICATES
from services.common.settings import KafkaSettings
from services.common.tracing import RecordSpans, consuming, is_sampled

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, EventEnvelope, Message], Awaitable[None]]
H = TypeVar("H")

# What the domain refuses, and values the database refuses: neither would go through on a retry.
_REFUSED: tuple[type[BaseException], ...] = (DomainError, *VALUE_REFUSED)


@dataclass(frozen=True)
class DecodedEvent(Generic[H]):
    record: ConsumerRecord
    envelope: EventEnvelope
    payload: Message
    handler: H


class TypedEventConsumer(BatchConsumer, Generic[H]):
    """Events by type: skips by header the types of its topic it has no handler for, decodes the rest,
    dead-letters the unreadable and the types its topic does not carry.

    Subclasses decide how the decoded events are applied (`apply`).
    """

    def __init__(
        self,
        *,
        name: str,
        topic: str,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        handlers: Mapping[str, H],
        carries: Collection[str] | None = None,
    ) -> None:
        """`handlers` maps the event types this consumer applies; the topic's other types are skipped.

        `carries` is the event types the topic carries, by default those events.TOPIC_EVENT_TYPES has for it:
        a topic that stands in for one of the platform's (a test's own) carries that one's.
        """
        super().__init__(name=name, topic=topic, pool=pool, kafka=kafka)
        self._handlers = dict(handlers)
        self._carried = frozenset(event_types_of(topic) if carries is None else carries)
        # A handler of a type the topic does not carry would never run: its events are dead-lettered.
        stray = sorted(self._handlers.keys() - self._carried)
        if stray:
            raise ValueError(f"consumer {name}: {topic} carries no events of the types {stray} it handles")

    async def apply(self, events: list[DecodedEvent[H]], dead_letters: DeadLetters) -> int:
        """Apply a batch's events through the inbox, dead-letter the refused ones; returns how many were applied."""
        raise NotImplementedError

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        wanted = []
        for record in records:
            if not self._skipped(record):
                wanted.append(record)
                continue
            # Seen and skipped. A sampled trace still shows that the event reached this consumer;
            # for the others no span is made at all (at partner volume, spans would cost more than skipping).
            headers = list(record.headers or ())
            if is_sampled(headers):
                with consuming(self.topic, self.name, headers):
                    pass
        events = []
        for record in wanted:
            try:
                event = self._decoded(record)
            except MalformedEvent as error:
                # In a span of its own, as an event applied is: a sampled trace shows where its event ended.
                with consuming(self.topic, self.name, list(record.headers or ())):
                    await self.dead_letter_unreadable(record, dead_letters, str(error))
                continue
            if event is not None:
                events.append(event)
        if not events:
            return
        applied = await self.apply(events, dead_letters)
        self.applied += applied
        CONSUMER_APPLIED.labels(self.name, self.topic).inc(applied)

    def _skipped(self, record: ConsumerRecord) -> bool:
        """True for an event whose `ce_type` header names a type of the topic this consumer does not apply.

        Topics carry many event types and most consumers need few of them:
        skipping by header costs no parsing, no span and no transaction.
        Messages without the header (JSON from other producers) are parsed,
        and so are those whose header names a type the topic does not carry (to be dead-lettered).
        """
        declared = header(list(record.headers or ()), "ce_type")
        return declared is not None and declared in self._carried and declared not in self._handlers

    def _decoded(self, record: ConsumerRecord) -> DecodedEvent[H] | None:
        """The event to apply; None for a type of the topic this consumer does not apply.

        Raises MalformedEvent for a message that cannot be read, that contradicts itself (services/common/
        event_identity.py: headers, key, envelope and payload naming different types, events or members), or whose
        type the topic does not carry: a producer's mistake, which no consumer of the topic would apply.
        """
        headers = list(record.headers or ())
        declared = header(headers, "ce_type")
        if declared is not None and declared not in self._carried:
            raise MalformedEvent(f"the ce_type header {declared!r} is not an event type of {self.topic}")
        envelope, payload = decode(record.value, headers)
        check_headers_agree(headers, envelope)
        if envelope.type not in self._carried:
            raise MalformedEvent(f"the envelope's type {envelope.type!r} is not an event type of {self.topic}")
        check_subject_agrees(record.key, envelope, payload)
        handler = self._handlers.get(envelope.type)
        if handler is None:  # sent without a header: a type of the topic this consumer needs no part of
            return None
        return DecodedEvent(record, envelope, payload, handler)

    async def _first_deliveries(
        self, connection: asyncpg.Connection, events: list[DecodedEvent[H]]
    ) -> list[DecodedEvent[H]]:
        """Mark the batch's events in the inbox (one statement); returns those not applied before, each once."""
        records = await connection.fetch(
            """INSERT INTO inbox (consumer, event_id, topic)
               SELECT $1, event_id, $3 FROM unnest($2::text[]) AS e(event_id)
               ON CONFLICT DO NOTHING RETURNING event_id""",
            self.name,
            [event.envelope.event_id for event in events],
            self.topic,
        )
        fresh = {r["event_id"] for r in records}
        first = []
        for event in events:
            event_id = event.envelope.event_id
            if event_id in fresh:
                fresh.discard(event_id)  # the same event twice in one batch applies once
                first.append(event)
            else:
                # A replay after a broker restart repeats hundreds of thousands: counted, logged at DEBUG only.
                log.debug("duplicate event ignored", extra={"consumer": self.name, "event_id": event_id})
        if len(first) < len(events):
            CONSUMER_DUPLICATES.labels(self.name, self.topic).inc(len(events) - len(first))
        return first


class EventConsumer(TypedEventConsumer[Handler]):
    """Handlers that read and write through the connection, in the batch's transaction.

    The effects run without savepoints, the common case being that none is
    refused. When the domain refuses one, the transaction rolls back and the
    batch runs again with a savepoint per event, so only the refused one is
    undone. Refused events are dead-lettered before the commit: if the commit
    then fails, the retry may dead-letter them again, but never loses one.
    """

    async def apply(self, events: list[DecodedEvent[Handler]], dead_letters: DeadLetters) -> int:
        # One span per event across both attempts: the refused one's says so once, in its dead letter.
        with RecordSpans(self.topic, self.name) as spans:
            try:
                return await self._apply(events, dead_letters, spans, isolated=False)
            except _RefusedEvent:
                return await self._apply(events, dead_letters, spans, isolated=True)

    async def _apply(
        self, events: list[DecodedEvent[Handler]], dead_letters: DeadLetters, spans: RecordSpans, *, isolated: bool
    ) -> int:
        """Apply the events the inbox has not seen, in one transaction; returns how many were applied.

        Not `isolated`, the first refused event raises _RefusedEvent (and the
        transaction rolls back); `isolated`, each event runs in a savepoint and
        the refused ones are dead-lettered before the commit.
        """
        applied = 0
        refusals: list[tuple[DecodedEvent[Handler], str]] = []
        async with unit_of_work(self._pool) as connection:
            for event in await self._first_deliveries(connection, events):
                refused: BaseException | None = None
                with in_span(spans, event.record):
                    try:
                        await self._apply_one(connection, event, isolated)
                    except _REFUSED as error:
                        refused = error
                if refused is None:
                    applied += 1
                elif isolated:
                    refusals.append((event, refusal_reason(refused)))
                else:
                    # Raised outside its span: the refusal is told by its dead letter, not as this attempt's error.
                    raise _RefusedEvent(refusal_reason(refused)) from refused
            for event, reason in refusals:
                with in_span(spans, event.record):
                    await self.dead_letter(event.record, dead_letters, reason)
        return applied

    @staticmethod
    async def _apply_one(connection: asyncpg.Connection, event: DecodedEvent[Handler], isolated: bool) -> None:
        check_event(event.payload)  # before any handler: refused, the event is dead-lettered naming the field
        if not isolated:
            await event.handler(connection, event.envelope, event.payload)
            return
        async with savepoint(connection):
            await event.handler(connection, event.envelope, event.payload)


def in_span(spans: RecordSpans, record: ConsumerRecord) -> AbstractContextManager[None]:
    """Work for a record in its span of the batch."""
    return spans.of(record.partition, record.offset, list(record.headers or ()))


class _RefusedEvent(Exception):
    """The domain refused an event of a batch applied without savepoints."""
