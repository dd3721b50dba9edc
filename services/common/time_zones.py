"""IANA time zones named in requests and configuration."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def time_zone(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None when there is none.

    Besides not-found, ZoneInfo raises ValueError for a malformed key and
    OSError for a directory ("America") or a name too long for a file name.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
