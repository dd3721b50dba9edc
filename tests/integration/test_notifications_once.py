"""Once per thing: a ticket's one survey invited once, and messages counted once however often a batch runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import points_pb2, tickets_pb2

from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.notifications.application import REQUESTED
from tests.integration.notifications_support import NotificationsWorld, publish, requests_for
from tests.integration.support import running
from tests.integration.test_notifications_flow import consumed, new_member, world

__all__ = ["world"]


def enrolment(member_id: str) -> points_pb2.MemberEnrolled:
    return points_pb2.MemberEnrolled(
        enrolled_at=timestamp(datetime.now(UTC)),
        member_id=member_id,
        tier="member",
        given_name="Ada",
        email_on_file=True,
    )


async def test_a_ticket_resolved_again_is_not_invited_to_its_one_survey_again(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    async with running(*world.workers()):
        ids = [await publish(producer, POINTS_EVENTS_TOPIC, member_id, enrolment(member_id))]
        for _ in range(2):  # resolved, reopened, resolved again: two events
            resolved = tickets_pb2.TicketResolved(member_id=member_id, ticket_id="t-1")
            ids.append(await publish(producer, TICKETS_EVENTS_TOPIC, member_id, resolved))
        await consumed(world, ids)
        await world.scheduler.run_once()
        requests = await requests_for(world.kafka, {member_id}, at_least=4)
    assert Counter(r.template_id for r in requests) == {"welcome": 1, "ticket_resolved": 2, "survey_invitation": 1}


async def test_messages_are_counted_once_when_a_batch_with_a_refused_event_runs_again(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()

    def requested(template: str) -> float:
        return REQUESTED.labels(template, "email")._value.get()

    before = {template: requested(template) for template in ("welcome", "tier_reached")}
    # Published before the consumers start, so that one poll takes them as one batch; the refused one rolls it back
    # and the batch runs again, an event at a time.
    ids = [await publish(producer, POINTS_EVENTS_TOPIC, member_id, enrolment(member_id))]
    reached = points_pb2.TierReached(member_id=member_id, tier="gold", previous_tier="member")
    ids.append(await publish(producer, POINTS_EVENTS_TOPIC, member_id, reached))
    await publish(producer, POINTS_EVENTS_TOPIC, member_id, points_pb2.PointsExpiring(member_id=member_id, points=0))
    async with running(*world.workers()):
        await consumed(world, ids)
        requests = await requests_for(world.kafka, {member_id}, at_least=2)
    assert Counter(r.template_id for r in requests) == {"welcome": 1, "tier_reached": 1}
    assert {template: requested(template) - before[template] for template in before} == {
        "welcome": 1,
        "tier_reached": 1,
    }
