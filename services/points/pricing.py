"""Prices a purchase by the program in force at its occurred_at and the tier its member held then, or by the flat
base rate when no program is applied."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from services.points import domain, purchases_store, tier_history_store
from services.points.earning import EarnComponent, price_purchase
from services.points.goodwill_claims import Settled
from services.points.program import Program, TierPolicy
from services.points.program_application import ProgramApplication, ProgramVersion
from services.points.tiers import HeldTier, priced_tier


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


@dataclass(frozen=True)
class MadeUnder:
    """What a purchase is priced by: the program version in force when it was made (None: none applied), and the
    tier its member held then."""

    version: ProgramVersion | None
    held: HeldTier


async def made_under(
    connection: asyncpg.Connection, programs: ProgramApplication, purchases: Sequence[domain.Purchase], now: datetime
) -> tuple[list[MadeUnder], ProgramVersion | None]:
    """What each purchase (of a locked member) is priced by, and the version in force `now`, whatever the batch's
    size: one round trip when no version pricing it has tiers, two when one has, and a third only when a buyer's
    tier is not on the ladder pricing its purchase (renamed or dropped since)."""
    *pricing, current = await programs.in_force_at_each(connection, None, [*(p.occurred_at for p in purchases), now])
    if all(version is None or version.program.tiers is None for version in pricing):
        return [MadeUnder(version, _NO_TIER) for version in pricing], current
    held = await tier_history_store.tiers_held_at(connection, [(p.member_id, p.occurred_at) for p in purchases])
    ladders = await _ladders_reached_on(connection, programs, pricing, held)
    under = [
        MadeUnder(version, HeldTier(row.tier, ladder))
        for version, row, ladder in zip(pricing, held, ladders, strict=True)
    ]
    return under, current


# For a purchase no ladder prices: it earns no tier bonus, whatever tier its member held.
_NO_TIER = HeldTier("", None)


async def _ladders_reached_on(
    connection: asyncpg.Connection,
    programs: ProgramApplication,
    pricing: Sequence[ProgramVersion | None],
    held: Sequence[tier_history_store.HeldRow],
) -> list[TierPolicy | None]:
    """The ladder each held tier was reached on, where the ladder pricing its purchase does not name it (None
    elsewhere: the name alone decides, `tiers.priced_tier`): the tiers of the version in force when it was reached,
    among those applied by then."""
    unnamed = [
        index
        for index, (version, row) in enumerate(zip(pricing, held, strict=True))
        if version is not None and version.program.tiers is not None and version.program.tiers.level(row.tier) is None
    ]
    ladders: list[TierPolicy | None] = [None] * len(held)
    if unnamed:
        reached = [held[index].since for index in unnamed]
        versions = await programs.in_force_at_each(connection, None, reached, reached)
        for index, version in zip(unnamed, versions, strict=True):
            ladders[index] = version.program.tiers if version else None
    return ladders


async def price(
    connection: asyncpg.Connection, under: MadeUnder, purchase: domain.Purchase, *, flat_rate: int
) -> Priced:
    """Price by the version in force at the purchase's occurred_at, with the bonus of the tier its member held then,
    matched to that version's tiers (`tiers.priced_tier`)."""
    version = under.version
    if version is None:
        earning = domain.earn_for_purchase(purchase, flat_rate)
        base = EarnComponent("base", earning.points, earning.description)
        return Priced(earning.points, (base,), None, purchase.occurred_at, None)
    program = version.program
    earned_today = 0
    if program.earning.caps.per_day is not None:
        start, end = program.day_bounds(purchase.occurred_at)
        earned_today = await purchases_store.purchase_points_between(connection, purchase.member_id, start, end)
    member_tier = priced_tier(program.tiers, under.held)
    decision = price_purchase(program, purchase, member_tier=member_tier, earned_today=earned_today)
    return Priced(decision.total, decision.components, program, decision.available_at, decision.expires_at)
