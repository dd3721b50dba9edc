"""RFC 3339 timestamps in the protobuf JSON mapping, as the RFC allows them written. Pure, no I/O.

RFC 3339 (section 5.6) lets the `T` between date and time and the `Z` of UTC be written in lower case
("2026-12-01t10:00:00z"); protobuf's JSON parser takes only upper case, so a producer writing the RFC's other
spelling would have its event dead-lettered. Only values of Timestamp-typed fields are touched, following the
message's descriptor through nested and repeated messages and `Any` payloads (the contracts map no messages,
only text): a string field holding such text (a description, an id) is the producer's text and stays as written.
"""

from __future__ import annotations

import json
import re
from typing import cast

from google.protobuf import descriptor_pool
from google.protobuf.any_pb2 import Any
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_ANY = Any.DESCRIPTOR.full_name
# The date-time separator after a full date, and the UTC designator ending the text.
_LOWER_CASE_LETTERS = re.compile(r"(?<=^\d{4}-\d{2}-\d{2})t|z\Z")
# Where JSON text may hold one: a 't' or 'z' after a digit, or an escape that could spell either.
_MAY_HOLD_LOWER_CASE_LETTERS = re.compile(r"[0-9][tz]|\\u")


def with_upper_case_timestamps(text: str, message: Message) -> str:
    """`text`, the JSON mapping of a message of `message`'s type, with its timestamps' `t` and `z` in upper case.

    Text that is not a JSON object with distinct keys is returned as it is, for the protobuf parser to refuse in
    its own words; so is text with nothing to change, as it was written.
    """
    if not _MAY_HOLD_LOWER_CASE_LETTERS.search(text):
        return text  # as most messages are: they are spared reading the JSON twice (partners send in bulk)
    try:
        given = json.loads(text, object_pairs_hook=_distinct_keys)
    except (ValueError, RecursionError):
        return text
    if not isinstance(given, dict):
        return text
    # The runtime's descriptor, which the type stubs keep apart from the one they give fields.
    fixed = _message(given, cast(Descriptor, message.DESCRIPTOR))
    return text if fixed == given else json.dumps(fixed)


def _distinct_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # The protobuf parser refuses a key given twice; reading the text here must not quietly keep the last one.
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key is given twice")
    return found


def _message(given: dict[str, object], descriptor: Descriptor) -> dict[str, object]:
    if descriptor.full_name == _ANY:
        return _any(given)
    fixed = dict(given)
    for field in descriptor.fields:
        kind = field.message_type
        if kind is None:
            continue
        # The parser takes a field by its JSON name or its proto name.
        for key in {field.json_name, field.name} & given.keys():
            value = given[key]
            if field.is_repeated and isinstance(value, list):
                fixed[key] = [_value(item, kind) for item in value]
            else:
                fixed[key] = _value(value, kind)
    return fixed


def _value(value: object, descriptor: Descriptor) -> object:
    if descriptor.full_name == _TIMESTAMP and isinstance(value, str):
        return _LOWER_CASE_LETTERS.sub(lambda letter: letter.group().upper(), value)
    if isinstance(value, dict):
        return _message(value, descriptor)
    return value


def _any(given: dict[str, object]) -> dict[str, object]:
    """An `Any`: its type's fields beside `@type`, or under `value` the JSON of a well-known type (a Timestamp)."""
    type_url = given.get("@type")
    if not isinstance(type_url, str):
        return given
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(type_url.split("/")[-1])
    except KeyError:
        return given
    if descriptor.file.name.startswith("google/protobuf/"):
        return {**given, "value": _value(given["value"], descriptor)} if "value" in given else given
    return _message(given, descriptor)
