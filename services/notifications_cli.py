"""Client commands for member messaging, over gRPC NotificationPreferencesService (at LOYALTY_NOTIFICATIONS_ADDRESS):

loyalty notifications preview TEMPLATE MEMBER [--var NAME=VALUE ...]   render a template for a member
loyalty notifications preferences MEMBER                               show a member's preferences
loyalty notifications preferences MEMBER [--channels email,sms] [--opt-out points,tier]
                                         [--time-zone Europe/Berlin] [--quiet 22:00-07:00]   change those given
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

import grpc
from loyalty.notifications.v1 import notifications_pb2 as pb
from loyalty.notifications.v1 import notifications_pb2_grpc

from services.common.settings import client_address, grpc_tls_settings
from services.common.tls import grpc_channel

T = TypeVar("T")


def add_notifications_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    notifications = commands.add_parser("notifications", help="preview messages, read and set member preferences")
    actions = notifications.add_subparsers(dest="notifications_command", required=True)

    preview = actions.add_parser("preview", help="render a template for a member, sending nothing")
    preview.add_argument("template_id", help="e.g. tier_reached, points_expiring, welcome")
    preview.add_argument("member_id")
    preview.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a variable's value")
    preview.set_defaults(run=lambda args: asyncio.run(_preview(args)))

    preferences = actions.add_parser(
        "preferences", help="show a member's preferences, or change those given and keep the others"
    )
    preferences.add_argument("member_id")
    preferences.add_argument("--channels", help="comma-separated: email, sms, push; 'none' for no messages")
    preferences.add_argument("--opt-out", help="comma-separated categories: points, tier, rewards, ...; 'none'")
    preferences.add_argument("--time-zone", help="IANA time zone, e.g. Europe/Berlin")
    preferences.add_argument("--quiet", metavar="HH:MM-HH:MM", help="quiet hours in that zone; 'none'")
    preferences.set_defaults(run=lambda args: asyncio.run(_preferences(args)))


async def _call(call: Callable[[notifications_pb2_grpc.NotificationPreferencesServiceStub], Awaitable[T]]) -> T:
    async with grpc_channel(client_address("notifications", os.environ), grpc_tls_settings(os.environ)) as channel:
        return await call(notifications_pb2_grpc.NotificationPreferencesServiceStub(channel))


def _names(enum: type[pb.Channel] | type[pb.Category], numbers: object, prefix: str) -> str:
    return ", ".join(enum.Name(n).removeprefix(prefix).lower() for n in numbers) or "none"  # type: ignore[attr-defined]


async def _preview(args: argparse.Namespace) -> int:
    variables = dict(item.split("=", 1) for item in args.var if "=" in item)
    if len(variables) != len(args.var):
        raise SystemExit("loyalty: --var takes NAME=VALUE")
    request = pb.PreviewNotificationRequest(template_id=args.template_id, member_id=args.member_id, variables=variables)
    preview = await _call(lambda stub: stub.PreviewNotification(request))
    channels = _names(pb.Channel, preview.channels, "CHANNEL_")
    when = preview.send_at.ToDatetime(tzinfo=UTC).isoformat()
    print(f"{preview.template_id} for {args.member_id}: would go to {channels}, at {when}")
    print("variables: " + ", ".join(f"{k}={v}" for k, v in sorted(preview.variables.items())))
    for rendering in preview.renderings:
        print(f"\n--- {pb.Channel.Name(rendering.channel).removeprefix('CHANNEL_').lower()}")
        if rendering.subject:
            print(f"Subject: {rendering.subject}\n")
        print(rendering.body)
    return 0


def _enum_values(text: str, enum: type[pb.Channel] | type[pb.Category], prefix: str) -> list[str]:
    """Enum value names from a comma-separated list of short lower-case names ('none' for none)."""
    typed = [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]
    valid = enum.keys()[1:]  # not the _UNSPECIFIED zero
    unknown = [name for name in typed if prefix + name.upper() not in valid]
    if unknown:
        kind = prefix.removesuffix("_").lower()
        known = ", ".join(k.removeprefix(prefix).lower() for k in valid)
        raise SystemExit(f"loyalty: unknown {kind} {', '.join(map(repr, unknown))}; choose from {known} or none")
    return [prefix + name.upper() for name in typed]


async def _preferences(args: argparse.Namespace) -> int:
    changes = PreferenceChanges.given(args)  # refused before any call
    try:
        shown = await _call(lambda stub: stub.GetPreferences(pb.GetPreferencesRequest(member_id=args.member_id)))
        current = shown.preferences
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND or changes is None:
            raise
        if changes.channels is None:
            # Set ahead of enrolment, preferences replace the defaults the member would get: no channel is none.
            raise SystemExit(
                f"loyalty: member {args.member_id!r} is not known to notifications yet; preferences set now replace"
                " the defaults, so give --channels too"
            ) from None
        current = pb.Preferences(member_id=args.member_id, time_zone="UTC")
    if changes is None:
        _print_preferences(current)
        return 0
    chosen = changes.applied_to(current)
    saved = await _call(lambda stub: stub.SetPreferences(pb.SetPreferencesRequest(preferences=chosen)))
    _print_preferences(saved.preferences)
    return 0


@dataclass(frozen=True)
class PreferenceChanges:
    """The preferences an invocation changes; SetPreferences replaces them all, so the others are kept as read."""

    channels: list[str] | None
    opted_out: list[str] | None
    time_zone: str | None
    quiet_hours: str | None

    @classmethod
    def given(cls, args: argparse.Namespace) -> PreferenceChanges | None:
        """The options given, checked (SystemExit naming an unknown channel or category); None when none is."""
        if all(option is None for option in (args.channels, args.opt_out, args.time_zone, args.quiet)):
            return None
        return cls(
            channels=None if args.channels is None else _enum_values(args.channels, pb.Channel, "CHANNEL_"),
            opted_out=None if args.opt_out is None else _enum_values(args.opt_out, pb.Category, "CATEGORY_"),
            time_zone=args.time_zone,
            quiet_hours=args.quiet,
        )

    def applied_to(self, current: pb.Preferences) -> pb.Preferences:
        chosen = pb.Preferences(
            member_id=current.member_id,
            channels=current.channels if self.channels is None else self.channels,
            opted_out=current.opted_out if self.opted_out is None else self.opted_out,
            time_zone=current.time_zone if self.time_zone is None else self.time_zone,
        )
        if self.quiet_hours is None:
            if current.HasField("quiet_hours"):
                chosen.quiet_hours.CopyFrom(current.quiet_hours)
        elif self.quiet_hours.strip() != "none":
            chosen.quiet_hours.start, _, chosen.quiet_hours.end = self.quiet_hours.partition("-")
        return chosen


def _print_preferences(preferences: pb.Preferences) -> None:
    quiet = preferences.quiet_hours
    print(f"member     {preferences.member_id}{'' if preferences.customized else ' (defaults)'}")
    print(f"channels   {_names(pb.Channel, preferences.channels, 'CHANNEL_')}")
    print(f"opted out  {_names(pb.Category, preferences.opted_out, 'CATEGORY_')}")
    print(f"time zone  {preferences.time_zone}")
    print(f"quiet      {f'{quiet.start}-{quiet.end}' if preferences.HasField('quiet_hours') else 'none'}")
