"""When a member's points expire and when pending points become available, pure: GetPointsSchedule's rules.

From the member's open lots and holds at one moment:

- expiring: the points of each lot with a fixed term still to run, less what
  open holds reserve of it (ledger.reservations: a hold's capture spends
  them, and the expiry job leaves them while it is open, as
  ledger.draws_to_expire does), grouped by the instant they expire. Pending
  points are in it too: their term runs whether or not they are available.
  Points past their term are not: they are either kept for a hold or gone at
  the expiry job's next pass;
- pending: the pending points, grouped by the instant they become available;
- inactivity: under an inactivity policy, the date all points go for want of
  activity and how many it would take: everything not reserved by a hold and
  not gone by its own term before then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.points import ledger

# The most groups of each list an answer carries.
MAX_GROUPS = 100


@dataclass(frozen=True)
class Due:
    """`points` that expire, or become available, at `at`."""

    at: datetime
    points: int


@dataclass(frozen=True)
class Schedule:
    # Soonest first, at most MAX_GROUPS; `more_expiring` when there were more.
    expiring: tuple[Due, ...]
    more_expiring: bool
    pending: tuple[Due, ...]
    more_pending: bool
    # When and how many points the inactivity policy would take; None without one, or when it would take none.
    inactivity: Due | None


def points_schedule(
    lots: Sequence[ledger.Lot],
    holds: Sequence[ledger.OpenHold],
    now: datetime,
    *,
    dormant_at: datetime | None = None,
    limit: int = MAX_GROUPS,
) -> Schedule:
    """The member's schedule at `now`; `dormant_at` is when the inactivity policy takes everything (None: no policy)."""
    unreserved_points = unreserved(lots, holds)
    expiring: dict[datetime, int] = {}
    pending: dict[datetime, int] = {}
    dormant_points = 0
    for lot in lots:
        free = unreserved_points[lot.lot_id]
        if free <= 0 or (lot.expires_at is not None and lot.expires_at <= now):
            continue
        if lot.available_at > now:
            pending[lot.available_at] = pending.get(lot.available_at, 0) + free
        if lot.expires_at is not None:
            expiring[lot.expires_at] = expiring.get(lot.expires_at, 0) + free
        if dormant_at is not None and (lot.expires_at is None or lot.expires_at > dormant_at):
            dormant_points += free
    shown_expiring, more_expiring = _soonest(expiring.items(), limit)
    shown_pending, more_pending = _soonest(pending.items(), limit)
    inactivity = Due(dormant_at, dormant_points) if dormant_at is not None and dormant_points else None
    return Schedule(shown_expiring, more_expiring, shown_pending, more_pending, inactivity)


def unreserved(lots: Sequence[ledger.Lot], holds: Sequence[ledger.OpenHold]) -> dict[uuid.UUID, int]:
    """Of each lot's remaining points, those no open hold reserves."""
    reserved = ledger.reserved_by_lot(lots, holds)
    return {lot.lot_id: lot.remaining - reserved.get(lot.lot_id, 0) for lot in lots}


def _soonest(groups: Iterable[tuple[datetime, int]], limit: int) -> tuple[tuple[Due, ...], bool]:
    ordered = sorted(groups)
    return tuple(Due(at, points) for at, points in ordered[:limit]), len(ordered) > limit
