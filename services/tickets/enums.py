"""Protobuf enums to the domain's lower-case names and back: TICKET_CATEGORY_MISSING_POINTS <-> "missing_points"."""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from services.common.errors import Violations


def _prefix(enum: EnumTypeWrapper) -> str:
    return enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")


def optional_enum_value(violations: Violations, field: str, enum: EnumTypeWrapper, value: int) -> str:
    """The domain name of an enum value, "" for UNSPECIFIED; an unknown number is a violation."""
    if value == 0:
        return ""
    if value not in enum.values():
        violations.add(field, f"must be one of {', '.join(enum.keys()[1:])}")
        return ""
    return enum.Name(value).removeprefix(_prefix(enum)).lower()


def enum_value(violations: Violations, field: str, enum: EnumTypeWrapper, value: int) -> str:
    """Like optional_enum_value, but UNSPECIFIED is a violation too."""
    if value == 0:
        violations.add(field, f"is required: one of {', '.join(enum.keys()[1:])}")
        return ""
    return optional_enum_value(violations, field, enum, value)


def proto_enum(enum: EnumTypeWrapper, name: str) -> str:
    """The protobuf name of a domain name, which message constructors take for the enum value."""
    full_name = _prefix(enum) + name.upper()
    enum.Value(full_name)  # a name the enum lacks is a bug here, never a caller's error
    return full_name
