"""`loyalty notifications preferences`: the options given change those preferences and keep the others; an unknown
channel or category is refused before any call, named as typed."""

from __future__ import annotations

import argparse

import pytest
from loyalty.notifications.v1 import notifications_pb2 as pb

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
