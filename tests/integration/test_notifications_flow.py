"""Events in, message requests out on notifications.requests.v1: once per trigger, after preferences,
opt-outs and quiet hours, summaries at most once per period, malformed events dead-lettered."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2
from loyalty.notifications.v1 import notifications_pb2 as pb

from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC, dead_letter_topic
from services.common.settings import KafkaSettings
from tests.integration.notifications_support import (
    NOON,
    SUMMARY_PERIOD,
    NotificationsWorld,
    publish,
    requests_for,
    started_notifications,
)
from tests.integration.support import PoolFactory, eventually, header, read_topic, running


@pytest.fixture
async def world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    async with started_notifications(migrated_pool, kafka_settings) as started:
        yield started


def new_member() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def enrol(producer: AIOKafkaProducer, member_id: str, *, email: bool = True, birth_date: str = "") -> None:
    enrolled = points_pb2.MemberEnrolled(
        enrolled_at=timestamp(datetime.now(UTC)),
        member_id=member_id,
        tier="member",
        given_name="Ada",
        email_on_file=email,
        birth_date=birth_date,
    )
    await publish(producer, POINTS_EVENTS_TOPIC, member_id, enrolled)


async def consumed(world: NotificationsWorld, event_ids: list[str]) -> None:
    async def all_in_inbox() -> bool:
        count = await world.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", event_ids)
        return bool(count == len(event_ids))

    await eventually(all_in_inbox, what=f"events {event_ids} consumed")


async def set_preferences(world: NotificationsWorld, member_id: str, **fields: object) -> None:
    chosen = pb.Preferences(member_id=member_id, time_zone="UTC", channels=[pb.CHANNEL_EMAIL])
    for name, value in fields.items():
        if name == "quiet_hours":
            chosen.quiet_hours.CopyFrom(value)  # type: ignore[arg-type]
        else:
            chosen.ClearField(name)
            getattr(chosen, name).extend(value) if isinstance(value, list) else setattr(chosen, name, value)
    await world.stub.SetPreferences(pb.SetPreferencesRequest(preferences=chosen))


async def test_every_trigger_makes_one_request_even_when_each_event_is_delivered_twice(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    async with running(*world.workers()):
        await enrol(producer, member_id)
        events = [
            (POINTS_EVENTS_TOPIC, points_pb2.TierReached(member_id=member_id, tier="gold", previous_tier="member")),
            (
                POINTS_EVENTS_TOPIC,
                points_pb2.PointsExpiring(member_id=member_id, points=300, expires_at=stamp(NOON + timedelta(days=30))),
            ),
            (
                POINTS_EVENTS_TOPIC,
                points_pb2.TierAtRisk(
                    member_id=member_id,
                    tier="gold",
                    projected_tier="member",
                    requalify_at=stamp(NOON + timedelta(days=20)),
                    needed_to_keep="800",
                ),
            ),
            (
                REWARDS_EVENTS_TOPIC,
                rewards_pb2.RewardRedeemed(member_id=member_id, reward_id="coffee", code="K7", points=50),
            ),
            (
                REWARDS_EVENTS_TOPIC,
                rewards_pb2.PerkGranted(member_id=member_id, reward_id="lounge", code="L9", occasion="tier_welcome"),
            ),
            (
                TICKETS_EVENTS_TOPIC,
                tickets_pb2.TicketOpened(member_id=member_id, ticket_id="t-1", category="missing_points"),
            ),
            (TICKETS_EVENTS_TOPIC, tickets_pb2.TicketResolved(member_id=member_id, ticket_id="t-1")),
        ]
        ids = [await publish(producer, topic, member_id, payload, times=2) for topic, payload in events]
        await consumed(world, ids)
        # Topics are read independently: a rewards or tickets event read before the enrolment waits for it.
        await world.scheduler.run_once()
        requests = await requests_for(world.kafka, {member_id}, at_least=9)

    templates = Counter(r.template_id for r in requests)
    assert templates == {
        "welcome": 1,
        "tier_reached": 1,
        "points_expiring": 1,
        "tier_at_risk": 1,
        "reward_issued": 2,
        "ticket_opened": 1,
        "ticket_resolved": 1,
        "survey_invitation": 1,
    }
    assert len({r.idempotency_key for r in requests}) == len(requests)
    assert {r.channel for r in requests} == {pb.CHANNEL_EMAIL}
    by_template = {r.template_id: r for r in requests}
    expiring = by_template["points_expiring"]
    assert dict(expiring.variables) == {
        "given_name": "Ada",
        "points": "300",
        "expires_on": "2027-07-15",
        "days_left": "30",
        "due_at": "2027-07-15T12:00:00+00:00",
    }
    assert expiring.category == pb.CATEGORY_POINTS and "300 of your points expire on 2027-07-15" in expiring.body
    assert by_template["welcome"].subject == "Welcome to the club, Ada!"
    assert by_template["tier_at_risk"].variables["needed_to_keep"] == "800"
    assert all(r.requested_at.ToDatetime(tzinfo=UTC) == NOON for r in requests)


async def test_opt_outs_and_channels_are_respected(world: NotificationsWorld, producer: AIOKafkaProducer) -> None:
    opted_out, texter, no_email = new_member(), new_member(), new_member()
    async with running(*world.workers()):
        for member_id in (opted_out, texter):
            await enrol(producer, member_id)
        await enrol(producer, no_email, email=False)
        await set_preferences(world, opted_out, opted_out=[pb.CATEGORY_TIER, pb.CATEGORY_ACCOUNT])
        await set_preferences(world, texter, channels=[pb.CHANNEL_EMAIL, pb.CHANNEL_SMS])
        ids = []
        for member_id in (opted_out, texter, no_email):
            reached = points_pb2.TierReached(member_id=member_id, tier="gold", previous_tier="member")
            ids.append(await publish(producer, POINTS_EVENTS_TOPIC, member_id, reached))
        expiring = points_pb2.PointsExpiring(member_id=opted_out, points=5, expires_at=stamp(NOON + timedelta(days=9)))
        ids.append(await publish(producer, POINTS_EVENTS_TOPIC, opted_out, expiring))
        await consumed(world, ids)
        requests = await requests_for(world.kafka, {opted_out, texter, no_email}, at_least=4)

    sent = sorted((r.member_id, r.template_id, pb.Channel.Name(r.channel)) for r in requests)
    # Preferences were set after the enrolments were consumed or before: the welcome of `opted_out` depends on
    # the race, so only what follows the preferences is asserted exactly.
    after = [s for s in sent if s[1] != "welcome"]
    assert after == sorted(
        [
            (opted_out, "points_expiring", "CHANNEL_EMAIL"),  # opted out of tier messages, not points
            (texter, "tier_reached", "CHANNEL_EMAIL"),
            (texter, "tier_reached", "CHANNEL_SMS"),
        ]
    )
    assert (texter, "welcome", "CHANNEL_EMAIL") in sent
    assert not [s for s in sent if s[0] == no_email]  # no address, no channel turned on


async def test_quiet_hours_hold_a_message_until_they_end_in_the_members_time_zone(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    night_in_new_york = datetime(2027, 6, 15, 3, tzinfo=UTC)  # 23:00 EDT
    world.clock.now = night_in_new_york
    quiet = pb.QuietHours(start="22:00", end="08:00")
    await set_preferences(world, member_id, time_zone="America/New_York", quiet_hours=quiet)
    async with running(*world.workers()):
        reached = points_pb2.TierReached(member_id=member_id, tier="gold", previous_tier="member")
        await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, reached)])
        assert await world.status_counts(member_id) == {"scheduled": 1}

        world.clock.now = datetime(2027, 6, 15, 11, 59, tzinfo=UTC)  # 07:59 EDT: still quiet
        assert (await world.scheduler.run_once()).messages_released == 0
        world.clock.now = datetime(2027, 6, 15, 12, tzinfo=UTC)  # 08:00 EDT
        assert (await world.scheduler.run_once()).messages_released == 1
        assert (await world.scheduler.run_once()).messages_released == 0
        [request] = await requests_for(world.kafka, {member_id}, at_least=1)
    assert request.template_id == "tier_reached"
    assert request.requested_at.ToDatetime(tzinfo=UTC) == datetime(2027, 6, 15, 12, tzinfo=UTC)


async def test_a_held_message_is_cancelled_when_the_member_opts_out_before_it_is_due(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    world.clock.now = datetime(2027, 6, 15, 22, tzinfo=UTC)  # in the default quiet hours (UTC)
    async with running(*world.workers()):
        await enrol(producer, member_id)
        expiring = points_pb2.PointsExpiring(member_id=member_id, points=9, expires_at=stamp(NOON + timedelta(days=9)))
        await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, expiring)])
    assert await world.status_counts(member_id) == {"scheduled": 2}  # welcome and the reminder
    await set_preferences(world, member_id, opted_out=[pb.CATEGORY_POINTS])
    world.clock.now = datetime(2027, 6, 16, 8, tzinfo=UTC)
    async with running(world.relay):
        assert (await world.scheduler.run_once()).messages_released == 1
        [request] = await requests_for(world.kafka, {member_id}, at_least=1)
    assert request.template_id == "welcome"
    reason = await world.pool.fetchval(
        "SELECT cancel_reason FROM notifications WHERE member_id = $1 AND status = 'cancelled'", member_id
    )
    assert reason == "member opted out of points messages"


async def test_earnings_are_summarised_at_most_once_per_period(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    async with running(*world.workers()):
        await enrol(producer, member_id)
        earned = [
            points_pb2.PointsEarned(member_id=member_id, points=points, balance_after=balance)
            for points, balance in ((100, 100), (50, 150), (25, 175))
        ]
        ids = [await publish(producer, POINTS_EVENTS_TOPIC, member_id, e) for e in earned]
        again = points_pb2.PointsEarned(member_id=member_id, points=100, balance_after=275)
        ids.append(await publish(producer, POINTS_EVENTS_TOPIC, member_id, again))  # a new event: it counts
        redelivered = points_pb2.PointsEarned(member_id=member_id, points=50, balance_after=325)
        ids.append(await publish(producer, POINTS_EVENTS_TOPIC, member_id, redelivered, times=2))  # counts once
        await consumed(world, ids)

        world.clock.now = NOON + SUMMARY_PERIOD - timedelta(seconds=1)
        assert (await world.scheduler.run_once()).summaries_released == 0
        world.clock.now = NOON + SUMMARY_PERIOD
        assert (await world.scheduler.run_once()).summaries_released == 1
        assert (await world.scheduler.run_once()).summaries_released == 0

        # Earned again right after: a new summary, due a whole period after it opened.
        later = points_pb2.PointsEarned(member_id=member_id, points=10, balance_after=335)
        await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, later)])
        world.clock.now = NOON + 2 * SUMMARY_PERIOD - timedelta(seconds=1)
        assert (await world.scheduler.run_once()).summaries_released == 0
        world.clock.now = NOON + 2 * SUMMARY_PERIOD + timedelta(minutes=1)
        assert (await world.scheduler.run_once()).summaries_released == 1
        requests = await requests_for(world.kafka, {member_id}, at_least=3)

    summaries = [r for r in requests if r.template_id == "points_earned_summary"]
    assert [(r.variables["points_earned"], r.variables["earnings"], r.variables["balance"]) for r in summaries] == [
        ("325", "5", "325"),
        ("10", "1", "335"),
    ]
    sent_at = [r.requested_at.ToDatetime(tzinfo=UTC) for r in summaries]
    assert sent_at[1] - sent_at[0] >= SUMMARY_PERIOD


async def test_a_summary_due_in_quiet_hours_waits_and_keeps_collecting(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    world.clock.now = datetime(2027, 6, 15, 16, tzinfo=UTC)  # due at 22:00 UTC, in the quiet hours
    async with running(*world.workers()):
        await enrol(producer, member_id)
        first = points_pb2.PointsEarned(member_id=member_id, points=40, balance_after=40)
        await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, first)])
        world.clock.now = datetime(2027, 6, 15, 22, tzinfo=UTC)
        assert (await world.scheduler.run_once()).summaries_released == 0
        second = points_pb2.PointsEarned(member_id=member_id, points=2, balance_after=42)
        await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, second)])
        world.clock.now = datetime(2027, 6, 16, 8, tzinfo=UTC)
        assert (await world.scheduler.run_once()).summaries_released == 1
        requests = await requests_for(world.kafka, {member_id}, at_least=2)
    [summary] = [r for r in requests if r.template_id == "points_earned_summary"]
    assert (summary.variables["points_earned"], summary.variables["balance"]) == ("42", "42")


async def test_birthdays_are_greeted_once_on_the_day_in_the_members_time_zone(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    tokyo, leap = new_member(), new_member()
    async with running(*world.workers()):
        await enrol(producer, tokyo, birth_date="1990-06-16")
        await enrol(producer, leap, birth_date="2000-02-29")
        await set_preferences(world, tokyo, time_zone="Asia/Tokyo")
        await eventually(
            lambda: world.pool.fetchval("SELECT count(*) = 2 FROM members WHERE member_id = ANY($1)", [tokyo, leap]),
            what="both members known",
        )
        # 15 June 16:00 UTC is already 16 June 01:00 in Tokyo: the birthday, but not in UTC.
        world.clock.now = datetime(2027, 6, 15, 16, tzinfo=UTC)
        assert (await world.scheduler.run_once()).birthdays_greeted == 1
        assert (await world.scheduler.run_once()).birthdays_greeted == 0
        # 29 February is greeted on the 28th in a common year.
        world.clock.now = datetime(2027, 2, 28, 12, tzinfo=UTC)
        assert (await world.scheduler.run_once()).birthdays_greeted == 1
        requests = await requests_for(world.kafka, {tokyo, leap}, at_least=4)
    birthdays = sorted(r.member_id for r in requests if r.template_id == "birthday")
    assert birthdays == sorted([tokyo, leap])


async def test_malformed_events_are_dead_lettered_with_the_reason_and_the_consumer_carries_on(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    async with running(*world.workers()):
        await producer.send_and_wait(POINTS_EVENTS_TOPIC, b"\x00not an envelope", key=member_id.encode())
        garbled = points_pb2.MemberEnrolled(
            enrolled_at=timestamp(datetime.now(UTC)), member_id=member_id, tier="member", birth_date="31/12/1990"
        )
        await publish(producer, POINTS_EVENTS_TOPIC, member_id, garbled)
        empty = points_pb2.PointsExpiring(member_id=member_id, points=0)
        await publish(producer, POINTS_EVENTS_TOPIC, member_id, empty)
        await enrol(producer, member_id)

        async def dead_lettered() -> list[str | None]:
            records = await read_topic(world.kafka, dead_letter_topic(POINTS_EVENTS_TOPIC), 1, settle=0.3)
            # The earnings consumer reads the same topic: it dead-letters the unreadable message too.
            mine = [
                header(r, "dlq-reason")
                for r in records
                if r.key == member_id.encode() and header(r, "dlq-consumer") == "notifications.points"
            ]
            return mine if len(mine) == 3 else []

        reasons = await eventually(dead_lettered, what="three dead letters")
        [welcome] = await requests_for(world.kafka, {member_id}, at_least=1)
    assert reasons[0] is not None and "cannot parse envelope" in reasons[0]
    assert reasons[1:] == ["birth_date: is not a YYYY-MM-DD date", "points: must be positive"]
    assert welcome.template_id == "welcome"


async def test_a_held_reward_message_is_cancelled_with_its_redemption(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    world.clock.now = datetime(2027, 6, 15, 22, tzinfo=UTC)  # in the default quiet hours (UTC)
    redeemed, kept = [
        rewards_pb2.RewardRedeemed(redemption_id=redemption, member_id=member_id, reward_id="r", code=code, points=50)
        for redemption, code in (("red-1", "K7"), ("red-2", "K8"))
    ]
    cancelled = rewards_pb2.RedemptionCancelled(redemption_id="red-1", member_id=member_id, reward_id="r")
    async with running(*world.workers()):
        await enrol(producer, member_id)
        await eventually(lambda: world.status_counts(member_id), what="the welcome held")  # the member is known
        ids = [await publish(producer, REWARDS_EVENTS_TOPIC, member_id, e) for e in (redeemed, kept, cancelled)]
        await consumed(world, ids)
    world.clock.now = datetime(2027, 6, 16, 8, tzinfo=UTC)
    async with running(world.relay):
        assert (await world.scheduler.run_once()).messages_released == 2  # the welcome and the kept code
        requests = await requests_for(world.kafka, {member_id}, at_least=2)
    assert sorted(r.variables["code"] for r in requests if r.template_id == "reward_issued") == ["K8"]
    reason = await world.pool.fetchval(
        "SELECT cancel_reason FROM notifications WHERE member_id = $1 AND status = 'cancelled'", member_id
    )
    assert reason == "the redemption was cancelled"


async def test_a_reward_message_waiting_for_the_member_to_be_known_is_dropped_with_its_redemption(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    """Topics are read independently: the redemption and its cancellation may come before the enrolment."""
    member_id = new_member()
    redeemed = rewards_pb2.RewardRedeemed(redemption_id="red-9", member_id=member_id, reward_id="r", code="K9")
    cancelled = rewards_pb2.RedemptionCancelled(redemption_id="red-9", member_id=member_id, reward_id="r")
    async with running(*world.workers()):
        await consumed(
            world, [await publish(producer, REWARDS_EVENTS_TOPIC, member_id, e) for e in (redeemed, cancelled)]
        )
        await enrol(producer, member_id)
        await eventually(lambda: world.status_counts(member_id), what="the welcome planned")
        await world.scheduler.run_once()
    templates = await world.pool.fetch("SELECT template_id FROM notifications WHERE member_id = $1", member_id)
    assert [row["template_id"] for row in templates] == ["welcome"]
