"""A service's local view of each member's tier, kept from points events.

Rewards and tickets never read the points database; they learn tiers from
MemberEnrolled, TierReached and TierLost on `points.events.v1`. Events can
arrive late or twice: a change older than the one already applied is ignored.
They learn closures from MemberClosed the same way: a closure is final, so
the first one read stands and a redelivery changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.errors import FailedPrecondition, NotFound, Violations
from services.common.event_consumer import EventConsumer
from services.common.events import event_types_of, occurred_at
from services.common.grpc_server import Registration
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import check_member_id
from services.common.runtime import ServiceParts
from services.common.settings import ServiceSettings


async def _set_tier(connection: asyncpg.Connection, member_id: str, tier: str, changed_at: datetime) -> None:
    await connection.execute(
        """INSERT INTO member_tiers (member_id, tier, changed_at) VALUES ($1, $2, $3)
           ON CONFLICT (member_id) DO UPDATE SET tier = EXCLUDED.tier, changed_at = EXCLUDED.changed_at
           WHERE member_tiers.changed_at <= EXCLUDED.changed_at""",
        member_id,
        tier,
        changed_at,
    )


async def _apply_tier_event(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
    """A malformed event is refused (the consumer dead-letters it): a tier change with no time would win over
    every later one, and an empty member id would be served as if real. The tier is a tier name already
    (services/common/event_fields.py)."""
    assert isinstance(payload, events.MemberEnrolled | events.TierReached | events.TierLost)
    violations = Violations()
    check_member_id(violations, "member_id", payload.member_id)
    if not envelope.HasField("occurred_at"):
        violations.add("occurred_at", "is required: tier changes apply in the order they happened")
    violations.raise_if_any()
    await _set_tier(connection, payload.member_id, payload.tier, occurred_at(envelope))


async def _apply_closure(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
    """A closure with no member id is refused (the consumer dead-letters it): it would close nobody silently."""
    assert isinstance(payload, events.MemberClosed)
    violations = Violations()
    check_member_id(violations, "member_id", payload.member_id)
    violations.raise_if_any()
    # The event's own closed_at is when points closed the member; the envelope's time stands in for it if absent.
    closed_at = payload.closed_at.ToDatetime(tzinfo=UTC) if payload.HasField("closed_at") else occurred_at(envelope)
    await connection.execute(
        "INSERT INTO member_closures (member_id, closed_at) VALUES ($1, $2) ON CONFLICT (member_id) DO NOTHING",
        payload.member_id,
        closed_at,
    )


async def is_closed(connection: asyncpg.Connection, member_id: str) -> bool:
    """Whether this service has read the member's MemberClosed (the one place its view answers it)."""
    return await connection.fetchval("SELECT 1 FROM member_closures WHERE member_id = $1", member_id) is not None


async def require_open(connection: asyncpg.Connection, member_id: str, consequence: str) -> None:
    """FAILED_PRECONDITION naming member_id when points closed the member; `consequence` says what is refused."""
    if await is_closed(connection, member_id):
        raise FailedPrecondition(f"member_id: member {member_id!r} is closed: {consequence}")


def member_tiers_consumer(
    settings: ServiceSettings, pool: asyncpg.Pool, topic: str = POINTS_EVENTS_TOPIC
) -> EventConsumer:
    tier_events = (events.MemberEnrolled, events.TierReached, events.TierLost)
    return EventConsumer(
        name=f"{settings.name}.member-tiers",
        topic=topic,
        pool=pool,
        kafka=settings.kafka,
        handlers={
            **{kind.DESCRIPTOR.full_name: _apply_tier_event for kind in tier_events},
            events.MemberClosed.DESCRIPTOR.full_name: _apply_closure,
        },
        carries=event_types_of(POINTS_EVENTS_TOPIC),  # `topic` is the points events' (or a test's stand-in)
    )


async def tier_of(pool: asyncpg.Pool, member_id: str) -> str:
    violations = Violations()
    check_member_id(violations, "member_id", member_id)
    violations.raise_if_any()
    tier = await pool.fetchval("SELECT tier FROM member_tiers WHERE member_id = $1", member_id)
    if tier is None:
        raise NotFound(f"member_id: no tier known for member {member_id!r}")
    return str(tier)


class MemberViewServicer:
    """GetMemberTier for any service whose proto package defines a MemberViewService."""

    def __init__(self, pool: asyncpg.Pool, response_type: Any) -> None:
        self._pool = pool
        self._response_type = response_type

    async def GetMemberTier(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        tier = await tier_of(self._pool, request.member_id)
        return self._response_type(member_id=request.member_id, tier=tier)


def member_view_parts(settings: ServiceSettings, pool: asyncpg.Pool, pb2: Any, pb2_grpc: Any) -> ServiceParts:
    """The parts of a service that so far only keeps the member tier view.

    `pb2` and `pb2_grpc` are the service's generated modules, which define
    MemberViewService and GetMemberTierResponse.
    """
    return ServiceParts(
        registrations=[
            Registration.of(pb2_grpc, pb2, "MemberViewService", MemberViewServicer(pool, pb2.GetMemberTierResponse))
        ],
        consumers=[member_tiers_consumer(settings, pool)],
    )
