"""Event envelopes: building, encoding and decoding what travels on Kafka."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeVar

from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2, tickets_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.notifications.v1 import notifications_pb2
from opentelemetry import propagate

from services.common.ids import new_id
from services.common.json_timestamps import with_upper_case_timestamps
from services.common.kafka import (
    NOTIFICATIONS_REQUESTS_TOPIC,
    POINTS_EVENTS_TOPIC,
    PURCHASES_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
)
from services.common.unstorable import unstorable_field

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# What producers name the binary format: the platform's own events say PROTOBUF; application/protobuf is the
# registered name, and application/vnd.google.protobuf another common one.
_PROTOBUF_TYPES = frozenset({PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"})
_TYPE_URL_PREFIX = "type.googleapis.com/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Headers = Sequence[tuple[str, bytes]]

# An event's id is a UUID, as the platform's producers make it (the outbox's uuid column holds it): the inbox keys
# each consumer's applied events by it, and a text of kilobytes would not fit its index (the whole batch failing).
# Not quoted when refused, for that reason.
_EVENT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EVENT_ID_SHAPE = "32 hexadecimal digits in groups of 8-4-4-4-12"


class MalformedEvent(ValueError):
    """A message that is not a valid loyalty event; it goes to the dead-letter topic."""


def _names(*kinds: type[Message]) -> frozenset[str]:
    return frozenset(kind.DESCRIPTOR.full_name for kind in kinds)


# The event types each event topic carries: what the services publish there (their outbox writes) and, on the
# purchases topic, what the brand's commerce systems publish. A consumer skips by its ce_type header only a type
# of its topic that it does not apply; a type its topic does not carry is a producer's mistake, and skipping it
# would lose the event without a trace, so it is dead-lettered. partner.accruals.v1 is not here: partners send
# AccrualRecords, not envelopes (services/points/accrual_consumer.py).
TOPIC_EVENT_TYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        PURCHASES_TOPIC: _names(commerce_pb2.PurchaseMade, commerce_pb2.PurchaseRefunded),
        POINTS_EVENTS_TOPIC: _names(
            points_pb2.MemberEnrolled,
            points_pb2.PointsEarned,
            points_pb2.PointsRedeemed,
            points_pb2.PointsAdjusted,
            points_pb2.PointsReversed,
            points_pb2.PointsExpired,
            points_pb2.PointsExpiring,
            points_pb2.TierReached,
            points_pb2.TierLost,
            points_pb2.TierAtRisk,
            points_pb2.MemberClosed,
        ),
        REWARDS_EVENTS_TOPIC: _names(
            rewards_pb2.RewardRedeemed, rewards_pb2.RedemptionCancelled, rewards_pb2.CodeUsed, rewards_pb2.PerkGranted
        ),
        TICKETS_EVENTS_TOPIC: _names(
            tickets_pb2.TicketOpened,
            tickets_pb2.TicketAssigned,
            tickets_pb2.TicketSlaBreached,
            tickets_pb2.TicketResolved,
            tickets_pb2.SurveySubmitted,
            tickets_pb2.GoodwillGranted,
        ),
        NOTIFICATIONS_REQUESTS_TOPIC: _names(notifications_pb2.NotificationRequested),
    }
)


def event_types_of(topic: str) -> frozenset[str]:
    """The event types `topic` carries (TOPIC_EVENT_TYPES); ValueError for a topic of no registered types."""
    try:
        return TOPIC_EVENT_TYPES[topic]
    except KeyError:
        raise ValueError(f"no event types are registered for topic {topic!r} (events.TOPIC_EVENT_TYPES)") from None


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def timestamp(moment: datetime) -> Timestamp:
    """The Timestamp of a moment (a naive one is local time); a third the cost of Timestamp.FromDatetime,
    which every purchase pays several times."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)
    since = moment - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000)


def new_envelope(
    payload: Message,
    *,
    subject: str,
    source: str,
    occurred_at: datetime,
    event_id: uuid.UUID | None = None,
) -> EventEnvelope:
    return _envelope(payload, subject, source, timestamp(occurred_at), current_traceparent(), event_id)


def new_envelopes(
    payloads: Sequence[tuple[Message, str]], *, source: str, occurred_at: datetime
) -> list[EventEnvelope]:
    """Envelopes for (payload, subject) pairs made at one moment in one trace context (batch writes)."""
    stamp, traceparent = timestamp(occurred_at), current_traceparent()
    return [_envelope(payload, subject, source, stamp, traceparent, None) for payload, subject in payloads]


