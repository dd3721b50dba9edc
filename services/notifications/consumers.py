"""Kafka handlers: points, rewards and tickets events that call for a message or update the member view.

Each runs in the consumer's inbox transaction, so a redelivered event changes
nothing; an event missing what its message needs is refused (dead-lettered
with the reason). Earnings are not messages on their own: they add to the
member's open summary, which the scheduler releases once due.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.consumer import BatchConsumer
from services.common.errors import InvalidArgument
from services.common.event_consumer import EventConsumer, Handler
from services.common.events import occurred_at
from services.common.kafka import POINTS_EVENTS_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.common.read_model import ReadModelConsumer, Writes
from services.common.settings import KafkaSettings
from services.notifications import store, triggers
from services.notifications.application import Notifier
from services.notifications.domain import Trigger, summary_due
from services.notifications.settings import NotificationsSettings

Clock = Callable[[], datetime]
# Points events that state the member's balance after them (PointsEarned always has; the others since they
# carry an optional balance_after).
BalanceEvent = (
    points_pb2.PointsEarned
    | points_pb2.PointsRedeemed
    | points_pb2.PointsAdjusted
    | points_pb2.PointsReversed
    | points_pb2.PointsExpired
)


async def _keep_stated_balance(executor: Writes | asyncpg.Connection, payload: BalanceEvent) -> None:
    """Keep the balance the event states as the member's latest, if it is (store.keep_balance orders them)."""
    if not isinstance(payload, points_pb2.PointsEarned) and not payload.HasField("balance_after"):
        return  # written before the points service stated balances in it
    try:
        entry_id = uuid.UUID(payload.ledger_entry_id)
    except ValueError:
        # No entry (a reversal that took nothing moved no balance): nothing orders it among the member's events.
        return
    if payload.member_id:
        await store.keep_balance(executor, payload.member_id, payload.balance_after, entry_id)


