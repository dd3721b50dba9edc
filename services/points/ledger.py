"""Ledger rules, pure: which lots a debit draws from, what is spendable, pending or held.

A member's points are the remaining points of their lots. A lot is pending
until its `available_at`, spendable after that until its `expires_at`. A hold
reserves spendable points (those that expire first) without drawing from
lots; capturing it draws them, even from a lot that has expired since.
So: available + pending + held = the sum of the member's entries, as long as
no lot has passed its expiry unposted (expiry entries are posted by the
expiry job).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.bounds import check_points
from services.common.errors import FailedPrecondition, Violations, required_as
from services.common.text_fields import check_line

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
    # The number of the entry that credited it: holds taken before it was written never reserve it.
    seq: int = 0

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


@dataclass(frozen=True)
class OpenHold:
    hold_id: uuid.UUID
    points: int
    created_at: datetime
    # The member's highest entry number when it was taken: the lots it could reserve.
    seen_seq: int = sys.maxsize


def _expired(lot: Lot, now: datetime) -> bool:
    return lot.expires_at is not None and lot.expires_at <= now


def _first_expiring(lot: Lot) -> tuple[bool, datetime, datetime]:
    """The order debits draw lots in: first to expire first, never-expiring last, then oldest."""
    return (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at)


def reservations(lots: Sequence[Lot], holds: Sequence[OpenHold]) -> dict[uuid.UUID, list[Draw]]:
    """The points of which lots each open hold reserves, expired since or not.

    Each hold, oldest first, reserves the points that were spendable when it
    was taken and expire first, of those the holds before it left. Debits
    other than its capture draw around them, so they stay the hold's: if
    their lot expires while the hold is open, they still back it (its capture
    spends them and expiry leaves them until then), and a redemption that
    spans an expiry costs the member the same points as one that does not. A
    hold is never backed by a lot that expired, or was written, after it.
    """
    ordered = sorted((lot for lot in lots if lot.remaining > 0), key=_first_expiring)
    left = {lot.lot_id: lot.remaining for lot in ordered}
    reserved: dict[uuid.UUID, list[Draw]] = {}
    # In the order they were taken: holds of a member are written one at a time under its lock, so what each saw
    # orders them; the clock only breaks ties (it is read before the lock is taken).
    for hold in sorted(holds, key=lambda hold: (hold.seen_seq, hold.created_at)):
        needed = hold.points
        draws: list[Draw] = []
        for lot in ordered:
            if needed == 0:
                break
            seen = lot.seq <= hold.seen_seq and lot.spendable(hold.created_at)
            take = min(needed, left[lot.lot_id]) if seen else 0
            left[lot.lot_id] -= take
            needed -= take
            if take:
                draws.append(Draw(lot.lot_id, take))
        reserved[hold.hold_id] = draws
    return reserved


def free_to_settle(lots: Sequence[Lot], holds: Sequence[OpenHold], lot_id: uuid.UUID, now: datetime) -> int:
    """The most points lot `lot_id` can give up now while every open hold keeps the backing it has.

    A hold's backing is worked out afresh each time (reservations): when the
    hold that kept a refunded purchase's points ends, a later hold may fall
    back on them, while the points it was backed by become free instead.
    What matters is how much can go, not which lot each hold now names.
    Points past their expiry can go too (the expiry job's pass would let a
    refunded credit's own points settle its refund first): left to that pass,
    a credit coming first would settle the refund instead, and they would
    still expire.
    """
    lot = next((lot for lot in lots if lot.lot_id == lot_id), None)
    if lot is None or lot.available_at > now:
        return 0
    backing = _backing(lots, holds)
    low, high = 0, lot.remaining
    while low < high:  # backing only shrinks as the lot gives more: the largest amount that keeps it
        middle = (low + high + 1) // 2
        less = [replace(x, remaining=x.remaining - middle) if x.lot_id == lot_id else x for x in lots]
        if _backing(less, holds) == backing:
            low = middle
        else:
            high = middle - 1
    return low


def free_points(lots: Sequence[Lot], holds: Sequence[OpenHold], now: datetime) -> list[Draw]:
    """The spendable points no open hold needs to keep its backing, lot by lot, those that expire first first."""
    spendable = sorted((lot for lot in lots if lot.spendable(now)), key=_first_expiring)
    return free_of(lots, holds, [lot.lot_id for lot in spendable], now)


def free_of(lots: Sequence[Lot], holds: Sequence[OpenHold], lot_ids: Iterable[uuid.UUID], now: datetime) -> list[Draw]:
    """The points of `lot_ids`, in that order, no open hold needs to keep its backing (free_to_settle)."""
    draws: list[Draw] = []
    for lot_id in lot_ids:
        free = free_to_settle(lots, holds, lot_id, now)
        if free:
            draws.append(Draw(lot_id, free))
            # The next lot's share is worked out with this one's given up.
            lots = [replace(lot, remaining=lot.remaining - free) if lot.lot_id == lot_id else lot for lot in lots]
    return draws


def _backing(lots: Sequence[Lot], holds: Sequence[OpenHold]) -> dict[uuid.UUID, int]:
    return {hold_id: sum(draw.points for draw in draws) for hold_id, draws in reservations(lots, holds).items()}


def reserved_by_lot(lots: Sequence[Lot], holds: Sequence[OpenHold]) -> dict[uuid.UUID, int]:
    """Of each lot's remaining points, those open holds reserve."""
    reserved: dict[uuid.UUID, int] = {}
    for draws in reservations(lots, holds).values():
        for draw in draws:
            reserved[draw.lot_id] = reserved.get(draw.lot_id, 0) + draw.points
    return reserved


def expired_backing(lots: Sequence[Lot], holds: Sequence[OpenHold], now: datetime) -> dict[uuid.UUID, list[Draw]]:
    """The expired points that still back each open hold."""
    expired = {lot.lot_id for lot in lots if _expired(lot, now)}
    return {
        hold_id: [draw for draw in draws if draw.lot_id in expired]
        for hold_id, draws in reservations(lots, holds).items()
    }


def reserved_spendable(lots: Sequence[Lot], holds: Sequence[OpenHold], now: datetime) -> int:
    """What open holds reserve of the spendable points: all they hold, less what expired points back."""
    backed = sum(draw.points for draws in expired_backing(lots, holds, now).values() for draw in draws)
    return sum(hold.points for hold in holds) - backed


def balances(lots: Iterable[Lot], holds: Sequence[OpenHold], now: datetime, overdrawn: int = 0) -> Balances:
    """Expired points never count as available; those still backing open holds count as held.

    Points a refund overdrew (negative_balance policy) come off what is
    available, which is then negative while no lot covers them.
    """
    lots = list(lots)
    spendable = sum(lot.remaining for lot in lots if lot.spendable(now))
    pending = sum(lot.remaining for lot in lots if lot.available_at > now and not _expired(lot, now))
    held = sum(hold.points for hold in holds)
    return Balances(available=spendable - reserved_spendable(lots, holds, now) - overdrawn, pending=pending, held=held)


def draws_to_capture(lots: Sequence[Lot], holds: Sequence[OpenHold], hold: OpenHold, now: datetime) -> list[Draw]:
    """A capture spends the points its hold reserves; any it lacks come from the unreserved spendable points."""
    reserved = reservations(lots, holds)
    own = reserved.get(hold.hold_id, [])
    short = hold.points - sum(draw.points for draw in own)
    if not short:
        return own
    others = reserved_by_lot(lots, [other for other in holds if other.hold_id != hold.hold_id])
    for draw in own:
        others[draw.lot_id] = others.get(draw.lot_id, 0) + draw.points
    return own + draw_first_expiring(lots, short, now, others)


def draw_first_expiring(
    lots: Sequence[Lot], points: int, now: datetime, reserved: Mapping[uuid.UUID, int] | None = None
) -> list[Draw]:
    """Take `points` from the spendable lots that expire first (never-expiring last, then oldest), leaving what
    `reserved` keeps of each lot (the points open holds reserve)."""
    kept = reserved or {}
    spendable = sorted((lot for lot in lots if lot.spendable(now)), key=_first_expiring)
    draws: list[Draw] = []
    still_needed = points
    for lot in spendable:
        if still_needed == 0:
            break
        take = min(lot.remaining - kept.get(lot.lot_id, 0), still_needed)
        if take > 0:
            draws.append(Draw(lot.lot_id, take))
            still_needed -= take
    if still_needed:
        raise FailedPrecondition(f"points: {points} needed, {points - still_needed} spendable")
    return draws


def require_available(balances: Balances, points: int) -> None:
    if points > balances.available:
        raise FailedPrecondition(f"points: {points} requested, {balances.available} available")


def validate_hold(points: int, idempotency_key: str, ttl: timedelta | None, description: str) -> timedelta:
    """The hold's ttl, once every field of the request is valid (None is a ttl the caller left out)."""
    violations = Violations()
    check_points(violations, "points", points)
    _check_key(violations, idempotency_key)
    if ttl is None:
        violations.add("ttl", "is required: between 1 second and 30 days")
    elif not timedelta(seconds=1) <= ttl <= MAX_HOLD_TTL:
        violations.add("ttl", "must be between 1 second and 30 days")
    check_line(violations, "description", description, max_length=MAX_TEXT)
    violations.raise_if_any()
    assert ttl is not None  # refused above
    return ttl


def validate_adjustment(points: int, idempotency_key: str, reason: str, actor: str) -> None:
    violations = Violations()
    check_points(violations, "points", points, signed=True)
    _check_key(violations, idempotency_key)
    _check_reason_and_actor(violations, reason, actor)
    violations.raise_if_any()


def validate_return(hold_id: str, idempotency_key: str, reason: str, actor: str) -> None:
    """ReturnCapturedHold's hold_id is read as CaptureHold's is, its key, reason and actor follow AdjustPoints'
    rules; checked together so that one answer names every field missing or malformed."""
    violations = Violations()
    if not is_hold_id(hold_id):
        violations.add("hold_id", required_as(hold_id, HOLD_ID_SHAPE))
    _check_key(violations, idempotency_key)
    _check_reason_and_actor(violations, reason, actor)
    violations.raise_if_any()


HOLD_ID_SHAPE = "a hold id returned by HoldPoints"


def is_hold_id(hold_id: str) -> bool:
    """Whether `hold_id` has a hold id's shape (a UUID), as the hold RPCs read it."""
    try:
        uuid.UUID(hold_id)
    except ValueError:
        return False
    return True


def adjustment_key(idempotency_key: str) -> str:
    """The entry key of an AdjustPoints call's key (the caller's keys have a namespace of their own)."""
    return f"adjust:{idempotency_key}"


def described(reason: str, actor: str) -> str:
    """The description of an entry made by hand (an adjustment, a return): its reason and who made it."""
    return f"{reason} (by {actor})"


def validate_closure(reason: str, actor: str) -> None:
    """CloseMember's reason and actor follow AdjustPoints' rules: each required, one line."""
    violations = Violations()
    _check_reason_and_actor(violations, reason, actor)
    violations.raise_if_any()


def _check_reason_and_actor(violations: Violations, reason: str, actor: str) -> None:
    for field, value in (("reason", reason), ("actor", actor)):
        check_line(violations, field, value, max_length=MAX_TEXT, required=True)


def _check_key(violations: Violations, idempotency_key: str) -> None:
    check_line(violations, "idempotency_key", idempotency_key, max_length=MAX_KEY, required=True)


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
    own_lot: Lot | None, other_lots: Sequence[Lot], points: int, reserved: Mapping[uuid.UUID, int], now: datetime
) -> tuple[list[Draw], int]:
    """Draws for a reversal and the points left owed.

    The purchase's own lot gives first (it holds those very points; pending or
    not), then the other spendable lots first-expiring; points `reserved` by
    holds (per lot) are never taken. Whatever cannot be taken is owed. The
    caller has posted what expired, so an expired own lot holds only points
    that back open holds: none of them are taken.
    """
    draws: list[Draw] = []
    still_needed = points
    if own_lot is not None:
        if own_lot.spendable(now):
            limit = own_lot.remaining - reserved.get(own_lot.lot_id, 0)
        else:  # pending points are never reserved; an expired lot's are all kept for holds
            limit = 0 if _expired(own_lot, now) else own_lot.remaining
        take = min(still_needed, max(0, limit))
        if take:
            draws.append(Draw(own_lot.lot_id, take))
            still_needed -= take
    free = sum(max(0, lot.remaining - reserved.get(lot.lot_id, 0)) for lot in other_lots if lot.spendable(now))
    from_others = min(still_needed, free)
    if from_others:
        draws += draw_first_expiring(other_lots, from_others, now, reserved)
        still_needed -= from_others
    return draws, still_needed


