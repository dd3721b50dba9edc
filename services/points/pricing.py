"""Prices a purchase by the program in force at its occurred_at, or by the flat base rate when none is applied."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from services.points import domain, purchases_store
from services.points.earning import EarnComponent, price_purchase
from services.points.goodwill_claims import Settled
from services.points.program import Program
from services.points.program_application import ProgramVersion


@dataclass(frozen=True)
class Priced:
    points: int
    components: tuple[EarnComponent, ...]
    # None: no program applied yet, the flat LOYALTY_BASE_EARN_RATE priced it.
    program: Program | None
    available_at: datetime
    expires_at: datetime | None

    def breakdown_json(self) -> str:
        return json.dumps(
            [{"source": c.source, "points": c.points, "description": c.description} for c in self.components]
        )

    def description(self) -> str:
        return "; ".join(c.description for c in self.components) or "no points"

    def less_goodwill(self, goodwill: Settled | None) -> Priced:
        """What is left to earn once the goodwill that settled a claim for this purchase is taken off, last."""
        taken = goodwill.take_back(self.points) if goodwill is not None else None
        if taken is None:
            return self
        return replace(self, points=self.points + taken.points, components=(*self.components, taken))


async def price(
    connection: asyncpg.Connection,
    version: ProgramVersion | None,
    purchase: domain.Purchase,
    *,
    member_tier: str,
    flat_rate: int,
) -> Priced:
    """Price by `version`, the program version in force at the purchase's occurred_at (None: none applied)."""
    if version is None:
        earning = domain.earn_for_purchase(purchase, flat_rate)
        base = EarnComponent("base", earning.points, earning.description)
        return Priced(earning.points, (base,), None, purchase.occurred_at, None)
    program = version.program
    earned_today = 0
    if program.earning.caps.per_day is not None:
        start, end = program.day_bounds(purchase.occurred_at)
        earned_today = await purchases_store.purchase_points_between(connection, purchase.member_id, start, end)
    decision = price_purchase(program, purchase, member_tier=member_tier, earned_today=earned_today)
    return Priced(decision.total, decision.components, program, decision.available_at, decision.expires_at)