def _birth_date(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        # Not the value: reasons go to logs and dead-letter headers, and a birth date is personal data.
        raise InvalidArgument.single("birth_date", "is not a YYYY-MM-DD date") from None


class NotificationHandlers:
    """The handlers of the three consumers, sharing the notifier, the settings and a clock (tests set it)."""

    def __init__(self, notifier: Notifier, settings: NotificationsSettings, now: Clock) -> None:
        self._notifier = notifier
        self._settings = settings
        self._now = now

    async def _send(self, connection: asyncpg.Connection, *sent: Trigger) -> None:
        now = self._now()
        for trigger in sent:
            await self._notifier.trigger(connection, trigger, now)

    async def member_enrolled(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_pb2.MemberEnrolled)
        welcome = triggers.welcome(payload, envelope.event_id)
        await store.enrol_member(
            connection,
            payload.member_id,
            payload.given_name,
            payload.email_on_file,
            _birth_date(payload.birth_date),
            payload.tier,
            occurred_at(envelope),
        )
        await self._send(connection, welcome)

    async def tier_reached(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_pb2.TierReached)
        reached = triggers.tier_reached(payload, envelope.event_id)
        await store.set_tier(connection, payload.member_id, payload.tier, occurred_at(envelope))
        await self._send(connection, reached)

    async def tier_lost(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_pb2.TierLost)
        triggers.require_fields(payload.member_id, tier=payload.tier)
        await store.set_tier(connection, payload.member_id, payload.tier, occurred_at(envelope))

    async def member_closed(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        """Nothing more goes to a closed member: what quiet hours held is cancelled, later triggers are withheld
        (domain.refusal), and no message confirms the closure (the agent who closed the account tells the member)."""
        assert isinstance(payload, points_pb2.MemberClosed)
        triggers.require_fields(payload.member_id)
        await store.close_member(connection, payload.member_id, occurred_at(envelope))

    async def points_earned(self, writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
        """Earnings only add to the member's open summary: written together per batch, by their own consumer."""
        assert isinstance(payload, points_pb2.PointsEarned)
        if not payload.member_id:  # the points are held to their bounds already (services/common/event_fields.py)
            raise InvalidArgument.single("member_id", "is required")
        now = self._now()
        await store.add_earning(
            writes,
            payload.member_id,
            payload.points,
            payload.balance_after,
            occurred_at(envelope),
            now,
            summary_due(now, self._settings.summary_period),
        )
        await _keep_stated_balance(writes, payload)

    async def balance_stated(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        """Spending, adjustments, refunds and expiries make no message; the balance they leave is what the
        member's next summary tells."""
        assert isinstance(payload, BalanceEvent)
        await _keep_stated_balance(connection, payload)

    async def points_expiring(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_pb2.PointsExpiring)
        zone = (await self._notifier.preferences_of(connection, payload.member_id)).zone
        await self._send(connection, triggers.points_expiring(payload, envelope.event_id, zone, self._now()))

    async def tier_at_risk(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_pb2.TierAtRisk)
        zone = (await self._notifier.preferences_of(connection, payload.member_id)).zone
        await self._send(connection, triggers.tier_at_risk(payload, envelope.event_id, zone, self._now()))

    async def reward_issued(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, rewards_pb2.RewardRedeemed | rewards_pb2.PerkGranted)
        await self._send(connection, triggers.reward_issued(payload, envelope.event_id))

    async def redemption_cancelled(
        self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message
    ) -> None:
        """A code voided before its message went out (held by quiet hours) is not announced after all."""
        assert isinstance(payload, rewards_pb2.RedemptionCancelled)
        triggers.require_fields(payload.member_id, redemption_id=payload.redemption_id)
        await store.cancel_reward_notices(connection, payload.member_id, payload.redemption_id)

    async def ticket_opened(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, tickets_pb2.TicketOpened)
        await self._send(connection, triggers.ticket_opened(payload, envelope.event_id))

    async def ticket_resolved(self, connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, tickets_pb2.TicketResolved)
        await self._send(connection, *triggers.ticket_resolved(payload, envelope.event_id))

    def by_topic(self) -> Mapping[str, Mapping[str, Handler]]:
        def name(kind: type[Message]) -> str:
            return kind.DESCRIPTOR.full_name

        return {
            POINTS_EVENTS_TOPIC: {
                name(points_pb2.MemberEnrolled): self.member_enrolled,
                name(points_pb2.TierReached): self.tier_reached,
                name(points_pb2.TierLost): self.tier_lost,
                name(points_pb2.PointsExpiring): self.points_expiring,
                name(points_pb2.TierAtRisk): self.tier_at_risk,
                name(points_pb2.PointsRedeemed): self.balance_stated,
                name(points_pb2.PointsAdjusted): self.balance_stated,
                name(points_pb2.PointsReversed): self.balance_stated,
                name(points_pb2.PointsExpired): self.balance_stated,
                name(points_pb2.MemberClosed): self.member_closed,
            },
            REWARDS_EVENTS_TOPIC: {
                name(rewards_pb2.RewardRedeemed): self.reward_issued,
                name(rewards_pb2.PerkGranted): self.reward_issued,
                name(rewards_pb2.RedemptionCancelled): self.redemption_cancelled,
            },
            TICKETS_EVENTS_TOPIC: {
                name(tickets_pb2.TicketOpened): self.ticket_opened,
                name(tickets_pb2.TicketResolved): self.ticket_resolved,
            },
        }


def notification_consumers(
    pool: asyncpg.Pool, kafka: KafkaSettings, handlers: NotificationHandlers
) -> list[BatchConsumer]:
    """One consumer per topic, each its own group and inbox namespace (`notifications.<topic's service>`),
    and one for the earnings, the bulk of points events (`notifications.earnings`)."""
    earnings = ReadModelConsumer(
        name="notifications.earnings",
        topic=POINTS_EVENTS_TOPIC,
        pool=pool,
        kafka=kafka,
        handlers={points_pb2.PointsEarned.DESCRIPTOR.full_name: handlers.points_earned},
    )
    return [
        earnings,
        *(
            EventConsumer(
                name=f"notifications.{topic.split('.')[0]}", topic=topic, pool=pool, kafka=kafka, handlers=by_type
            )
            for topic, by_type in handlers.by_topic().items()
        ),
    ]
