"""Property-based: debits other than a hold's capture never take the points that hold reserves.

Lots are written at random times (some before the holds, some after, some
expiring soon); holds are taken on what was spendable then. Whatever debit
follows, drawn around the reservations, every hold keeps exactly the points of
the lots it reserved, so expiry can keep them for it and its capture finds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import FailedPrecondition
from services.points.ledger import (
    Draw,
    Lot,
    OpenHold,
    draw_first_expiring,
    draw_for_refund,
    draws_to_capture,
    reservations,
    reserved_by_lot,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

lots_strategy = st.lists(
    st.tuples(st.integers(1, 200), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 60))),
    min_size=1,
    max_size=6,
)


def made_lots(specs: Sequence[tuple[int, int, int | None]]) -> list[Lot]:
    """(points, hour written, hours it lasts or None): available from when it is written."""
    return [
        Lot(
            lot_id=uuid.uuid4(),
            remaining=points,
            earned_at=START + written * HOUR,
            available_at=START + written * HOUR,
            expires_at=None if lasts is None else START + (written + lasts) * HOUR,
        )
        for points, written, lasts in specs
    ]


def taken_holds(lots: Sequence[Lot], wishes: Sequence[tuple[int, int]]) -> list[OpenHold]:
    """Holds taken one by one at their hour, each on no more than what is spendable and free then."""
    holds: list[OpenHold] = []
    for points, hour in sorted(wishes, key=lambda wish: wish[1]):
        at = START + hour * HOUR + timedelta(minutes=30)
        spendable = sum(lot.remaining for lot in lots if lot.spendable(at))
        reserved_then = sum(sum(d.points for d in draws) for draws in reservations(lots, holds).values())
        if 0 < points <= spendable - reserved_then:
            holds.append(OpenHold(uuid.uuid4(), points, at))
    return holds


def after(lots: Sequence[Lot], draws: Sequence[Draw]) -> list[Lot]:
    taken: dict[uuid.UUID, int] = {}
    for draw in draws:
        taken[draw.lot_id] = taken.get(draw.lot_id, 0) + draw.points
    drawn = [Lot(lot.lot_id, lot.remaining - taken.get(lot.lot_id, 0), *_times(lot)) for lot in lots]
    assert all(lot.remaining >= 0 for lot in drawn)
    return drawn


def _times(lot: Lot) -> tuple[datetime, datetime, datetime | None]:
    return lot.earned_at, lot.available_at, lot.expires_at


@given(
    lots_strategy,
    st.lists(st.tuples(st.integers(1, 150), st.integers(0, 20)), max_size=3),
    st.integers(1, 400),
    st.integers(20, 90),
)
def test_a_debit_leaves_every_hold_its_reserved_points(
    lot_specs: list[tuple[int, int, int | None]], wishes: list[tuple[int, int]], points: int, debit_hour: int
) -> None:
    lots = made_lots(lot_specs)
    holds = taken_holds(lots, wishes)
    before = reservations(lots, holds)
    now = START + debit_hour * HOUR
    try:
        draws = draw_first_expiring(lots, points, now, reserved_by_lot(lots, holds))
    except FailedPrecondition:
        return  # more than the unreserved spendable points: refused, nothing drawn
    assert reservations(after(lots, draws), holds) == before


@given(lots_strategy, st.lists(st.tuples(st.integers(1, 150), st.integers(0, 20)), max_size=3), st.integers(1, 400))
def test_a_refund_leaves_every_hold_its_reserved_points(
    lot_specs: list[tuple[int, int, int | None]], wishes: list[tuple[int, int]], points: int
) -> None:
    lots = made_lots(lot_specs)
    holds = taken_holds(lots, wishes)
    before = reservations(lots, holds)
    now = START + 21 * HOUR
    own, others = lots[0], lots[1:]
    draws, owed = draw_for_refund(own, others, points, reserved_by_lot(lots, holds), now)
    assert sum(draw.points for draw in draws) + owed == points
    assert reservations(after(lots, draws), holds) == before


@given(lots_strategy, st.lists(st.tuples(st.integers(1, 150), st.integers(0, 20)), min_size=2, max_size=3))
def test_capturing_one_hold_leaves_the_others_theirs(
    lot_specs: list[tuple[int, int, int | None]], wishes: list[tuple[int, int]]
) -> None:
    lots = made_lots(lot_specs)
    holds = taken_holds(lots, wishes)
    if len(holds) < 2:
        return
    before = reservations(lots, holds)
    captured = holds[-1]  # the youngest: the one most tempted to take what older holds reserve
    draws = draws_to_capture(lots, holds, captured, START + 90 * HOUR)
    assert sum(draw.points for draw in draws) == captured.points
    rest = [hold for hold in holds if hold is not captured]
    assert reservations(after(lots, draws), rest) == {hold.hold_id: before[hold.hold_id] for hold in rest}
