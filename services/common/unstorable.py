"""Values protobuf lets through that the services cannot keep: a NUL character in text (PostgreSQL text
cannot hold it) and a Timestamp outside years 1 to 9999 (Python's datetime cannot hold it).

Requests (each message of a request stream too) and consumed events are
checked for both at any depth before any handler runs, so every RPC refuses
them alike, naming the field, and every consumer dead-letters them instead of
failing in the database or in datetime with an error that names no field.
The items of a field in `DECIDED_PER_ITEM` are left to their handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import InvalidArgument

INVALID_TIMESTAMP = "is not a valid timestamp"
NUL_CHARACTER = "must not contain the NUL character (\\x00)"
_NUL = "\x00"
# Repeated fields whose handler checks each item and answers it with its own status: a partner's accrual records,
# INVALID naming the field (as the Kafka intake answers them). An unstorable value in one record is that record's
# answer; refusing the whole call for it would refuse the valid records with it, on the unary call only.
DECIDED_PER_ITEM = frozenset({"loyalty.points.v1.AccrualBatch.records"})


class Unstorable(NamedTuple):
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def parsed_time(stamp: Timestamp) -> datetime | None:
    """An aware UTC datetime, or None for seconds or nanos outside Timestamp's range."""
    try:
        moment = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    if moment in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        return None
    return moment


def refuse_unstorable(request: Message) -> None:
    """InvalidArgument naming the first field, at any depth, that holds a NUL character or an invalid Timestamp."""
    found = unstorable_field(request)
    if found is not None:
        raise InvalidArgument.single(found.path, found.problem)


def unstorable_field(message: Message, prefix: str = "") -> Unstorable | None:
    """The first field, at any depth and in map keys and values, holding a NUL character or an invalid Timestamp;
    fields in DECIDED_PER_ITEM are not looked at."""
    for field, value in message.ListFields():
        if field.full_name in DECIDED_PER_ITEM:
            continue
        path = prefix + field.name
        entry = field.message_type if field.is_repeated else None
        if entry is not None and entry.GetOptions().map_entry:
            if any(_NUL in key for key in value if isinstance(key, str)):
                return Unstorable(path, NUL_CHARACTER)
            field = entry.fields_by_name["value"]
            items: Iterable[tuple[str, object]] = ((f"{path}[{key!r}]", item) for key, item in value.items())
        elif field.is_repeated:
            items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
        else:
            items = [(path, value)]
        for item_path, item in items:
            found = _in_value(field, item, item_path)
            if found is not None:
                return found
    return None


def _in_value(field: FieldDescriptor, value: object, path: str) -> Unstorable | None:
    if field.type == FieldDescriptor.TYPE_STRING and isinstance(value, str) and _NUL in value:
        return Unstorable(path, NUL_CHARACTER)
    if field.type != FieldDescriptor.TYPE_MESSAGE or not isinstance(value, Message):
        return None
    if isinstance(value, Duration) and not (
        -999_999_999 <= value.nanos <= 999_999_999 and (value.seconds * value.nanos >= 0)
    ):
        return Unstorable(path, "is not a valid duration")
    if isinstance(value, Timestamp):
        return None if parsed_time(value) is not None else Unstorable(path, INVALID_TIMESTAMP)
    return unstorable_field(value, path + ".")
