"""Pure ledger rules: what is spendable, pending or held, and which lots a debit draws from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from loyalty.events.v1.tickets_pb2 import GoodwillGranted

from services.common.errors import FailedPrecondition, InvalidArgument
from services.points import goodwill
from services.points.ledger import (
    Balances,
    Draw,
    Lot,
    OpenHold,
    allot,
    balances,
    draw_first_expiring,
    draws_to_capture,
    draws_to_expire,
    expired_to_forgive,
    free_points,
    free_to_settle,
    require_available,
    validate_adjustment,
    validate_hold,
    validate_return,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def lot(remaining: int, *, age_days: int = 10, available_in: int = -1, expires_in: int | None = None) -> Lot:
    return Lot(
        lot_id=uuid.uuid4(),
        remaining=remaining,
        earned_at=NOW - age_days * DAY,
        available_at=NOW + available_in * DAY,
        expires_at=None if expires_in is None else NOW + expires_in * DAY,
    )


def test_balances_split_spendable_pending_and_held() -> None:
    lots = [lot(100), lot(50, available_in=5), lot(30, expires_in=3)]
    holds = [OpenHold(uuid.uuid4(), 40, NOW - DAY)]
    assert balances(lots, holds, now=NOW) == Balances(available=90, pending=50, held=40)
    assert balances(lots, holds, now=NOW).total == 180


def test_an_expired_lot_is_neither_spendable_nor_pending() -> None:
    assert balances([lot(100, expires_in=-1)], [], now=NOW) == Balances(available=0, pending=0, held=0)


def test_a_hold_taken_before_its_points_expired_keeps_them_until_it_is_captured() -> None:
    expired, kept_for_later = lot(100, available_in=-5, expires_in=-1), lot(50)
    hold = OpenHold(uuid.uuid4(), 30, NOW - 2 * DAY)  # when the first lot was still spendable, and first to expire
    lots = [expired, kept_for_later]
    assert balances(lots, [hold], now=NOW) == Balances(available=50, pending=0, held=30)
    assert draws_to_expire(lots, [hold], NOW) == [Draw(expired.lot_id, 70)]
    assert draws_to_capture(lots, [hold], hold, NOW) == [Draw(expired.lot_id, 30)]


def test_a_hold_taken_once_points_had_expired_is_never_backed_by_them() -> None:
    expired, live = lot(100, expires_in=-1), lot(50)
    hold = OpenHold(uuid.uuid4(), 30, NOW - DAY / 2)
    lots = [expired, live]
    assert balances(lots, [hold], now=NOW) == Balances(available=20, pending=0, held=30)
    assert draws_to_expire(lots, [hold], NOW) == [Draw(expired.lot_id, 100)]
    assert draws_to_capture(lots, [hold], hold, NOW) == [Draw(live.lot_id, 30)]


def test_a_refunded_lot_gives_up_what_the_open_holds_can_do_without() -> None:
    refunded, other = lot(100, expires_in=30), lot(100)  # the refunded one expires first: holds take it first
    hold = OpenHold(uuid.uuid4(), 80, NOW - DAY)
    assert free_to_settle([refunded, other], [hold], refunded.lot_id, NOW) == 100  # the other lot backs the hold
    bigger = OpenHold(uuid.uuid4(), 150, NOW - DAY)
    assert free_to_settle([refunded, other], [bigger], refunded.lot_id, NOW) == 50
    assert free_to_settle([refunded, other], [bigger, hold], refunded.lot_id, NOW) == 0
    assert free_to_settle([lot(100, expires_in=-1)], [], uuid.uuid4(), NOW) == 0  # not one of the member's lots


def test_the_free_points_are_what_no_hold_needs_first_expiring_first_and_never_pending_or_expired() -> None:
    soon, late, pending, expired = lot(100, expires_in=30), lot(100), lot(50, available_in=5), lot(70, expires_in=-1)
    hold = OpenHold(uuid.uuid4(), 150, NOW - DAY)  # backed by all of `soon` and 50 of `late`: any 150 will do
    assert free_points([late, pending, expired, soon], [hold], NOW) == [Draw(soon.lot_id, 50)]
    assert free_points([late, pending, expired, soon], [], NOW) == [Draw(soon.lot_id, 100), Draw(late.lot_id, 100)]


def test_draws_take_the_soonest_expiring_lots_first_and_never_expiring_last() -> None:
    never, late, soon = lot(100, age_days=30), lot(100, expires_in=60), lot(100, expires_in=5)
    assert draw_first_expiring([never, late, soon], 150, NOW) == [Draw(soon.lot_id, 100), Draw(late.lot_id, 50)]


def test_among_never_expiring_lots_the_oldest_goes_first() -> None:
    older, newer = lot(10, age_days=30), lot(10, age_days=1)
    assert draw_first_expiring([newer, older], 15, NOW) == [Draw(older.lot_id, 10), Draw(newer.lot_id, 5)]


def test_pending_and_expired_lots_are_not_drawn() -> None:
    pending, expired = lot(100, available_in=2), lot(100, expires_in=-1)
    with pytest.raises(FailedPrecondition, match="points: 1 needed, 0 spendable"):
        draw_first_expiring([pending, expired], 1, NOW)


@pytest.mark.parametrize(
    ("points", "own_remaining", "expired_from_own", "forgiven_before", "forgiven"),
    [
        (100, 0, 150, 0, 100),  # all of it expired
        (100, 0, 150, 100, 50),  # an earlier refund forgave 100 of the 150: the other 50 were spent
        (100, 60, 150, 0, 40),  # what the lot still has is taken back first
        (100, 100, 150, 0, 0),
        (100, 0, 0, 0, 0),  # nothing expired: all spent
        (0, 0, 150, 0, 0),
    ],
)
def test_a_refund_forgives_what_expired_from_the_purchase_lot_beyond_what_is_left_in_it(
    points: int, own_remaining: int, expired_from_own: int, forgiven_before: int, forgiven: int
) -> None:
    found = expired_to_forgive(
        points=points, own_remaining=own_remaining, expired_from_own=expired_from_own, forgiven_before=forgiven_before
    )
    assert found == forgiven


def test_require_available_names_the_shortfall() -> None:
    require_available(Balances(available=10, pending=0, held=0), 10)
    with pytest.raises(FailedPrecondition, match="points: 11 requested, 10 available"):
        require_available(Balances(available=10, pending=0, held=0), 11)


@pytest.mark.parametrize(
    ("points", "key", "ttl", "description", "fields"),
    [
        (0, "k", timedelta(hours=1), "", ["points"]),
        (-5, "k", timedelta(hours=1), "", ["points"]),
        (10**13, "k", timedelta(hours=1), "", ["points"]),
        (5, "", timedelta(hours=1), "", ["idempotency_key"]),
        (5, "k" * 129, timedelta(hours=1), "", ["idempotency_key"]),
        (5, "k", timedelta(0), "", ["ttl"]),
        (5, "k", timedelta(days=31), "", ["ttl"]),
        (5, "k", timedelta(hours=1), "d" * 257, ["description"]),
    ],
)
def test_hold_requests_name_each_wrong_field(
    points: int, key: str, ttl: timedelta, description: str, fields: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_hold(points, key, ttl, description)
    assert [v.field for v in raised.value.violations] == fields


def test_a_hold_without_ttl_says_it_is_required() -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_hold(5, "k", None, "")
    assert str(raised.value) == "ttl: is required: between 1 second and 30 days"
    assert validate_hold(5, "k", timedelta(hours=1), "") == timedelta(hours=1)


def test_adjustments_may_debit_but_not_be_zero_or_anonymous() -> None:
    validate_adjustment(-5, "k", "correction", "agent-1")
    with pytest.raises(InvalidArgument) as raised:
        validate_adjustment(0, "k", "", "agent-1")
    assert [v.field for v in raised.value.violations] == ["points", "reason"]


@pytest.mark.parametrize("hold_id", ["", "not-a-hold"])
def test_a_return_names_a_missing_or_malformed_hold_id_with_the_other_fields(hold_id: str) -> None:
    validate_return(str(uuid.uuid4()), "k", "cancelled", "rewards-service")
    with pytest.raises(InvalidArgument) as raised:
        validate_return(hold_id, "", "", "")
    assert [v.field for v in raised.value.violations] == ["hold_id", "idempotency_key", "reason", "actor"]


def test_a_goodwill_grant_with_an_overlong_reason_or_agent_is_refused_naming_the_field() -> None:
    grant = GoodwillGranted(ticket_id="t-1", member_id="m-1", points=5, reason="sorry", granted_by="agent-1")
    goodwill.validate_grant(grant)
    for field, value in (("reason", "x" * 501), ("granted_by", "a" * 129), ("approved_by", "a" * 129)):
        wrong = GoodwillGranted()
        wrong.CopyFrom(grant)
        setattr(wrong, field, value)
        with pytest.raises(InvalidArgument) as refused:
            goodwill.validate_grant(wrong)
        assert [v.field for v in refused.value.violations] == [field]


def test_allot_gives_each_need_in_turn_what_the_sources_have_in_order() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    older, newer = uuid.uuid4(), uuid.uuid4()
    given, left = allot([Draw(first, 30), Draw(second, 50)], [(older, 40), (newer, 20)])
    assert given == [(older, Draw(first, 30)), (older, Draw(second, 10)), (newer, Draw(second, 20))]
    assert left == [Draw(second, 20)]


def test_allot_leaves_needs_short_when_the_sources_run_out() -> None:
    source, need = uuid.uuid4(), uuid.uuid4()
    assert allot([Draw(source, 10)], [(need, 25), (uuid.uuid4(), 5)]) == ([(need, Draw(source, 10))], [])
    assert allot([Draw(source, 10)], [(need, 0)]) == ([], [Draw(source, 10)])
