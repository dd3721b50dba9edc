"""Timestamps between protobuf and aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import Violations
from services.common.events import timestamp


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else timestamp(moment)


def required_time(violations: Violations, field: str, message: Message) -> datetime:
    """The timestamp field of a request as an aware UTC datetime; a violation when unset."""
    if not message.HasField(field):
        violations.add(field, "is required")
        return datetime.min.replace(tzinfo=UTC)
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)
