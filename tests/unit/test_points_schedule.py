"""GetPointsSchedule's rules: what expires when, what becomes available when, what inactivity would take."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from loyalty.points.v1 import points_pb2 as pb

from services.client import schedule_lines
from services.points.ledger import Lot, OpenHold, balances, draws_to_expire
from services.points.program import ExpiryPolicy
from services.points.schedule import Due, points_schedule

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def lot(
    points: int, *, earned: timedelta = -30 * DAY, available: timedelta | None = None, expires: timedelta | None
) -> Lot:
    """A lot earned `earned` from NOW, available then (or at `available` from NOW), expiring `expires` from NOW."""
    return Lot(
        uuid.uuid4(),
        points,
        NOW + earned,
        NOW + (earned if available is None else available),
        None if expires is None else NOW + expires,
    )


def test_points_are_grouped_by_expiry_soonest_first_and_points_that_never_expire_are_left_out() -> None:
    lots = [
        lot(100, expires=90 * DAY),
        lot(40, expires=10 * DAY),
        lot(60, expires=90 * DAY),
        lot(500, expires=None),
    ]
    schedule = points_schedule(lots, [], NOW)
    assert schedule.expiring == (Due(NOW + 10 * DAY, 40), Due(NOW + 90 * DAY, 160))
    assert (schedule.pending, schedule.more_expiring, schedule.inactivity) == ((), False, None)


def test_pending_points_are_listed_by_when_they_become_available_and_expire_on_their_term_too() -> None:
    lots = [
        lot(30, earned=-DAY, available=13 * DAY, expires=364 * DAY),
        lot(20, earned=-2 * DAY, available=12 * DAY, expires=None),
        lot(10, earned=-DAY, available=13 * DAY, expires=364 * DAY),
    ]
    schedule = points_schedule(lots, [], NOW)
    assert schedule.pending == (Due(NOW + 12 * DAY, 20), Due(NOW + 13 * DAY, 40))
    assert schedule.expiring == (Due(NOW + 364 * DAY, 40),)
    assert sum(due.points for due in schedule.pending) == balances(lots, [], NOW).pending


def test_points_an_open_hold_reserves_are_not_expiring_and_come_back_when_it_ends() -> None:
    soon, later = lot(100, expires=10 * DAY), lot(100, expires=40 * DAY)
    hold = OpenHold(uuid.uuid4(), 130, NOW - DAY)  # takes the first-expiring points: all of `soon`, 30 of `later`
    assert points_schedule([soon, later], [hold], NOW).expiring == (Due(NOW + 40 * DAY, 70),)
    assert points_schedule([soon, later], [], NOW).expiring == (Due(NOW + 10 * DAY, 100), Due(NOW + 40 * DAY, 100))


def test_points_past_their_term_are_not_listed_whether_a_hold_keeps_them_or_the_job_has_yet_to_take_them() -> None:
    kept, unposted, live = lot(50, expires=-2 * DAY), lot(70, expires=-DAY), lot(10, expires=DAY)
    hold = OpenHold(uuid.uuid4(), 50, NOW - 3 * DAY)  # reserved the first-expiring points while spendable
    schedule = points_schedule([kept, unposted, live], [hold], NOW)
    assert schedule.expiring == (Due(NOW + DAY, 10),)
    # The job takes the unposted points and leaves the held ones: neither is the member's to lose later.
    assert sum(draw.points for draw in draws_to_expire([kept, unposted, live], [hold], NOW)) == 70


def test_inactivity_takes_what_no_hold_reserves_and_no_earlier_term_takes() -> None:
    dormant_at = NOW + 30 * DAY
    lots = [
        lot(100, expires=10 * DAY),  # gone by its term first
        lot(200, expires=60 * DAY),  # its term ends after: inactivity takes it
        lot(300, expires=None),
        lot(5, earned=-DAY, available=13 * DAY, expires=None),  # pending points go too
    ]
    hold = OpenHold(uuid.uuid4(), 150, NOW - DAY)  # 100 of the first lot, 50 of the second
    schedule = points_schedule(lots, [hold], NOW, dormant_at=dormant_at)
    assert schedule.inactivity == Due(dormant_at, 150 + 300 + 5)
    assert points_schedule(lots, [], NOW, dormant_at=dormant_at).inactivity == Due(dormant_at, 505)


def test_no_inactivity_date_without_the_policy_or_without_points_it_would_take() -> None:
    assert points_schedule([lot(10, expires=None)], [], NOW).inactivity is None
    assert points_schedule([], [], NOW, dormant_at=NOW + DAY).inactivity is None
    assert points_schedule([lot(10, expires=DAY)], [], NOW, dormant_at=NOW + 2 * DAY).inactivity is None


def test_the_lists_are_bounded_and_say_so() -> None:
    lots = [lot(1, expires=(day + 1) * DAY) for day in range(5)]
    schedule = points_schedule(lots, [], NOW, limit=3)
    assert [due.at for due in schedule.expiring] == [NOW + DAY, NOW + 2 * DAY, NOW + 3 * DAY]
    assert schedule.more_expiring
    assert not points_schedule(lots, [], NOW, limit=5).more_expiring


@given(
    st.lists(st.tuples(st.integers(1, 100), st.integers(-5, 5), st.integers(-3, 30)), max_size=8),
    st.lists(st.integers(1, 150), max_size=3),
)
def test_when_every_point_has_a_term_the_expiring_ones_are_the_available_and_pending_ones(
    specs: list[tuple[int, int, int]], held: list[int]
) -> None:
    lots = [
        lot(points, earned=-20 * DAY, available=pending * DAY, expires=term * DAY) for points, pending, term in specs
    ]
    holds = []
    spendable = balances(lots, [], NOW).available
    for points in held:  # holds are taken on what is spendable
        if points <= spendable:
            holds.append(OpenHold(uuid.uuid4(), points, NOW))
            spendable -= points
    schedule = points_schedule(lots, holds, NOW, limit=1000)
    books = balances(lots, holds, NOW)
    assert sum(due.points for due in schedule.expiring) == books.available + books.pending
    assert sum(due.points for due in schedule.pending) == books.pending
    assert all(due.at > NOW and due.points > 0 for due in schedule.expiring + schedule.pending)
    assert [due.at for due in schedule.expiring] == sorted({due.at for due in schedule.expiring})


def test_the_inactivity_date_counts_months_in_utc_from_the_last_activity() -> None:
    policy = ExpiryPolicy(months_after_earning=None, inactivity_months=24, reminder_days=None)
    assert policy.dormant_at(datetime(2024, 2, 29, 23, 30, tzinfo=UTC)) == datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert ExpiryPolicy(12, None, None).dormant_at(NOW) is None


def test_loyalty_balance_says_the_next_expiry_the_next_points_available_and_the_inactivity_date() -> None:
    def at(moment: datetime) -> Timestamp:
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        return stamp

    schedule = pb.GetPointsScheduleResponse(
        member_id="alice",
        expiring=[
            pb.ExpiringPoints(expires_at=at(NOW + DAY), points=120),
            pb.ExpiringPoints(expires_at=at(NOW + 2 * DAY), points=30),
        ],
        pending=[pb.PendingPoints(available_at=at(NOW + 3 * DAY), points=60)],
        inactivity_expires_at=at(NOW + 400 * DAY),
        inactivity_points=210,
    )
    assert schedule_lines(schedule) == [
        "120 points expire on 2026-06-02 12:00 UTC; 30 more later",
        "60 pending points become available on 2026-06-04 12:00 UTC",
        "210 points expire on 2027-07-06 12:00 UTC unless the member is active before (inactivity policy)",
    ]
    assert schedule_lines(pb.GetPointsScheduleResponse(member_id="bob")) == []