def allot(
    sources: Sequence[Draw], needs: Sequence[tuple[uuid.UUID, int]]
) -> tuple[list[tuple[uuid.UUID, Draw]], list[Draw]]:
    """Give each need (an entry id and the points it lacks), in order, the points of `sources` in order.

    Returns what each need gets, as draws by entry id, and what is left of
    the sources. Settling refunds is this: their entries that took more than
    their lots had, oldest first, then a debt repayment, each from the points
    a new lot brings or an expiry would take.
    """
    given: list[tuple[uuid.UUID, Draw]] = []
    left = [draw for draw in sources if draw.points > 0]
    for entry_id, points in needs:
        while points > 0 and left:
            source = left[0]
            take = min(points, source.points)
            given.append((entry_id, Draw(source.lot_id, take)))
            points -= take
            if take == source.points:
                left.pop(0)
            else:
                left[0] = Draw(source.lot_id, source.points - take)
    return given, left


def draws_to_expire(lots: Sequence[Lot], holds: Sequence[OpenHold], now: datetime) -> list[Draw]:
    """What expires now: the remaining points of lots past their expiry, less what still backs open holds.

    What a hold kept is spent by its capture, or expires on a later run once
    the hold is released or runs out.
    """
    kept: dict[uuid.UUID, int] = {}
    for draws in expired_backing(lots, holds, now).values():
        for draw in draws:
            kept[draw.lot_id] = kept.get(draw.lot_id, 0) + draw.points
    expired = sorted((lot for lot in lots if lot.remaining > 0 and _expired(lot, now)), key=_first_expiring)
    return [
        Draw(lot.lot_id, lot.remaining - kept.get(lot.lot_id, 0))
        for lot in expired
        if lot.remaining > kept.get(lot.lot_id, 0)
    ]
