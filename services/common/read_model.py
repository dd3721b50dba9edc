"""Consumers that keep a read model: handlers that only write, written together once per batch.

A read model (insights) records facts: each handler checks an event and asks
for idempotent, order-independent writes (`INSERT ... ON CONFLICT`). Instead
of a round trip per write, the batch's writes are gathered and sent with one
pipelined `executemany` per distinct statement, in the transaction that marks
the events in the inbox. A refused event's writes are simply dropped: nothing
was sent, so no savepoint is needed. When the database refuses a value of
the batch, each event is applied alone, and the one whose value it refuses is
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.consumer import refusal_reason
from services.common.db import VALUE_REFUSED, unit_of_work
from services.common.dead_letters import DeadLetters
from services.common.errors import DomainError
from services.common.event_consumer import DecodedEvent, TypedEventConsumer, in_span
from services.common.event_fields import check_event
from services.common.tracing import RecordSpans


class Writes:
    """Statements asked for and not yet sent; `execute` has the signature of asyncpg's."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[object, ...]]] = []

    async def execute(self, query: str, *args: object) -> None:
        self.statements.append((query, args))

    def extend(self, other: Writes) -> None:
        self.statements.extend(other.statements)

    async def send(self, connection: asyncpg.Connection) -> None:
        """One executemany per distinct statement, in the order each first appeared."""
        by_query: dict[str, list[tuple[object, ...]]] = {}
        for query, args in self.statements:
            by_query.setdefault(query, []).append(args)
        for query, rows in by_query.items():
            await connection.executemany(query, rows)


WriteHandler = Callable[[Writes, EventEnvelope, Message], Awaitable[None]]


class ReadModelConsumer(TypedEventConsumer[WriteHandler]):
    async def apply(self, events: list[DecodedEvent[WriteHandler]], dead_letters: DeadLetters) -> int:
        # One span per event, however many times it is attempted (the batch, then each event alone).
        with RecordSpans(self.topic, self.name) as spans:
            return await self._apply(events, dead_letters, spans)

    async def _apply(
        self, events: list[DecodedEvent[WriteHandler]], dead_letters: DeadLetters, spans: RecordSpans
    ) -> int:
        try:
            return await self._apply_together(events, dead_letters, spans)
        except VALUE_REFUSED as error:
            if len(events) == 1:
                with in_span(spans, events[0].record):
                    await self.dead_letter(events[0].record, dead_letters, refusal_reason(error))
                return 0
        # A batched statement cannot tell whose values the database refused: each event alone finds it.
        return sum([await self._apply([event], dead_letters, spans) for event in events])

    async def _apply_together(
        self, events: list[DecodedEvent[WriteHandler]], dead_letters: DeadLetters, spans: RecordSpans
    ) -> int:
        batch = Writes()
        applied = 0
        refusals: list[tuple[DecodedEvent[WriteHandler], str]] = []
        async with unit_of_work(self._pool) as connection:
            for event in await self._first_deliveries(connection, events):
                writes = Writes()
                with in_span(spans, event.record):
                    try:
                        check_event(event.payload)  # before the handler, as EventConsumer does
                        await event.handler(writes, event.envelope, event.payload)
                    except DomainError as error:
                        refusals.append((event, error.logged))
                        continue
                batch.extend(writes)
                applied += 1
            await batch.send(connection)
            # Before the commit: if it fails, the retry may dead-letter them again, but never loses one.
            for event, reason in refusals:
                with in_span(spans, event.record):
                    await self.dead_letter(event.record, dead_letters, reason)
        return applied
