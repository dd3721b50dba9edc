"""Referral bonus: paid to the referred member and to the referrer at the referred member's first qualifying purchase.

The two credits are bonus entries keyed by the referred member, and the
payment is listed in referral_payments (even one that credits nobody), so
however many purchases qualify, and whichever path they came by, each is paid
once.
They are pending like the purchase's own points: a refund within that window
that leaves the purchase no longer qualifying voids them (and the referral:
a later purchase pays nothing), so enrolling, buying and returning pays no
referrer. After the window a refund leaves them.
Whoever pays or voids a referral locks the referrer together with the
referred member, in member id order (purchases_store.lock_buyers,
referrals_store.lock_with_referrer): locking the referrer afterwards deadlocks
when R referred X and X referred Y, and one transaction holds X waiting for R
while another holds R and waits for X.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.events import new_envelopes
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import domain, lots_store, referrals_store, store
from services.points.bonuses import SOURCE, Bonus, credit_bonuses
from services.points.ledger import Draw
from services.points.program import Program


def _keys(referee_id: str) -> tuple[str, str]:
    return f"referral:{referee_id}:referee", f"referral:{referee_id}:referrer"


async def pay_referral(
    connection: asyncpg.Connection,
    referee: store.MemberRow,
    purchase: domain.Purchase,
    points_earned: int,
    program: Program | None,
    balance: int,
) -> int:
    """Credit the referral bonus at the referee's first qualifying purchase; returns the referee's points.

    The caller holds the referee's lock and, while the referral is unpaid, the referrer's.
    """
    referral = program.bonuses.referral if program else None
    if program is None or referral is None or not referee.referrer_member_id:
        return 0
    if not referral.qualifies(purchase.amount, points_earned, program.currency):
        return 0
    referee_key, referrer_key = _keys(referee.member_id)
    if await referrals_store.was_paid(connection, referee.member_id, [referee_key, referrer_key]):
        return 0
    referrer = await store.get_member(connection, referee.referrer_member_id, lock=True)
    description = f"referral bonus of program {program.id}"
    # Pending like the purchase itself, so a purchase returned within the window has not paid out yet.
    available_at = program.available_at(purchase.occurred_at)
    credits = [(referee.member_id, referral.referee_points, referee_key, "referee", balance)]
    if referrer is not None and referrer.status == "active":
        credits.append((referrer.member_id, referral.referrer_points, referrer_key, "referrer", referrer.balance))
    bonuses = [
        Bonus(
            member_id=member_id,
            points=points,
            key=key,
            source=f"referral:{role}",
            description=f"{description}: {role} of {referee.member_id}",
            earned_at=purchase.occurred_at,
            balance_after=balance_before + points,
            available_at=available_at,
        )
        for member_id, points, key, role, balance_before in credits
        if points
    ]
    await credit_bonuses(connection, program, bonuses)
    await referrals_store.record_payment(connection, referee.member_id, purchase.purchase_id)
    return referral.referee_points


async def void_if_returned(
    connection: asyncpg.Connection,
    *,
    purchase_id: str,
    refund_id: str,
    left_paid: domain.Money,
    left_points: int,
    program: Program | None,
    now: datetime,
) -> None:
    """Void the referral a purchase paid when a refund leaves it no longer qualifying while the bonus is pending.

    `left_paid` and `left_points` are what remains of the purchase after the
    refund; `program` is the version that priced it. The caller holds the locks
    of the purchase's member and its referrer (referrals_store.lock_with_referrer).
    """
    referee_id = await referrals_store.unvoided_referee_of(connection, purchase_id)
    referral = program.bonuses.referral if program else None
    if referee_id is None or program is None or referral is None:
        return
    if referral.qualifies(left_paid, left_points, program.currency):
        return
    pending = await referrals_store.pending_bonuses(connection, _keys(referee_id), now)
    if not pending:
        return  # the window closed: the bonus is paid for good
    payloads = []
    for bonus in pending:
        entry = await store.insert_entry(
            connection,
            member_id=bonus.member_id,
            kind="refund",
            points=-bonus.lot.remaining,
            # Keyed by the bonus alone (it is voided once): a key built from the refund id, which may hold ':',
            # could be taken by another refund's own entry.
            idempotency_key=f"void:{bonus.idempotency_key}",
            description=f"{bonus.idempotency_key} voided: purchase {purchase_id} returned within its pending window",
        )
        await lots_store.apply_draws(connection, entry.entry_id, [Draw(bonus.lot.lot_id, bonus.lot.remaining)])
        reversed_event = events.PointsReversed(
            member_id=bonus.member_id,
            purchase_id=purchase_id,
            refund_id=refund_id,
            points_taken=bonus.lot.remaining,
            ledger_entry_id=str(entry.entry_id),
        )
        payloads.append((reversed_event, bonus.member_id))
    # After every void: a member voided twice states the balance both left, in each event.
    balances = await store.balances_of(connection, [member_id for _, member_id in payloads])
    for reversed_event, member_id in payloads:
        reversed_event.balance_after = balances[member_id]
    await add_events(connection, POINTS_EVENTS_TOPIC, new_envelopes(payloads, source=SOURCE, occurred_at=now))
    await referrals_store.mark_voided(connection, referee_id, refund_id)
