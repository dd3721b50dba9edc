"""Ledger rules, pure: which lots a debit draws from, what is spendable, pending or held.

A member's points are the remaining points of their lots. A lot is pending
until its `available_at`, spendable after that until its `expires_at`. A hold
reserves spendable points without drawing from lots; capturing it draws them.
So: available + pending + held = the sum of the member's entries, as long as
no lot has passed its expiry unposted (expiry entries are posted by the
expiry job).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.errors import FailedPrecondition, Violations
from services.points.domain import MAX_POINTS

MAX_HOLD_TTL = timedelta(days=30)
MAX_KEY = 128
MAX_TEXT = 256


@dataclass(frozen=True)
class Lot:
    lot_id: uuid.UUID
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None

    def spendable(self, now: datetime) -> bool:
        return self.available_at <= now and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Balances:
    available: int
    pending: int
    held: int

    @property
    def total(self) -> int:
        return self.available + self.pending + self.held


@dataclass(frozen=True)
class Draw:
    lot_id: uuid.UUID
    points: int


def _expired(lot: Lot, now: datetime) -> bool:
    return lot.expires_at is not None and lot.expires_at <= now


def balances(lots: Iterable[Lot], held: int, now: datetime, overdrawn: int = 0) -> Balances:
    """Expired points still in lots back open holds first (see draws_to_expire); they are never available.

    Points a refund overdrew (negative_balance policy) come off what is
    available, which is then negative while no lot covers them.
    """
    lots = list(lots)
    spendable = sum(lot.remaining for lot in lots if lot.spendable(now))
    pending = sum(lot.remaining for lot in lots if lot.available_at > now and not _expired(lot, now))
    expired = sum(lot.remaining for lot in lots if _expired(lot, now))
    return Balances(available=spendable - max(0, held - expired) - overdrawn, pending=pending, held=held)


def draw_first_expiring(lots: Sequence[Lot], points: int, now: datetime, *, for_hold: bool = False) -> list[Draw]:
    """Take `points` from the spendable lots that expire first (never-expiring last, then oldest).

    A hold's capture may also take expired points the expiry job kept to cover open holds.
    """
    spendable = sorted(
        (lot for lot in lots if (lot.spendable(now) or (for_hold and _expired(lot, now))) and lot.remaining > 0),
        key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at),
    )
    draws: list[Draw] = []
    still_needed = points
    for lot in spendable:
        if still_needed == 0:
            break
        take = min(lot.remaining, still_needed)
        draws.append(Draw(lot.lot_id, take))
        still_needed -= take
    if still_needed:
        raise FailedPrecondition(f"points: {points} needed, {points - still_needed} spendable")
    return draws


def require_available(balances: Balances, points: int) -> None:
    if points > balances.available:
        raise FailedPrecondition(f"points: {points} requested, {balances.available} available")


def validate_hold(points: int, idempotency_key: str, ttl: timedelta, description: str) -> None:
    violations = Violations()
    _check_points(violations, "points", points, allow_negative=False)
    _check_key(violations, idempotency_key)
    if not timedelta(seconds=1) <= ttl <= MAX_HOLD_TTL:
        violations.add("ttl", "must be between 1 second and 30 days")
    if len(description) > MAX_TEXT:
        violations.add("description", f"must be at most {MAX_TEXT} characters")
    violations.raise_if_any()


def validate_adjustment(points: int, idempotency_key: str, reason: str, actor: str) -> None:
    violations = Violations()
    _check_points(violations, "points", points, allow_negative=True)
    _check_key(violations, idempotency_key)
    for field, value in (("reason", reason), ("actor", actor)):
        if not value.strip() or len(value) > MAX_TEXT:
            violations.add(field, f"is required, at most {MAX_TEXT} characters")
    violations.raise_if_any()


def _check_points(violations: Violations, field: str, points: int, *, allow_negative: bool) -> None:
    if points == 0 or (points < 0 and not allow_negative):
        violations.add(field, "must not be zero" if allow_negative else "must be positive")
    elif abs(points) > MAX_POINTS:
        violations.add(field, f"must be at most {MAX_POINTS} in size")


def _check_key(violations: Violations, idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > MAX_KEY:
        violations.add("idempotency_key", f"is required, at most {MAX_KEY} characters")


def points_to_reverse(
    *, earned: int, paid_minor: int, refunded_before_minor: int, refund_minor: int, reversed_before: int
) -> int:
    """Points a refund takes back: the purchase's points in proportion to the amount refunded so far.

    Computed on the cumulative refunded amount, rounded down, minus what earlier
    refunds took, so refunding a purchase in parts takes back exactly what
    refunding it at once would: all of it once everything is refunded.
    """
    if paid_minor == 0:
        return 0
    refunded_minor = refunded_before_minor + refund_minor
    return earned * refunded_minor // paid_minor - reversed_before


def expired_to_forgive(*, points: int, own_remaining: int, expired_from_own: int, forgiven_before: int) -> int:
    """Of the points a refund takes back, those not taken because the purchase's own lot lost them to expiry.

    The lot's remaining points are taken back first; what the refund needs
    beyond them is forgiven up to what expiry took from the lot (less what
    earlier refunds of the purchase forgave). Expired points are gone from the
    member already: taking them again, from other lots or as debt, would take
    them twice. What remains beyond both was spent, and the spent-points
    policy applies to it.
    """
    beyond_lot = points - min(points, own_remaining)
    return max(0, min(beyond_lot, expired_from_own - forgiven_before))


def draw_for_refund(
    own_lot: Lot | None, other_lots: Sequence[Lot], points: int, held: int, now: datetime
) -> tuple[list[Draw], int]:
    """Draws for a reversal and the points left owed.

    The purchase's own lot gives first (it holds those very points; pending or
    not), then the other spendable lots first-expiring; points reserved by
    holds are never taken. Whatever cannot be taken is owed.
    """
    spendable = [lot for lot in [own_lot, *other_lots] if lot is not None and lot.spendable(now)]
    free = max(0, sum(lot.remaining for lot in spendable) - held)
    draws: list[Draw] = []
    still_needed = points
    if own_lot is not None:
        limit = free if own_lot.spendable(now) else own_lot.remaining
        take = min(own_lot.remaining, still_needed, limit)
        if take:
            draws.append(Draw(own_lot.lot_id, take))
            still_needed -= take
            free -= take if own_lot.spendable(now) else 0
    from_others = min(still_needed, free, sum(lot.remaining for lot in other_lots if lot.spendable(now)))
    if from_others:
        draws += draw_first_expiring(other_lots, from_others, now)
        still_needed -= from_others
    return draws, still_needed


def cover_overdrafts(lot: Lot, uncovered: Sequence[tuple[uuid.UUID, int]]) -> list[tuple[uuid.UUID, Draw]]:
    """Draws from a newly credited lot for refund entries that took more than their lots had, oldest first.

    `uncovered` is (refund entry id, points not yet drawn from any lot); each
    gets what the lot still has, so every refund entry's draws end up equal
    to the points it took.
    """
    draws: list[tuple[uuid.UUID, Draw]] = []
    left = lot.remaining
    for entry_id, points in uncovered:
        take = min(points, left)
        if take <= 0:
            break
        draws.append((entry_id, Draw(lot.lot_id, take)))
        left -= take
    return draws


def draws_to_expire(lots: Sequence[Lot], held: int, now: datetime) -> list[Draw]:
    """What expires now: the remaining points of lots past their expiry, less what open holds still need.

    A hold reserved spendable points; if those lots expire while it is open,
    enough of them stays to cover the hold (it is spent or released soon, and
    whatever is left expires on a later run).
    """
    expired = sorted(
        (lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= now),
        key=lambda lot: (lot.expires_at, lot.earned_at),
    )
    live = sum(lot.remaining for lot in lots if lot.spendable(now))
    keep = max(0, held - live)
    draws: list[Draw] = []
    for lot in expired:
        kept = min(keep, lot.remaining)
        keep -= kept
        if lot.remaining - kept:
            draws.append(Draw(lot.lot_id, lot.remaining - kept))
    return draws
