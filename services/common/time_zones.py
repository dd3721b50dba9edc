"""IANA time zones named in requests and configuration."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

# Files of the zone database that are not zones anyone names: the host's own zone (which differs from host to
# host), the rules template, the placeholder zone, and the same zones again under other trees.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_OTHER_TREES = ("posix/", "right/")


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(
        name for name in available_timezones() if name not in _NOT_ZONES and not name.startswith(_OTHER_TREES)
    )


def time_zone(name: str) -> ZoneInfo | None:
    """The IANA zone called `name` (e.g. Europe/Berlin, UTC), or None when there is none."""
    return ZoneInfo(name) if name in _zone_names() else None
