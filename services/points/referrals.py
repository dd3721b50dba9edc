"""Referral bonus: paid to the referred member and to the referrer at the referred member's first qualifying purchase.

The two credits are bonus entries keyed by the referred member, so however
many purchases qualify, and whichever path they came by, each is paid once.
The referred member is locked by the purchase; the referrer is locked after
it. Referrers enrol before the members they refer, so locks are always taken
newer member first and two purchases cannot deadlock on them.
"""

from __future__ import annotations

import asyncpg

from services.points import domain, store
from services.points.bonuses import Bonus, credit_bonuses
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
    """Credit the referral bonus at the referee's first qualifying purchase; returns the referee's points."""
    referral = program.bonuses.referral if program else None
    if program is None or referral is None or not referee.referrer_member_id:
        return 0
    if not referral.qualifies(purchase, points_earned, program.currency):
        return 0
    referee_key, referrer_key = _keys(referee.member_id)
    if await store.entries_with_keys(connection, [referee_key, referrer_key]):
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
    return referral.referee_points
