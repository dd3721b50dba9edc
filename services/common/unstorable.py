"""Values protobuf lets through that the services cannot keep: a NUL character in text (PostgreSQL text
cannot hold it) and a Timestamp outside years 1 to 9999 (Python's datetime cannot hold it) or at either end of
that range (asyncpg cannot store it: TIME_RANGE).

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
# Timestamp's first and last instants (0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999999999Z) are valid, but read
# to the microsecond they are datetime.min and datetime.max, which asyncpg writes as -infinity and infinity and
# reads back naive: every later read of the row would fail. The times between are taken.
TIME_RANGE = (
    "must be from 0001-01-01T00:00:00.000001Z to 9999-12-31T23:59:59.999998Z (times are kept to the microsecond)"
)
_ENDS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
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
    """An aware UTC datetime, or None for a time the services cannot take (checked_time says why)."""
    moment = checked_time(stamp)
    return moment if isinstance(moment, datetime) else None


def checked_time(stamp: Timestamp) -> datetime | str:
    """The aware UTC datetime `stamp` names, or why it names no time the services can take: seconds or nanos
    outside Timestamp's range (INVALID_TIMESTAMP), or one of its ends (TIME_RANGE)."""
    try:
        moment = stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return INVALID_TIMESTAMP
    return TIME_RANGE if moment in _ENDS else moment


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
        moment = checked_time(value)
        return Unstorable(path, moment) if isinstance(moment, str) else None
    return unstorable_field(value, path + ".")
