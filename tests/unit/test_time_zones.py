"""Time zones are IANA names, never a file of the zone database that names no zone."""

from __future__ import annotations

import pytest

from services.common.time_zones import time_zone


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/New_York", "Asia/Tokyo", "Etc/GMT+5"])
def test_iana_zones_are_known(name: str) -> None:
    zone = time_zone(name)
    assert zone is not None and zone.key == name


@pytest.mark.parametrize(
    "name", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin", "America", "", "../etc/passwd"]
)
def test_files_that_name_no_zone_are_not_zones(name: str) -> None:
    assert time_zone(name) is None
