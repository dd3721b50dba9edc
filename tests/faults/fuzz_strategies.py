"""Hypothesis strategies for any protobuf request, built from its descriptor, and every RPC of the platform.

Strings run from empty to huge, with ids that exist mixed in so calls get past
NOT_FOUND; numbers include negatives and the edges of their width; enums take
unknown values; timestamps and durations go far past, far future and out of
their valid range; nested messages nest a few levels.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import loyalty
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 3
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Timestamp seconds valid from 0001-01-01 to 9999-12-31; beyond that a message still carries them.
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def streams_requests(self) -> bool:
        return bool(self.method.client_streaming)

    @property
    def streams_responses(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def owner(self) -> str:
        """The platform service that serves it: points, rewards or tickets (loyalty.<owner>.v1)."""
        return self.service.split(".")[1]

    def __str__(self) -> str:
        return f"{self.owner}.{self.service.rsplit('.', 1)[-1]}.{self.method.name}"


def platform_rpcs() -> list[Rpc]:
    """Every RPC of every service in the generated code (loyalty.<service>.v1), events excluded."""
    rpcs = []
    for module_info in pkgutil.walk_packages(loyalty.__path__, "loyalty."):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(module_info.name)
        for service in module.DESCRIPTOR.services_by_name.values():
            rpcs += [Rpc(service.full_name, method) for method in service.methods]
    return sorted(rpcs, key=str)


def message_class(descriptor: Descriptor) -> type[Message]:
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def _strings(known: Sequence[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(list(known) or [""]),
        st.from_regex(r"[a-z0-9][a-z0-9._:-]{0,70}", fullmatch=True),
        st.integers(1_000, 300_000).map(lambda n: "x" * n),
        st.sampled_from(["", " ", "\x00", "\u202e", "'; DROP TABLE members; --", "9" * 40, "-1", "1e309", "NaN"]),
    )


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [low, high, 0, -1, 1]
    return st.one_of(st.integers(low, high), st.sampled_from([e for e in edges if low <= e <= high]))


def _timestamp(cls: type[Message]) -> st.SearchStrategy[Message]:
    low, high = TIMESTAMP_SECONDS
    seconds = st.one_of(_integers(low, high), st.integers(INT64[0], INT64[1]), st.sampled_from([low - 1, high + 1]))
    nanos = st.one_of(st.just(0), st.integers(-(10**9), 2 * 10**9))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _duration(cls: type[Message]) -> st.SearchStrategy[Message]:
    seconds = st.one_of(st.integers(-1_000, 10**7), st.integers(INT64[0], INT64[1]))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, st.integers(-(10**9), 10**9))


def _scalar(field: FieldDescriptor, known: Sequence[str]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _strings(known)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(values), st.integers(-3, 1_000), st.just(INT32[1]))
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return _integers(0, 2**32 - 1)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return _integers(0, 2**64 - 1)
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return _integers(*INT64)
    return _integers(*INT32)


def _field(field: FieldDescriptor, known: Sequence[str], depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            return st.dictionaries(_field(key, known, depth), _field(value, known, depth + 1), max_size=3)
        element = messages(field.message_type, known, depth + 1)
    else:
        element = _scalar(field, known)
    if field.is_repeated:
        return st.lists(element, max_size=3)
    return element


def messages(descriptor: Descriptor, known: Sequence[str] = (), depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of `descriptor`'s type: each field set or not, with hostile values."""
    cls = message_class(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp(cls)
    if descriptor.full_name == "google.protobuf.Duration":
        return _duration(cls)
    if depth >= MAX_DEPTH or descriptor.full_name.startswith("google.protobuf."):
        return st.just(cls())
    fields = {f.name: _field(f, known, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        target = getattr(message, name)
        if isinstance(value, Message):
            target.CopyFrom(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif isinstance(value, list):
            target.extend(value)
        else:
            setattr(message, name, value)
    return message
