"""Closing a member (CloseMember): the points left are forfeited, the account ends, the history stays.

One transaction, the member locked first like every mutation: the forfeiture
entry, the status and MemberClosed commit together or not at all. After it,
whatever would earn, spend or move points for the member is refused
(domain.closed_refusal), the jobs pass the member by, and refunds of earlier
purchases still apply, finding the forfeited points expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import FailedPrecondition, NotFound
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import require_member_id
from services.common.outbox import add_event
from services.points import domain, ledger, lots_store, settlement, store
from services.points.expiry import Forfeiture, forfeit_all

SOURCE = "loyalty.points"


@dataclass(frozen=True)
class ClosureResult:
    member: store.MemberRow
    points_forfeited: int
    # The forfeiture's expiry entry; None when nothing was left to forfeit.
    entry_id: str | None
    closed_at: datetime
    duplicate: bool


class ClosureApplication:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def close(self, member_id: str, reason: str, actor: str) -> ClosureResult:
        require_member_id(member_id)
        ledger.validate_closure(reason, actor)
        async with unit_of_work(self._pool) as connection:
            member = await store.get_member(connection, member_id, lock=True)
            if member is None:
                raise NotFound(f"member_id: member {member_id!r} is not enrolled")
            if member.status == "closed":
                return await _first_closure(connection, member)
            now = domain.utc_now()  # after the lock, as every mutation reads its time
            await _refuse_open_holds(connection, member_id, now)
            # A hold that ran out may have freed a refunded purchase's own points: they settle what the refund left
            # owed, as the member's next operation would have settled them, rather than being forfeited.
            await settlement.settle_freed(connection, member, now)
            description = f"forfeited: member closed ({reason}, by {actor})"
            forfeited = await forfeit_all(connection, Forfeiture(member_id, description), now)
            closed = await store.close_member(connection, member_id, now, reason, actor)
            points = forfeited.points if forfeited else 0
            entry_id = forfeited.ledger_entry_id if forfeited else ""
            announced = events.MemberClosed(
                member_id=member_id, reason=reason, actor=actor, points_forfeited=points, ledger_entry_id=entry_id
            )
            announced.closed_at.FromDatetime(now)
            envelope = new_envelope(announced, subject=member_id, source=SOURCE, occurred_at=now)
            await add_event(connection, POINTS_EVENTS_TOPIC, envelope)
            return ClosureResult(closed, points, entry_id or None, now, duplicate=False)


async def _refuse_open_holds(connection: asyncpg.Connection, member_id: str, now: datetime) -> None:
    """An open hold is a redemption in flight: its capture would spend points the closure forfeits."""
    if await lots_store.open_holds(connection, member_id, now):
        raise FailedPrecondition(
            f"member_id: member {member_id!r} has an open hold; capture or release it, or wait for it to expire,"
            " then close the member"
        )


async def _first_closure(connection: asyncpg.Connection, member: store.MemberRow) -> ClosureResult:
    """A closed member closed again: the first closure's answer, nothing written."""
    closed_at = await store.closed_at(connection, member.member_id)
    assert closed_at is not None  # members_closed_when_closed: a closed member has its closed_at
    entry = await store.find_entry_by_key(connection, Forfeiture(member.member_id, "").key)
    points = -entry.points if entry else 0
    return ClosureResult(member, points, str(entry.entry_id) if entry else None, closed_at, duplicate=True)
