"""gRPC servicer of loyalty.notifications.v1.NotificationPreferencesService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from loyalty.notifications.v1 import notifications_pb2 as pb

from services.common.errors import Violations
from services.common.events import timestamp
from services.notifications import domain
from services.notifications.application import CATEGORY_PB, CHANNEL_PB
from services.notifications.domain import Category, Channel, Preferences
from services.notifications.preferences import PreferencesApplication

Context = grpc.aio.ServicerContext[Any, Any]
_CHANNELS = {number: channel for channel, number in CHANNEL_PB.items()}
_CATEGORIES = {number: category for category, number in CATEGORY_PB.items()}


def preferences_message(preferences: Preferences) -> pb.Preferences:
    message = pb.Preferences(
        member_id=preferences.member_id,
        channels=sorted(CHANNEL_PB[c] for c in preferences.channels),
        opted_out=sorted(CATEGORY_PB[c] for c in preferences.opted_out),
        time_zone=preferences.time_zone,
        customized=preferences.customized,
    )
    if preferences.quiet_hours is not None:
        message.quiet_hours.start = preferences.quiet_hours.start.strftime("%H:%M")
        message.quiet_hours.end = preferences.quiet_hours.end.strftime("%H:%M")
    return message


def _enum_set(violations: Violations, field: str, values: Any, known: Mapping[Any, Any]) -> frozenset[Any]:
    chosen = []
    for index, value in enumerate(values):
        if value not in known:
            violations.add(f"{field}[{index}]", f"must be a specified value, got {value}")
        elif known[value] in chosen:
            violations.add(f"{field}[{index}]", f"repeats {known[value].value}")
        else:
            chosen.append(known[value])
    return frozenset(chosen)


def preferences_from(message: pb.Preferences) -> Preferences:
    """Validated domain preferences, or INVALID_ARGUMENT naming every wrong field."""
    violations = Violations()
    domain.validate_member_id(violations, message.member_id, "preferences.member_id")
    channels: frozenset[Channel] = _enum_set(violations, "preferences.channels", message.channels, _CHANNELS)
    opted_out: frozenset[Category] = _enum_set(violations, "preferences.opted_out", message.opted_out, _CATEGORIES)
    domain.validate_time_zone(violations, message.time_zone, "preferences.time_zone")
    quiet = None
    if message.HasField("quiet_hours"):
        quiet = domain.quiet_hours_from(
            violations, message.quiet_hours.start, message.quiet_hours.end, "preferences.quiet_hours"
        )
    violations.raise_if_any()
    return Preferences(message.member_id, channels, opted_out, message.time_zone, quiet)


class NotificationPreferencesServicer:
    def __init__(self, application: PreferencesApplication) -> None:
        self._application = application

    async def GetPreferences(self, request: pb.GetPreferencesRequest, context: Context) -> pb.GetPreferencesResponse:
        preferences = await self._application.get(request.member_id)
        return pb.GetPreferencesResponse(preferences=preferences_message(preferences))

    async def SetPreferences(self, request: pb.SetPreferencesRequest, context: Context) -> pb.SetPreferencesResponse:
        saved = await self._application.set(preferences_from(request.preferences))
        return pb.SetPreferencesResponse(preferences=preferences_message(saved))

    async def PreviewNotification(
        self, request: pb.PreviewNotificationRequest, context: Context
    ) -> pb.PreviewNotificationResponse:
        preview = await self._application.preview(request.template_id, request.member_id, dict(request.variables))
        return pb.PreviewNotificationResponse(
            template_id=preview.template_id,
            category=CATEGORY_PB[preview.category],
            variables=dict(preview.variables),
            renderings=[
                pb.RenderedMessage(channel=CHANNEL_PB[r.channel], subject=r.subject, body=r.body)
                for r in preview.renderings
            ],
            channels=sorted(CHANNEL_PB[c] for c in preview.channels),
            send_at=timestamp(preview.send_at),
        )
