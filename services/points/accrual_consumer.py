"""Partner accruals from Kafka (`partner.accruals.v1`): the same intake as the gRPC stream, a poll at a time.

Each message is one AccrualRecord, protobuf or its JSON mapping by the
`content-type` header, keyed by member id. The producing partner names itself
in the `partner-id` header and proves it with `authorization: Bearer <key>`.
A poll's records are grouped by partner and ingested in batches (one
transaction each); the partitions of a poll are ingested at the same time.
A message that cannot be read, or whose partner or key does not check out,
goes to `partner.accruals.v1.dlq` with the reason; so does every record
refused by the intake (unknown member, invalid field, no rate). Both count in
the partner's control totals (the first as INVALID, for the partner whose key
signs it), except a message with no valid key: nothing names its partner. A record the partner sends again
answers DUPLICATE and changes nothing: the partner's transaction id is the
idempotency key. A message this consumer reads again (the same message: a
broker restart makes it read a partition from the beginning) is skipped, so
that the control totals count what the partner sent, not what was read.

Traces follow the partner's: a batch gets a `partner.accruals.v1 process` span
linked to each record that came in a sampled trace (none when every record's
trace is unsampled), and the PointsEarned of a record continues the trace its
`traceparent` header names.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from typing import NamedTuple

import asyncpg
from aiokafka import ConsumerRecord
from loyalty.points.v1 import partners_pb2 as pb
from opentelemetry import context as otel_context

from services.common.auth import bearer_token
from services.common.consumer import BatchConsumer, refusal_reason
from services.common.db import VALUE_REFUSED
from services.common.dead_letters import DeadLetters
from services.common.errors import DomainError
from services.common.events import JSON, MalformedEvent, content_type_of, header, parse_message, unknown_enum_names
from services.common.kafka import PARTNER_ACCRUALS_TOPIC
from services.common.metrics import CONSUMER_APPLIED, CONSUMER_DUPLICATES
from services.common.settings import KafkaSettings
from services.common.tracing import carried_context, consuming_batch
from services.points.accrual_application import AccrualApplication
from services.points.partner_accrual import MAX_BATCH, RawRecord, Status
from services.points.partner_api import raw_record

log = logging.getLogger(__name__)

_ANSWERED = (Status.ACCEPTED, Status.DUPLICATE)


class PartnerAccrualConsumer(BatchConsumer):
    max_poll_records = MAX_BATCH
    # Keyed by member id: partitions never share a member (measured: 8,001 records/s against 6,635).
    parallel_partitions = True
    one_span_per_batch = True

    def __init__(
        self,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        accruals: AccrualApplication,
        *,
        name: str = "points.partner-accruals",
        topic: str = PARTNER_ACCRUALS_TOPIC,
    ) -> None:
        super().__init__(name=name, topic=topic, pool=pool, kafka=kafka)
        self._accruals = accruals
        # Per partition, the highest offset this consumer has answered: a record at or below it is being read
        # again (the partition was read from the beginning after a lost log), and only then is the database asked.
        # A partition missing here (the first batch since the process started, since the group assigned it, or
        # since a batch failed part way) may hold messages answered before, by this process or another member of
        # the group: the database is asked about all of it. A batch polled before the group assigned partitions
        # again, ending after, leaves its partition missing.
        self._answered_up_to: dict[int, int] = {}

    def partitions_assigned(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._answered_up_to.pop(partition, None)

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        carried = [carried_context(list(record.headers or ())) for record in records]
        with consuming_batch(self.topic, self.name, carried):
            # A record's points are announced in the trace it came in; one that came in none, in the batch's.
            traces = [trace or otel_context.get_current() for trace in carried]
            by_partner: dict[str, list[_Accrual]] = defaultdict(list)
            unread: dict[str, list[tuple[ConsumerRecord, str]]] = defaultdict(list)
            partners: dict[str, str | None] = {}
            for record, record_trace in zip(records, traces, strict=True):
                try:
                    partner_id, accrual = await self._read(record, partners)
                except _Unread as error:
                    unread[error.partner_id].append((record, str(error)))
                    continue
                except (MalformedEvent, DomainError) as error:
                    await self.dead_letter_unreadable(record, dead_letters, str(error))
                    continue
                by_partner[partner_id].append(_Accrual(record, accrual, record_trace))
            try:
                for partner_id, refused in unread.items():
                    await self._refuse_unread(partner_id, refused, dead_letters)
                for partner_id, items in by_partner.items():
                    await self._ingest(partner_id, items, dead_letters)
            except BaseException:
                # Some partners' records may be answered already: their redelivery must find those answers.
                for record in records:
                    self._answered_up_to.pop(record.partition, None)
                raise
            if self.assigned_since_poll:
                return  # another member may have answered past them since: the next batch asks the database
            for record in records:
                self._answered_up_to[record.partition] = max(
                    record.offset, self._answered_up_to.get(record.partition, -1)
                )

    async def _read(self, record: ConsumerRecord, partners: dict[str, str | None]) -> tuple[str, RawRecord]:
        """The authenticated partner and the record; `partners` caches key -> partner for this poll."""
        headers = list(record.headers or ())
        named = header(headers, "partner-id") or ""
        key = bearer_token(header(headers, "authorization") or "")
        if key not in partners:
            try:
                partners[key] = await self._accruals.partner_of_key(key)
            except DomainError:
                partners[key] = None
        owner = partners[key]
        if owner is None:
            raise MalformedEvent("unauthenticated: the authorization header holds no valid partner key")
        if not named:
            raise _Unread(owner, "permission denied: the partner-id header, naming the producing partner, is missing")
        if owner != named:
            raise _Unread(owner, f"permission denied: the key is not partner {named!r}'s")
        try:
            accrual = parse_message(record.value, headers, pb.AccrualRecord(), "AccrualRecord")
        except MalformedEvent as error:
            raise _Unread(owner, str(error)) from error
        unknown = ""
        if not accrual.activity_type and content_type_of(headers) == JSON:
            # Its JSON mapping drops a name this version does not know: a wrong activity type, not a missing one.
            unknown = unknown_enum_names(record.value, accrual).get("activity_type", "")
        return owner, raw_record(accrual, unknown)

    async def _refuse_unread(
        self, partner_id: str, refused: list[tuple[ConsumerRecord, str]], dead_letters: DeadLetters
    ) -> None:
        """Answer INVALID the partner's messages that hold no record it may send, then dead-letter them with why.

        Nothing else tells the partner: its control totals must count them (a message read again once).
        """
        await self._accruals.refuse_unread(partner_id, [message_identity(record) for record, _ in refused])
        for record, reason in refused:
            await self.dead_letter_unreadable(record, dead_letters, reason)

    async def _ingest(self, partner_id: str, items: list[_Accrual], dead_letters: DeadLetters) -> None:
        items = await self._not_answered(items, dead_letters)
        if not items:
            return
        try:
            decisions = await self._accruals.ingest(
                partner_id,
                [item.raw for item in items],
                kafka_messages=[message_identity(item.record) for item in items],
                traces=[item.trace for item in items],
            )
        except DomainError as error:
            # The batch as a whole cannot be taken (no single program in force, say): nothing was written.
            for item in items:
                await self.dead_letter(item.record, dead_letters, f"refused: {error.logged}")
            return
        except VALUE_REFUSED as error:
            # A value the database refuses (a member's total out of range, say) fails the whole batch, and would
            # on every redelivery: the records go one at a time, and only the refused one is dead-lettered.
            if len(items) == 1:
                await self.dead_letter(items[0].record, dead_letters, refusal_reason(error))
                return
            for item in items:
                await self._ingest(partner_id, [item], dead_letters)
            return
        # Applied once committed, as an event consumer counts them; the refused ones count as dead-lettered.
        applied = sum(1 for decision in decisions if decision.status in _ANSWERED)
        self.applied += applied
        CONSUMER_APPLIED.labels(self.name, self.topic).inc(applied)
        for item, decision in zip(items, decisions, strict=True):
            if decision.status not in _ANSWERED:
                detail = f"{decision.field}: {decision.reason}" if decision.field else decision.reason
                await self.dead_letter(item.record, dead_letters, f"{decision.status.value}: {detail}")

    async def _not_answered(self, items: list[_Accrual], dead_letters: DeadLetters) -> list[_Accrual]:
        """The items not answered before; one answered and refused is dead-lettered again, not decided again.

        Its first dead letter may not have been sent: the answer commits before the dead letters go out.
        """
        again = [item.record for item in items if self._maybe_answered(item.record)]
        if not again:
            return items
        answered = await self._accruals.answered_messages([message_identity(record) for record in again])
        if not answered:
            return items
        CONSUMER_DUPLICATES.labels(self.name, self.topic).inc(len(answered))
        log.debug("partner messages read again skipped", extra={"messages": len(answered)})
        fresh = []
        for item in items:
            status = answered.get(message_identity(item.record))
            if status is None:
                fresh.append(item)
            elif Status(status) not in _ANSWERED:
                await self.dead_letter(item.record, dead_letters, f"{status}: answered {status} before; read again")
        return fresh

    def _maybe_answered(self, record: ConsumerRecord) -> bool:
        answered_up_to = self._answered_up_to.get(record.partition)
        return answered_up_to is None or record.offset <= answered_up_to


class _Accrual(NamedTuple):
    """A partner's record read from its message, and the trace its points are announced in."""

    record: ConsumerRecord
    raw: RawRecord
    trace: otel_context.Context


class _Unread(MalformedEvent):
    """A message signed by `partner_id`'s key that holds no record it may send (unreadable, or naming no partner or
    another one)."""

    def __init__(self, partner_id: str, reason: str) -> None:
        super().__init__(reason)
        self.partner_id = partner_id


def message_identity(record: ConsumerRecord) -> str:
    """The message, not its content: a partner sending a record again sends another message (offset, timestamp).

    The partner it names counts too: a broker that restarts empty hands out its offsets again, and two partners'
    records can be the same bytes."""
    named = (header(list(record.headers or ()), "partner-id") or "").encode()
    checksum = zlib.crc32(named + b"\0" + (record.value or b""))
    return f"{record.partition}:{record.offset}:{record.timestamp}:{checksum}"
