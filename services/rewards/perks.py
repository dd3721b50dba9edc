"""Perks: rewards granted at zero points when a member reaches a tier, and on the member's birthday.

A perk is a completed redemption with its own code. Its grant key (the tier,
or the birthday's year) is unique per member and reward, so a TierReached
event delivered twice, or the birthday job running every hour, grants it once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2
from loyalty.events.v1 import rewards_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.db import DATABASE_UNAVAILABLE, savepoint, unit_of_work
from services.common.errors import InvalidArgument
from services.common.event_consumer import EventConsumer
from services.common.events import occurred_at
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import require_member_id
from services.common.member_tiers import is_closed
from services.common.settings import KafkaSettings
from services.rewards import catalog_store, codes_store, domain, perks_store
from services.rewards import redemption_store as redemptions
from services.rewards.domain import Reward
from services.rewards.events import emit

log = logging.getLogger(__name__)


async def grant(
    connection: asyncpg.Connection,
    reward: Reward,
    member_id: str,
    occasion: str,
    grant_key: str,
    now: datetime,
    earned_at: datetime | None = None,
) -> bool:
    """Grant the perk unless the member has it for `grant_key` already; False if not granted.

    Its validity window is judged when the member earned it (`earned_at`, now unless given): a consumer reading
    a TierReached late neither refuses a perk offered then nor grants one offered only since. Stock and archiving
    are judged now: a unit is issued now, and archiving is how an operator stops a perk at once.

    A member the points service closed gets none, whatever the occasion (a TierReached replayed or read late, a
    birthday): the closure as this service has read it is judged now, like the stock.
    """
    if not domain.in_window(reward, earned_at or now):
        return False
    if await is_closed(connection, member_id):
        log.info(
            "perk not granted: the member is closed", extra={"reward_id": reward.reward_id, "member_id": member_id}
        )
        return False
    try:
        async with savepoint(connection):
            redemption_id = await redemptions.insert_granted(
                connection,
                member_id=member_id,
                reward_id=reward.reward_id,
                reward_name=reward.spec.name,
                value=reward.spec.value,
                occasion=occasion,
                grant_key=grant_key,
                now=now,
            )
            if redemption_id is None:
                return False
            code = await codes_store.issue_unit(connection, reward, redemption_id, now)
            granted = events.PerkGranted(
                redemption_id=str(redemption_id),
                member_id=member_id,
                reward_id=reward.reward_id,
                occasion=occasion,
                tier=reward.spec.trigger_tier,
                code=code,
                reward_name=reward.spec.name,
            )
            await emit(connection, granted, member_id, now)
            return True
    except codes_store.NothingLeft:
        log.warning("perk out of stock; not granted", extra={"reward_id": reward.reward_id, "member_id": member_id})
        return False


async def _tier_reached(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_pb2.TierReached)
    require_member_id(payload.member_id)  # the tier is a tier name already (services/common/event_fields.py)
    now = domain.utc_now()
    ladder = await catalog_store.ladder(connection)
    tier = await _tier_now(connection, payload.member_id, payload.tier, envelope)
    reached_at = occurred_at(envelope)
    for reward in await catalog_store.perks_for(connection, "tier_welcome", payload.tier):
        if not domain.tier_allows(reward.spec.min_tier, tier, ladder):
            continue
        await grant(connection, reward, payload.member_id, "tier_welcome", f"tier:{payload.tier}", now, reached_at)


async def _tier_now(connection: asyncpg.Connection, member_id: str, reached: str, envelope: EventEnvelope) -> str:
    """The tier a perk's min_tier is judged by: the one reached, unless a later change is known already.

    The member-tiers view is another consumer's: it may have applied a TierLost that came after this event.
    """
    if not envelope.HasField("occurred_at"):
        return reached
    later = await connection.fetchval(
        "SELECT tier FROM member_tiers WHERE member_id = $1 AND changed_at > $2", member_id, occurred_at(envelope)
    )
    return str(later) if later is not None else reached


async def _member_enrolled(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_pb2.MemberEnrolled)
    require_member_id(payload.member_id)
    try:
        birth_date = domain.parse_birth_date(payload.birth_date)
    except ValueError:
        # Not the value: reasons go to logs and dead-letter headers, and a birth date is personal data.
        raise InvalidArgument.single("birth_date", "is not a YYYY-MM-DD date") from None
    if birth_date is not None:
        await perks_store.set_birth_date(connection, payload.member_id, birth_date)


def perks_consumer(pool: asyncpg.Pool, kafka: KafkaSettings) -> EventConsumer:
    """TierReached grants welcome perks; MemberEnrolled records the birth date for birthday rewards."""
    return EventConsumer(
        name="rewards.perks",
        topic=POINTS_EVENTS_TOPIC,
        pool=pool,
        kafka=kafka,
        handlers={
            points_pb2.TierReached.DESCRIPTOR.full_name: _tier_reached,
            points_pb2.MemberEnrolled.DESCRIPTOR.full_name: _member_enrolled,
        },
    )


class BirthdayJob:
    """Grants each birthday reward to the members whose birthday is today (UTC), once a year."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def run_once(self, today: date | None = None) -> int:
        """How many perks were granted."""
        now = domain.utc_now()
        today = today or now.date()
        grant_key = f"birthday:{today.year}"
        granted = 0
        async with self._pool.acquire() as connection:
            rewards = await catalog_store.perks_for(connection, "birthday")
            due = await perks_store.birthday_grants_due(
                connection, [r.reward_id for r in rewards], domain.birthdays_celebrated_on(today), grant_key
            )
        by_id = {reward.reward_id: reward for reward in rewards}
        for member_id, reward_id in due:
            try:
                async with unit_of_work(self._pool) as connection:
                    granted += await grant(connection, by_id[reward_id], member_id, "birthday", grant_key, now)
            except DATABASE_UNAVAILABLE:
                raise  # away for every member alike: the run ends rather than fail each grant; the next run grants them
            except asyncpg.PostgresError as error:
                # One member's grant refused by the database must not keep everyone else's birthday waiting.
                log.error(
                    "birthday reward not granted",
                    extra={"member_id": member_id, "reward_id": reward_id, "error": repr(error)},
                )
        return granted
