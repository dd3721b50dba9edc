"""Timestamps between protobuf and aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import InvalidArgument, Violations
from services.common.events import timestamp
from services.common.unstorable import checked_time

_EARLIEST = datetime.min.replace(tzinfo=UTC)


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else timestamp(moment)


def required_time(violations: Violations, field: str, message: Message) -> datetime:
    """The timestamp field of a request as an aware UTC datetime; a violation when unset or out of range."""
    if not message.HasField(field):
        violations.add(field, "is required")
        return _EARLIEST
    moment = checked_time(getattr(message, field))
    if isinstance(moment, str):
        violations.add(field, moment)
        return _EARLIEST
    return moment


def optional_time(message: Message, field: str, path: str | None = None) -> datetime | None:
    """The timestamp field of a request as an aware UTC datetime, None when unset (`path` names it in errors)."""
    return to_datetime(getattr(message, field), path or field) if message.HasField(field) else None


def to_datetime(stamp: Timestamp, field: str) -> datetime:
    """An aware UTC datetime; InvalidArgument naming `field` for a time the services cannot take."""
    moment = checked_time(stamp)
    if isinstance(moment, str):
        raise InvalidArgument.single(field, moment)
    return moment


def to_timedelta(duration: Duration, field: str) -> timedelta:
    """A timedelta; InvalidArgument naming `field` for a Duration out of range."""
    try:
        return duration.ToTimedelta()
    except (ValueError, OverflowError):
        raise InvalidArgument.single(field, "is not a valid duration") from None
