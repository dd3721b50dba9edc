"""The notifications service in-process on a fresh database, with a settable clock, for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import grpc
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from loyalty.notifications.v1 import notifications_pb2 as pb
from loyalty.notifications.v1 import notifications_pb2_grpc

from services.common.events import decode, kafka_headers, new_envelope
from services.common.grpc_server import GrpcServer
from services.common.kafka import (
    NOTIFICATIONS_REQUESTS_TOPIC,
    POINTS_EVENTS_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
)
from services.common.outbox import OutboxRelay
from services.common.runtime import ServiceParts
from services.common.settings import KafkaSettings, service_settings
from services.notifications import store
from services.notifications.domain import Channel, Defaults, Preferences, QuietHours
from services.notifications.main import assemble
from services.notifications.scheduler import SchedulerJob
from services.notifications.settings import NotificationsSettings, notifications_settings
from tests.integration.support import DeadLettersSentOrNot, PoolFactory, delivered_event, eventually, read_topic

# Noon plus two periods stays outside the quiet hours.
SUMMARY_PERIOD = timedelta(hours=3)
# Noon UTC: outside the default quiet hours (21:00-08:00 UTC) of the tests' members.
NOON = datetime(2027, 6, 15, 12, tzinfo=UTC)


class Clock:
    """The service's clock; tests move it instead of waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class NotificationsWorld:
    pool: asyncpg.Pool
    parts: ServiceParts
    clock: Clock
    kafka: KafkaSettings
    stub: notifications_pb2_grpc.NotificationPreferencesServiceStub
    address: str

    @property
    def scheduler(self) -> SchedulerJob:
        job = next(j for j in self.parts.jobs if j.name == "notifications-scheduler")
        scheduler = job.run_once.__self__  # type: ignore[attr-defined]
        assert isinstance(scheduler, SchedulerJob)
        return scheduler

    def workers(self) -> Sequence[Callable[[], Coroutine[Any, Any, Any]]]:
        """The consumers and the outbox relay, for `running(...)`.

        Run them once per test: the consumer groups are the service's own, and a consumer cancelled while
        still joining its group leaves a member behind that the next test's join waits for.
        """
        return [*(c.run for c in self.parts.consumers), self.relay]

    async def relay(self) -> None:
        await OutboxRelay(self.pool, self.kafka, poll_interval=0.05).run()

    async def status_counts(self, member_id: str) -> dict[str, int]:
        records = await self.pool.fetch(
            "SELECT status, count(*) AS n FROM notifications WHERE member_id = $1 GROUP BY status", member_id
        )
        return {r["status"]: r["n"] for r in records}


def own_settings() -> NotificationsSettings:
    defaults = Defaults("UTC", QuietHours(time(21), time(8)))
    return replace(notifications_settings({}), summary_period=SUMMARY_PERIOD, defaults=defaults)


@asynccontextmanager
async def started_notifications(migrated_pool: PoolFactory, kafka: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    _, pool = await migrated_pool("notifications")
    clock = Clock(NOON)
    settings = replace(service_settings("notifications", {}), kafka=kafka, grpc_port=0)
    parts = assemble(settings, pool, own_settings(), clock)
    server = GrpcServer("127.0.0.1:0", parts.registrations)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = notifications_pb2_grpc.NotificationPreferencesServiceStub(channel)
        yield NotificationsWorld(pool, parts, clock, kafka, stub, f"127.0.0.1:{server.port}")
    finally:
        await channel.close()
        await server.stop(grace=1)


CONSUMER_OF = {
    POINTS_EVENTS_TOPIC: "notifications.points",
    REWARDS_EVENTS_TOPIC: "notifications.rewards",
    TICKETS_EVENTS_TOPIC: "notifications.tickets",
}


async def member_in(
    world: NotificationsWorld, zone: str, quiet: QuietHours | None = None, birth_date: date | None = None
) -> str:
    """A member enrolled (with email) and given preferences: email, the time zone, these quiet hours."""
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    async with world.pool.acquire() as connection:
        await store.enrol_member(connection, member_id, "Ada", True, birth_date, "member", NOON)
        chosen = Preferences(member_id, frozenset({Channel.EMAIL}), frozenset(), zone, quiet)
        await store.save_preferences(connection, chosen, NOON)
    return member_id


async def dead_letter_reasons(
    world: NotificationsWorld, topic: str, member_id: str, payload: Message, group: str | None = None
) -> list[str]:
    """Deliver one event to the notifications consumer of `topic` (or `group`), at the service's clock; the
    reasons it was dead-lettered for."""
    [consumer] = [c for c in world.parts.consumers if c.name == (group or CONSUMER_OF[topic])]
    envelope = new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))
    dead_letters = DeadLettersSentOrNot()
    await consumer.process([delivered_event(topic, envelope)], dead_letters)  # type: ignore[arg-type]
    return dead_letters.reasons


async def publish(producer: AIOKafkaProducer, topic: str, member_id: str, payload: Message, *, times: int = 1) -> str:
    """Publish one event (`times` deliveries of the same envelope, as a redelivery); returns its id."""
    envelope = new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))
    for _ in range(times):
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member_id.encode(), headers=kafka_headers(envelope)
        )
    return envelope.event_id


async def requests_for(kafka: KafkaSettings, member_ids: set[str], at_least: int) -> list[pb.NotificationRequested]:
    """The NotificationRequested on the topic for these members, once at least `at_least` arrived (and a
    moment longer, so that duplicates would show)."""

    async def read() -> list[pb.NotificationRequested]:
        records = await read_topic(kafka, NOTIFICATIONS_REQUESTS_TOPIC, 0, settle=0.5)
        found = []
        for record in records:
            if record.key is not None and record.key.decode() in member_ids:
                _, payload = decode(record.value, list(record.headers or ()))
                assert isinstance(payload, pb.NotificationRequested)
                found.append(payload)
        return found

    async def enough() -> list[pb.NotificationRequested] | None:
        found = await read()
        return found if len(found) >= at_least else None

    await eventually(enough, what=f"{at_least} notification requests for {sorted(member_ids)}")
    return await read()
