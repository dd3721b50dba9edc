"""Request text PostgreSQL cannot store: the NUL character, which protobuf strings may hold."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import InvalidArgument

_NUL = "\x00"


def refuse_nul_characters(request: Message) -> None:
    """InvalidArgument naming the first string field, at any depth, that holds a NUL character.

    Checked before any handler runs, so every RPC refuses it alike instead of
    failing in the database with an error that names no field.
    """
    path = _field_with_nul(request, "")
    if path is not None:
        raise InvalidArgument.single(path, "must not contain the NUL character (\\x00)")


def _field_with_nul(message: Message, prefix: str) -> str | None:
    for field, value in message.ListFields():
        path = prefix + field.name
        entry = field.message_type if field.is_repeated else None
        if entry is not None and entry.GetOptions().map_entry:
            if any(_NUL in key for key in value if isinstance(key, str)):
                return path
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


def _in_value(field: FieldDescriptor, value: object, path: str) -> str | None:
    if field.type == FieldDescriptor.TYPE_STRING and isinstance(value, str) and _NUL in value:
        return path
    if field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(value, Message):
        return _field_with_nul(value, path + ".")
    return None
