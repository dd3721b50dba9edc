"""Goodwill that settled a missing-points claim, taken off the claimed purchase or partner accrual when it arrives.

An agent who resolves a claim with goodwill pays the member for the missing
points (docs/tickets.md). The purchase or partner transaction arriving
later (a late file) must not pay them again: it earns only what exceeds the
goodwill, and its breakdown says why, as a cap does. Only the same member's
goodwill settles it. Each batch looks its ids up in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.points import accrual_store, purchases_store
from services.points.earning import EarnComponent


@dataclass(frozen=True)
class Settled:
    """The goodwill credited for a claim: the ticket and its points."""

    ticket_id: str
    points: int

    def take_back(self, earned: int) -> EarnComponent | None:
        """The negative component taking back what the goodwill already paid of `earned`; None when nothing."""
        taken = min(self.points, earned)
        if taken <= 0:
            return None
        how = f"paid by goodwill on ticket {self.ticket_id} ({self.points} points)"
        return EarnComponent(f"goodwill:{self.ticket_id}", -taken, how)


async def settled_purchases(connection: asyncpg.Connection, claims: Sequence[tuple[str, str]]) -> dict[str, Settled]:
    """By purchase id, the goodwill that settled each of (member id, purchase id) `claims` for that member."""
    if not claims:
        return {}
    records = await connection.fetch(
        """SELECT g.claim_purchase_id AS claimed, g.ticket_id, g.points
             FROM unnest($1::text[], $2::text[]) AS c(member_id, purchase_id)
             JOIN goodwill_credits g ON g.claim_purchase_id = c.purchase_id AND g.member_id = c.member_id""",
        [member_id for member_id, _ in claims],
        [purchase_id for _, purchase_id in claims],
    )
    return {r["claimed"]: Settled(r["ticket_id"], r["points"]) for r in records}


async def settled_partner_transactions(
    connection: asyncpg.Connection, partner_id: str, claims: Sequence[tuple[str, str]]
) -> dict[str, Settled]:
    """By transaction id, the goodwill that settled each of the partner's (member id, transaction id) `claims`."""
    if not claims:
        return {}
    records = await connection.fetch(
        """SELECT g.claim_partner_transaction_id AS claimed, g.ticket_id, g.points
             FROM unnest($2::text[], $3::text[]) AS c(member_id, transaction_id)
             JOIN goodwill_credits g ON g.claim_partner_id = $1 AND g.claim_partner_transaction_id = c.transaction_id
                                    AND g.member_id = c.member_id""",
        partner_id,
        [member_id for member_id, _ in claims],
        [transaction_id for _, transaction_id in claims],
    )
    return {r["claimed"]: Settled(r["ticket_id"], r["points"]) for r in records}


@dataclass(frozen=True)
class Earned:
    """What the claimed purchase or partner transaction earned when it was recorded, and how to name it."""

    what: str
    points: int


async def earned_before(
    connection: asyncpg.Connection,
    member_id: str,
    purchase_id: str | None,
    partner_id: str | None,
    transaction_id: str | None,
) -> Earned | None:
    """The member's claimed purchase or accepted partner transaction already recorded, or None.

    The points it earned when recorded, not net of refunds or a cancellation since: the goodwill stands for the
    missing credit, as it does when it comes first (a refund then takes back only what the purchase earned past it).
    Another member's purchase or transaction with the id settles nothing: this member's can never be recorded.
    Read under the member's lock, which purchases and partner accruals take too.
    """
    if purchase_id is not None:
        purchase = await purchases_store.find_purchase(connection, purchase_id)
        if purchase is None or purchase.member_id != member_id:
            return None
        return Earned(f"purchase {purchase_id}", purchase.points_earned)
    if partner_id is None or transaction_id is None:
        return None
    accrual = await accrual_store.find_accepted(connection, partner_id, transaction_id)
    if accrual is None or accrual[0] != member_id:
        return None
    return Earned(f"partner {partner_id} transaction {transaction_id}", accrual[1])
