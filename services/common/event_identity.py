"""What a message says more than once of its event must agree: its headers, Kafka key, envelope and payload.

A producer that contradicts itself cannot be trusted either way, so such a message is dead-lettered, not applied
as one of its versions. Headers are optional (JSON producers may omit them) and so is the key; when present they
must agree with the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from google.protobuf.message import Message
from loyalty.events.v1 import rewards_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.events import TOPIC_EVENT_TYPES, Headers, MalformedEvent, header

# By event type, the payload fields naming what the event is about: its envelope's subject, which keys the Kafka
# message so that a member's events stay in order, is the first of them that is set. Every event names its member
# in `member_id` (MemberEnrolled's referrer is not its subject: the enrolment is the referee's); a promo code is
# issued to no member, so its use is keyed by its campaign (docs/rewards.md).
SUBJECT_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {event_type: ("member_id",) for carried in TOPIC_EVENT_TYPES.values() for event_type in carried}
    | {rewards_pb2.CodeUsed.DESCRIPTOR.full_name: ("member_id", "campaign_id")}
)


def check_headers_agree(headers: Headers, envelope: EventEnvelope) -> None:
    """MalformedEvent if the `ce_type` or `ce_id` header names another type or event than the envelope."""
    declared_type = header(headers, "ce_type")
    if declared_type is not None and declared_type != envelope.type:
        raise MalformedEvent(
            f"the ce_type header {declared_type!r} does not match the envelope's type {envelope.type!r}"
        )
    declared_id = header(headers, "ce_id")
    # Not the same event to the inbox (the envelope's id) as to whoever reads the header: applied twice, or lost.
    if declared_id is not None and declared_id != envelope.event_id:
        raise MalformedEvent(
            f"the ce_id header {declared_id!r} does not match the envelope's event_id {envelope.event_id!r}"
        )


def check_subject_agrees(key: bytes | None, envelope: EventEnvelope, payload: Message) -> None:
    """MalformedEvent if the envelope's subject is not whom the payload is about, or the Kafka key not the subject.

    Under another key than its member's, an event can land on another partition than the member's other events and
    be applied out of order (a refund before its purchase).
    """
    fields = SUBJECT_FIELDS[envelope.type]
    about = subject_of(payload, fields)
    # A payload naming no one (a PurchaseRefunded may leave its member to the purchase) contradicts no subject;
    # where its type requires the member, its handler refuses it naming the field.
    if about and envelope.subject != about:
        named = " or ".join(f"payload.{field}" for field in fields)
        raise MalformedEvent(f"the envelope's subject {envelope.subject!r} is not its {named} {about!r}")
    if key is not None and key != envelope.subject.encode():
        shown = key.decode("utf-8", errors="replace")
        raise MalformedEvent(f"the Kafka key {shown!r} does not match the envelope's subject {envelope.subject!r}")


def subject_of(payload: Message, fields: tuple[str, ...]) -> str:
    """The first of `fields` set in `payload`; empty if none is."""
    return next((value for field in fields if (value := getattr(payload, field))), "")
