"""The preferences API over gRPC: validation naming the field, NOT_FOUND, replace-and-read, previews, the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from loyalty.notifications.v1 import notifications_pb2 as pb

from services.common.settings import KafkaSettings
from services.notifications import store
from tests.integration.notifications_support import NOON, NotificationsWorld, started_notifications
from tests.integration.support import PoolFactory, field_violations, run_cli


@pytest.fixture
async def world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    async with started_notifications(migrated_pool, kafka_settings) as started:
        yield started


async def known_member(world: NotificationsWorld, *, email: bool = True) -> str:
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    async with world.pool.acquire() as connection:
        await store.enrol_member(connection, member_id, "Grace", email, None, "gold", NOON)
    return member_id


async def test_a_known_member_has_the_defaults_until_preferences_are_set(world: NotificationsWorld) -> None:
    member_id = await known_member(world)
    shown = (await world.stub.GetPreferences(pb.GetPreferencesRequest(member_id=member_id))).preferences
    assert (list(shown.channels), shown.time_zone, shown.customized) == ([pb.CHANNEL_EMAIL], "UTC", False)
    assert (shown.quiet_hours.start, shown.quiet_hours.end) == ("21:00", "08:00")

    chosen = pb.Preferences(
        member_id=member_id,
        channels=[pb.CHANNEL_PUSH, pb.CHANNEL_SMS],
        opted_out=[pb.CATEGORY_SURVEYS],
        time_zone="Europe/Lisbon",
    )
    saved = (await world.stub.SetPreferences(pb.SetPreferencesRequest(preferences=chosen))).preferences
    again = (await world.stub.GetPreferences(pb.GetPreferencesRequest(member_id=member_id))).preferences
    assert saved == again
    assert (list(again.channels), list(again.opted_out), again.HasField("quiet_hours"), again.customized) == (
        [pb.CHANNEL_SMS, pb.CHANNEL_PUSH],
        [pb.CATEGORY_SURVEYS],
        False,
        True,
    )


async def test_an_unknown_member_is_not_found(world: NotificationsWorld) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.stub.GetPreferences(pb.GetPreferencesRequest(member_id="nobody"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_invalid_preferences_name_every_wrong_field_and_change_nothing(world: NotificationsWorld) -> None:
    member_id = await known_member(world)
    bad = pb.Preferences(
        member_id=member_id,
        channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_EMAIL, 9],
        opted_out=[pb.CATEGORY_UNSPECIFIED],
        time_zone="Mars/Olympus",
        quiet_hours=pb.QuietHours(start="25:00", end="7am"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.stub.SetPreferences(pb.SetPreferencesRequest(preferences=bad))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(raised.value)) == {
        "preferences.channels[1]",
        "preferences.channels[2]",
        "preferences.opted_out[0]",
        "preferences.time_zone",
        "preferences.quiet_hours.start",
        "preferences.quiet_hours.end",
    }
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await world.stub.SetPreferences(pb.SetPreferencesRequest(preferences=pb.Preferences(time_zone="UTC")))
    assert set(field_violations(missing.value)) == {"preferences.member_id"}
    assert await world.pool.fetchval("SELECT count(*) FROM preferences") == 0


async def test_a_preview_renders_the_template_with_the_members_facts(world: NotificationsWorld) -> None:
    member_id = await known_member(world)
    request = pb.PreviewNotificationRequest(
        template_id="tier_at_risk", member_id=member_id, variables={"days_left": "9"}
    )
    preview = await world.stub.PreviewNotification(request)
    assert preview.variables["given_name"] == "Grace" and preview.variables["tier"] == "gold"
    assert preview.variables["days_left"] == "9" and preview.variables["needed_to_keep"] == "800"  # the example
    email = next(r for r in preview.renderings if r.channel == pb.CHANNEL_EMAIL)
    assert email.subject == "Keep your gold status" and "in 9 days" in email.body
    assert list(preview.channels) == [pb.CHANNEL_EMAIL] and preview.category == pb.CATEGORY_TIER
    assert preview.send_at.ToDatetime().hour == 12  # noon UTC: outside the quiet hours
    assert await world.pool.fetchval("SELECT count(*) FROM notifications") == 0  # nothing sent


async def test_a_preview_of_an_unknown_template_or_variable_is_invalid(world: NotificationsWorld) -> None:
    member_id = await known_member(world)
    for request, wrong in (
        (pb.PreviewNotificationRequest(template_id="nope", member_id=member_id), "template_id"),
        (pb.PreviewNotificationRequest(template_id="welcome", member_id=member_id, variables={"x": "1"}), "variables"),
        (pb.PreviewNotificationRequest(template_id="welcome", member_id="bad id"), "member_id"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await world.stub.PreviewNotification(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(raised.value)) == {wrong}


async def test_loyalty_notifications_preview_prints_the_message(
    world: NotificationsWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = await known_member(world)
    monkeypatch.setitem(os.environ, "LOYALTY_NOTIFICATIONS_ADDRESS", world.address)
    assert await run_cli("notifications", "preview", "tier_reached", member_id, "--var", "previous_tier=silver") == 0
    printed = capsys.readouterr().out
    assert f"tier_reached for {member_id}: would go to email" in printed
    assert "Subject: You reached gold!" in printed and "from silver to gold" in printed
    assert await run_cli("notifications", "preferences", member_id, "--channels", "sms", "--quiet", "22:00-07:00") == 0
    assert "channels   sms" in capsys.readouterr().out
