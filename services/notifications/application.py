"""Turning triggers into messages: planned by the domain, recorded once, published through the outbox.

A message due now is recorded as sent and its NotificationRequested goes
into the outbox in the same transaction; one deferred by quiet hours is
recorded as scheduled and released by the scheduler. Released messages are
checked against the preferences in force then: a member who opted out
meanwhile gets nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from loyalty.notifications.v1 import notifications_pb2 as pb
from prometheus_client import Counter

from services.common.db import after_commit, savepoint
from services.common.errors import DomainError
from services.common.events import new_envelope, timestamp
from services.common.kafka import NOTIFICATIONS_REQUESTS_TOPIC
from services.common.outbox import add_event
from services.notifications import domain, store
from services.notifications.domain import Category, Channel, Defaults, Preferences, Trigger
from services.notifications.templates import TemplateCatalog
from services.notifications.triggers import as_sent, category_of, deadline_of

log = logging.getLogger(__name__)
SOURCE = "loyalty.notifications"
# Event ids of requests derive from their idempotency keys: a sender may de-duplicate on either.
_EVENT_ID_NAMESPACE = uuid.UUID("5d0c7c1e-8a4b-4f8e-9a43-0b1c6f3e2a11")
# How long a trigger for a member not enrolled (yet) waits for the member's MemberEnrolled.
HOLD_UNKNOWN_MEMBERS_FOR = timedelta(days=1)

REQUESTED = Counter(
    "loyalty_notifications_requested",
    "Messages published for the sender, by template and channel",
    ["template", "channel"],
)
WITHHELD = Counter(
    "loyalty_notifications_withheld",
    "Messages not sent (opted out, no channel, member never enrolled, too late for their deadline), by template",
    ["template"],
)


@dataclass(frozen=True)
class Batch:
    """One batch of a scheduled step: the rows it took (a full batch means more may be due) and those it did."""

    taken: int
    done: int


CHANNEL_PB = {
    Channel.EMAIL: pb.CHANNEL_EMAIL,
    Channel.SMS: pb.CHANNEL_SMS,
    Channel.PUSH: pb.CHANNEL_PUSH,
}
CATEGORY_PB = {
    Category.ACCOUNT: pb.CATEGORY_ACCOUNT,
    Category.POINTS: pb.CATEGORY_POINTS,
    Category.TIER: pb.CATEGORY_TIER,
    Category.REWARDS: pb.CATEGORY_REWARDS,
    Category.BIRTHDAY: pb.CATEGORY_BIRTHDAY,
    Category.SERVICE: pb.CATEGORY_SERVICE,
    Category.SURVEYS: pb.CATEGORY_SURVEYS,
}


class Notifier:
    def __init__(self, catalog: TemplateCatalog, defaults: Defaults) -> None:
        self.catalog = catalog
        self.defaults = defaults

    async def preferences_of(self, connection: asyncpg.Connection, member_id: str) -> Preferences:
        """The member's preferences; a member not seen yet has the defaults of one without an email on file."""
        found = await store.preferences(connection, member_id, self.defaults)
        return found or domain.default_preferences(member_id, False, self.defaults)

    async def trigger(self, connection: asyncpg.Connection, trigger: Trigger, now: datetime) -> int:
        """Record (and publish what is due of) the trigger's messages; returns how many were new.

        A trigger for a member not known yet is held until the member is (see `release_held`).
        """
        preferences = await store.preferences(connection, trigger.member_id, self.defaults)
        if preferences is None:
            await store.hold_trigger(connection, trigger, now)
            return 0
        deadline = deadline_of(trigger.template_id, trigger.variables)
        plan = domain.plan(trigger, category_of(trigger.template_id), preferences, now, deadline)
        if plan.suppressed:
            after_commit(WITHHELD.labels(trigger.template_id).inc)
            log.info(
                "message withheld",
                extra={"member_id": trigger.member_id, "template": trigger.template_id, "reason": plan.suppressed},
            )
            return 0
        member = await store.member(connection, trigger.member_id)
        variables = {"given_name": member.given_name if member else "", **trigger.variables}
        created = 0
        for delivery in plan.deliveries:
            message = store.Message(
                uuid.uuid4(),
                delivery.idempotency_key,
                trigger.member_id,
                trigger.template_id,
                delivery.channel,
                variables,
                trigger.event_id,
                delivery.send_at,
            )
            due = delivery.send_at <= now
            if await store.insert_message(connection, message, now, sent=due):
                created += 1
                if due:
                    await self._publish(connection, message, preferences.zone, now)
        return created

    async def release_held(self, connection: asyncpg.Connection, now: datetime, limit: int) -> Batch:
        """Plan held triggers whose member became known; drop those whose member stayed unknown too long."""
        known, expired = await store.take_held_triggers(connection, now - HOLD_UNKNOWN_MEMBERS_FOR, limit)
        for trigger in expired:
            after_commit(WITHHELD.labels(trigger.template_id).inc)
            log.warning(
                "message dropped: member never enrolled",
                extra={"member_id": trigger.member_id, "template": trigger.template_id},
            )
        for trigger in known:
            await self.trigger(connection, trigger, now)
        return Batch(taken=len(known) + len(expired), done=len(known))

    async def release_due(self, connection: asyncpg.Connection, now: datetime, limit: int) -> Batch:
        """Send the scheduled messages now due, under the preferences in force now; `done` counts those sent.

        A message that can no longer go out before its deadline (the scheduler was late, the member moved their
        quiet hours over it) is cancelled, as one the member opted out of meanwhile."""
        sent = 0
        due = await store.due_messages(connection, now, limit)
        for message in due:
            preferences = await self.preferences_of(connection, message.member_id)
            when = domain.send_at(now, preferences.zone, preferences.quiet_hours)
            late = domain.lateness(deadline_of(message.template_id, message.variables), now, when, preferences.zone)
            reason = domain.refusal(preferences, category_of(message.template_id), message.channel) or late
            if reason:
                after_commit(WITHHELD.labels(message.template_id).inc)
                await store.cancel(connection, message.notification_id, reason)
                continue
            if when > now:  # the member moved their quiet hours over it
                await store.reschedule(connection, message.notification_id, when)
                continue
            if await self._send_held(connection, message, preferences.zone, now):
                sent += 1
        return Batch(taken=len(due), done=sent)

    async def _send_held(
        self, connection: asyncpg.Connection, message: store.Message, zone: ZoneInfo, now: datetime
    ) -> bool:
        """Send a message held until now; one that can never be sent is cancelled with the reason, not left to
        fail every pass and hold back the messages due with it."""
        try:
            async with savepoint(connection):
                await store.mark_sent(connection, message.notification_id, now)
                await self._publish(connection, message, zone, now)
        except DomainError as refused:
            log.error(
                "scheduled message cancelled: it cannot be sent",
                extra={"notification_id": str(message.notification_id), "reason": str(refused)},
            )
            await store.cancel(connection, message.notification_id, f"cannot be sent: {refused}")
            return False
        return True

    async def _as_sent(
        self, connection: asyncpg.Connection, message: store.Message, zone: ZoneInfo, now: datetime
    ) -> dict[str, str]:
        """The variables as of sending: days left counted again from the member's local date (`zone`), and a
        summary's balance the latest known (a redemption or expiry after the summary's last earning lowered it),
        else the one it was made with."""
        variables = as_sent(message.template_id, message.variables, zone, now)
        if "balance" in variables:
            latest = await store.latest_balance(connection, message.member_id)
            if latest is not None:
                variables["balance"] = str(latest)
        return variables

    async def _publish(
        self, connection: asyncpg.Connection, message: store.Message, zone: ZoneInfo, now: datetime
    ) -> None:
        template = self.catalog.get(message.template_id)
        variables = await self._as_sent(connection, message, zone, now)
        rendered = template.render(message.channel, variables)
        request = pb.NotificationRequested(
            notification_id=str(message.notification_id),
            idempotency_key=message.idempotency_key,
            member_id=message.member_id,
            channel=CHANNEL_PB[message.channel],
            template_id=message.template_id,
            category=CATEGORY_PB[template.category],
            variables=variables,
            subject=rendered.subject,
            body=rendered.body,
            trigger_event_id=message.trigger_event_id,
            requested_at=timestamp(now),
        )
        envelope = new_envelope(
            request,
            subject=message.member_id,
            source=SOURCE,
            occurred_at=now,
            event_id=uuid.uuid5(_EVENT_ID_NAMESPACE, message.idempotency_key),
        )
        await add_event(connection, NOTIFICATIONS_REQUESTS_TOPIC, envelope)
        after_commit(REQUESTED.labels(message.template_id, message.channel.value).inc)