def _envelope(
    payload: Message, subject: str, source: str, stamp: Timestamp, traceparent: str, event_id: uuid.UUID | None
) -> EventEnvelope:
    envelope = EventEnvelope(
        event_id=str(event_id or new_id()),
        type=payload.DESCRIPTOR.full_name,
        source=source,
        occurred_at=stamp,
        subject=subject,
        traceparent=traceparent,
    )
    envelope.payload.Pack(payload)
    return envelope


def kafka_headers(envelope: EventEnvelope, traceparent: str | None = None) -> list[tuple[str, bytes]]:
    """The CloudEvents headers of an envelope; `traceparent` replaces the envelope's (the relay's span)."""
    traceparent = envelope.traceparent if traceparent is None else traceparent
    headers = [
        ("ce_id", envelope.event_id.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_source", envelope.source.encode()),
        ("content-type", PROTOBUF.encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return headers


def header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("utf-8", errors="replace")
    return None


def decode(value: bytes | None, headers: Headers) -> tuple[EventEnvelope, Message]:
    """Parse an envelope and its payload, by the `content-type` header (protobuf if absent)."""
    envelope = parse_message(value, headers, EventEnvelope(), "envelope")
    payload = _unpack_payload(envelope)
    for what, message in (("envelope", envelope), ("payload", payload)):
        # Well-formed, yet no handler could store it: refused here, naming the field, as a request would be.
        found = unstorable_field(message, f"{what}.")
        if found is not None:
            raise MalformedEvent(str(found))
    return envelope, payload


M = TypeVar("M", bound=Message)


def parse_message(value: bytes | None, headers: Headers, message: M, what: str) -> M:
    """Parse a message in the protobuf binary or JSON mapping, by the `content-type` header (binary if absent)."""
    if not value:
        raise MalformedEvent("empty message value")
    content_type = content_type_of(headers)
    try:
        if content_type in _PROTOBUF_TYPES:
            message.ParseFromString(value)
        elif content_type == JSON:
            text = value.decode("utf-8")
            if not text.lstrip().startswith("{"):  # the parser reads [] or "" as an empty message
                raise MalformedEvent(f"cannot parse {what}: the JSON mapping of a message is an object")
            # Unknown fields are skipped, as the binary format skips them: a producer on a newer
            # version of the contract is still understood.
            json_format.Parse(with_upper_case_timestamps(text, message), message, ignore_unknown_fields=True)
        else:
            raise MalformedEvent(
                f"unsupported content-type {content_type!r}: {PROTOBUF} (or application/protobuf) or {JSON}"
            )
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as error:
        raise MalformedEvent(f"cannot parse {what}: {error}") from error
    return message


def content_type_of(headers: Headers) -> str:
    """The format a message's `content-type` header names, without parameters (binary protobuf if absent)."""
    return (header(headers, "content-type") or PROTOBUF).split(";")[0].strip().lower()


def unknown_enum_names(value: bytes, message: Message) -> dict[str, str]:
    """By field name, the enum names the JSON mapping `value` gave `message`'s fields that this version does not know.

    parse_message skips them as it skips unknown fields (the binary format keeps an unknown number instead): a
    reader that must refuse such a value as wrong, not take it for missing, finds it here. Top-level fields only.
    """
    given = json.loads(value)
    unknown = {}
    for field in message.DESCRIPTOR.fields:
        if field.enum_type is None:
            continue
        name = given.get(field.json_name, given.get(field.name))
        if isinstance(name, str) and name not in field.enum_type.values_by_name:
            unknown[field.name] = name
    return unknown


def _unpack_payload(envelope: EventEnvelope) -> Message:
    if not envelope.event_id:
        raise MalformedEvent("envelope.event_id is empty")
    if not _EVENT_ID.fullmatch(envelope.event_id):
        raise MalformedEvent(f"envelope.event_id must be a UUID ({EVENT_ID_SHAPE})")
    if not envelope.type:
        raise MalformedEvent("envelope.type is empty")
    if envelope.payload.type_url != _TYPE_URL_PREFIX + envelope.type:
        raise MalformedEvent(
            f"envelope.payload holds {envelope.payload.type_url!r}, not envelope.type {envelope.type!r}"
        )
    try:
        message_class = symbol_database.Default().GetSymbol(envelope.type)
    except KeyError:
        raise MalformedEvent(f"unknown event type {envelope.type!r}") from None
    payload: Message = message_class()
    try:
        envelope.payload.Unpack(payload)
    except DecodeError as error:
        raise MalformedEvent(f"envelope.payload does not decode as {envelope.type}: {error}") from error
    return payload


def occurred_at(envelope: EventEnvelope) -> datetime:
    if not envelope.HasField("occurred_at"):
        return datetime.now(UTC)
    return envelope.occurred_at.ToDatetime(tzinfo=UTC)
