"""`loyalty notifications preferences`: the options given change those preferences and keep the others; an unknown
channel or category is refused before any call, named as typed."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
import pytest
from loyalty.notifications.v1 import notifications_pb2 as pb

from services import notifications_cli
from services.cli import main
from services.notifications_cli import PreferenceChanges


def options(**given: str) -> argparse.Namespace:
    return argparse.Namespace(**{"channels": None, "opt_out": None, "time_zone": None, "quiet": None, **given})


def berlin_member() -> pb.Preferences:
    current = pb.Preferences(
        member_id="alice",
        channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_PUSH],
        opted_out=[pb.CATEGORY_SURVEYS],
        time_zone="Europe/Berlin",
        customized=True,
    )
    current.quiet_hours.start, current.quiet_hours.end = "22:00", "07:30"
    return current


def changed(args: argparse.Namespace) -> pb.Preferences:
    changes = PreferenceChanges.given(args)
    assert changes is not None
    return changes.applied_to(berlin_member())


def test_a_time_zone_alone_changes_the_time_zone_and_keeps_the_rest() -> None:
    chosen = changed(options(time_zone="Asia/Tokyo"))
    assert chosen.time_zone == "Asia/Tokyo"
    assert list(chosen.channels) == [pb.CHANNEL_EMAIL, pb.CHANNEL_PUSH]
    assert list(chosen.opted_out) == [pb.CATEGORY_SURVEYS]
    assert (chosen.quiet_hours.start, chosen.quiet_hours.end) == ("22:00", "07:30")


def test_channels_opt_outs_and_quiet_hours_given_replace_theirs() -> None:
    chosen = changed(options(channels="sms", opt_out="points,tier", quiet="23:00-06:00"))
    assert list(chosen.channels) == [pb.CHANNEL_SMS]
    assert list(chosen.opted_out) == [pb.CATEGORY_POINTS, pb.CATEGORY_TIER]
    assert (chosen.quiet_hours.start, chosen.quiet_hours.end) == ("23:00", "06:00")
    assert chosen.time_zone == "Europe/Berlin"


def test_none_clears_opt_outs_and_quiet_hours() -> None:
    chosen = changed(options(opt_out="none", quiet="none"))
    assert list(chosen.opted_out) == []
    assert not chosen.HasField("quiet_hours")


def test_without_options_nothing_is_changed() -> None:
    assert PreferenceChanges.given(options()) is None


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--channels", "email,fax"], "loyalty: unknown channel 'fax'; choose from email, sms, push or none"),
        (
            ["--channels", "email", "--opt-out", "points,spam"],
            "loyalty: unknown category 'spam'; choose from account, points, tier, rewards, birthday, service, surveys"
            " or none",
        ),
    ],
)
def test_an_unknown_channel_or_category_is_named_as_typed_with_the_accepted_ones(options: list[str], said: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["notifications", "preferences", "alice", *options])
    assert exited.value.code == said


class _NotFound(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), grpc.aio.Metadata(), "member not known")


class _Stub:
    def __init__(self) -> None:
        self.saved: pb.Preferences | None = None

    async def GetPreferences(self, request: pb.GetPreferencesRequest) -> pb.GetPreferencesResponse:
        raise _NotFound()

    async def SetPreferences(self, request: pb.SetPreferencesRequest) -> pb.SetPreferencesResponse:
        self.saved = request.preferences
        return pb.SetPreferencesResponse(preferences=request.preferences)


def test_preferences_for_a_member_not_known_yet_are_refused_without_channels_and_saved_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set before enrolment, preferences replace the defaults: quiet hours alone would store no channel (no
    messages at all), so --channels is asked for."""
    stub = _Stub()

    async def fake_call(call: Any) -> Any:
        return await call(stub)

    monkeypatch.setattr(notifications_cli, "_call", fake_call)
    quiet_only = argparse.Namespace(member_id="bob", channels=None, opt_out=None, time_zone=None, quiet="22:00-07:00")
    with pytest.raises(SystemExit, match="give --channels too"):
        asyncio.run(notifications_cli._preferences(quiet_only))
    assert stub.saved is None
    with_channels = argparse.Namespace(**{**vars(quiet_only), "channels": "email"})
    assert asyncio.run(notifications_cli._preferences(with_channels)) == 0
    assert stub.saved is not None
    assert (list(stub.saved.channels), stub.saved.quiet_hours.start) == ([pb.CHANNEL_EMAIL], "22:00")
