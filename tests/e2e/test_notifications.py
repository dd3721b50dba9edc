"""Member messaging across processes: an enrolment in points becomes one welcome request per chosen channel."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.notifications.v1 import notifications_pb2 as pb
from loyalty.notifications.v1 import notifications_pb2_grpc
from loyalty.points.v1 import points_pb2, points_pb2_grpc

from services.common.kafka import NOTIFICATIONS_REQUESTS_TOPIC
from services.dev import Platform
from tests.e2e.support import new_member_id, read_topic

pytestmark = pytest.mark.e2e


async def test_an_enrolled_member_is_welcomed_once_on_the_channels_they_chose(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub
) -> None:
    member_id = new_member_id()
    # Chosen before enrolling, without quiet hours, so the welcome goes at once whatever the time of day.
    chosen = pb.Preferences(member_id=member_id, channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_PUSH], time_zone="UTC")
    async with grpc.aio.insecure_channel(platform.grpc_address("notifications")) as channel:
        stub = notifications_pb2_grpc.NotificationPreferencesServiceStub(channel)
        await stub.SetPreferences(pb.SetPreferencesRequest(preferences=chosen))
    await points.EnrollMember(
        points_pb2.EnrollMemberRequest(member_id=member_id, email=f"{member_id}@example.com", given_name="Lin")
    )

    def mine(records: list[object]) -> list[pb.NotificationRequested]:
        found = []
        for record in records:
            if getattr(record, "key", None) == member_id.encode():
                request = pb.NotificationRequested()
                assert EventEnvelope.FromString(record.value).payload.Unpack(request)  # type: ignore[attr-defined]
                found.append(request)
        return found

    def welcomed(records: list[object]) -> bool:
        return len(mine(records)) >= 2

    await read_topic(platform.kafka_bootstrap, NOTIFICATIONS_REQUESTS_TOPIC, welcomed)
    await asyncio.sleep(1)  # a duplicate would be published by now; one partition holds the member's requests
    records = mine(await read_topic(platform.kafka_bootstrap, NOTIFICATIONS_REQUESTS_TOPIC, welcomed))
    # The stream is at least once: after the broker lost its log (test_broker_outage kills the shared one) the
    # relay publishes retained rows again. A repeat is the same request, so a sender keeps one per key.
    by_key = {r.idempotency_key: r for r in records}
    assert all(r == by_key[r.idempotency_key] for r in records)
    requests = list(by_key.values())
    assert sorted((r.template_id, r.channel) for r in requests) == [
        ("welcome", pb.CHANNEL_EMAIL),
        ("welcome", pb.CHANNEL_PUSH),
    ]
    email = next(r for r in requests if r.channel == pb.CHANNEL_EMAIL)
    assert email.subject == "Welcome to the club, Lin!" and email.variables["given_name"] == "Lin"
