"""Protobuf enums to the domain's lower-case names and back: TICKET_CATEGORY_MISSING_POINTS <-> "missing_points".

Every enum of these protos is open (proto3): a request may carry any int32 in an enum field, and the message keeps
it. A number the enum lacks is no value a caller could mean, so reading one is a violation naming the field, the
same in every service; it is never taken for UNSPECIFIED, which for an optional field would store a default the
caller did not ask for.
"""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from services.common.errors import Violations


def _prefix(enum: EnumTypeWrapper) -> str:
    return enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")


def _known(enum: EnumTypeWrapper) -> str:
    return ", ".join(enum.keys()[1:])


def optional_enum_value(violations: Violations, field: str, enum: EnumTypeWrapper, value: int) -> str:
    """The domain name of an enum value, "" for UNSPECIFIED; an unknown number is a violation."""
    if value == 0:
        return ""
    if value not in enum.values():
        violations.add(field, f"must be one of {_known(enum)}", value=str(value))
        return ""
    return enum.Name(value).removeprefix(_prefix(enum)).lower()


def enum_value(violations: Violations, field: str, enum: EnumTypeWrapper, value: int) -> str:
    """Like optional_enum_value, but UNSPECIFIED is a violation too."""
    if value == 0:
        violations.add(field, f"is required: one of {_known(enum)}")
        return ""
    return optional_enum_value(violations, field, enum, value)


def proto_enum(enum: EnumTypeWrapper, name: str) -> str:
    """The protobuf name of a domain name ("" for UNSPECIFIED, as optional_enum_value reads it), which message
    constructors take for the enum value."""
    full_name = _prefix(enum) + (name.upper() or "UNSPECIFIED")
    enum.Value(full_name)  # a name the enum lacks is a bug here, never a caller's error
    return full_name
