"""Holds, captures, releases and adjustments on real PostgreSQL, one member at a time and many at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.points import lots_store
from services.points.application import PointsApplication
from services.points.ledger import Lot
from services.points.ledger_application import LedgerApplication
from tests.integration.points_ledger_support import assert_balanced, books, earn, member_with_points, new_id

HOUR = timedelta(hours=1)


async def test_a_hold_reserves_points_and_a_capture_spends_them(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 500)  # 1000 points
    held = await ledger.hold(member_id, 300, new_id("h"), HOUR, "hotel night")
    state = await books(pool, ledger, member_id)
    assert (state.available, state.held, state.entries_sum) == (700, 300, 1000)
    assert_balanced(state)

    captured = await ledger.capture(str(held.hold.hold_id))
    assert captured.status == "captured"
    assert captured.entry is not None and captured.entry.points == -300
    state = await books(pool, ledger, member_id)
    assert (state.available, state.held, state.entries_sum) == (700, 0, 700)
    assert_balanced(state)


async def test_a_release_frees_the_points_and_a_capture_after_it_is_refused(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 100)
    held = await ledger.hold(member_id, 150, new_id("h"), HOUR, "")
    released = await ledger.release(str(held.hold.hold_id))
    assert released.status == "released"
    assert (await ledger.release(str(held.hold.hold_id))).duplicate
    with pytest.raises(FailedPrecondition, match="released"):
        await ledger.capture(str(held.hold.hold_id))
    state = await books(pool, ledger, member_id)
    assert (state.available, state.held, state.entries_sum) == (200, 0, 200)


async def test_an_unclaimed_hold_expires_by_itself(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 100)
    held = await ledger.hold(member_id, 200, new_id("h"), timedelta(seconds=1), "")
    assert (await ledger.balances(member_id)).available == 0
    await asyncio.sleep(1.5)
    assert (await ledger.balances(member_id)).available == 200
    with pytest.raises(FailedPrecondition, match="expired"):
        await ledger.capture(str(held.hold.hold_id))
    assert (await ledger.release(str(held.hold.hold_id))).status == "expired"
    assert_balanced(await books(pool, ledger, member_id))


async def test_holds_and_captures_repeat_their_first_result(app: PointsApplication, ledger: LedgerApplication) -> None:
    member_id = await member_with_points(app, 100)
    key = new_id("h")
    first = await ledger.hold(member_id, 50, key, HOUR, "")
    again = await ledger.hold(member_id, 50, key, HOUR, "")
    assert again.duplicate and again.hold.hold_id == first.hold.hold_id
    with pytest.raises(AlreadyExists, match="idempotency_key"):
        await ledger.hold(member_id, 60, key, HOUR, "")
    captured = await ledger.capture(str(first.hold.hold_id))
    recaptured = await ledger.capture(str(first.hold.hold_id))
    assert recaptured.duplicate and recaptured.entry == captured.entry
    assert (await ledger.balances(member_id)).available == 150


async def test_more_than_available_is_refused_and_writes_nothing(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 100)
    before = await books(pool, ledger, member_id)
    with pytest.raises(FailedPrecondition, match="points: 201 requested, 200 available"):
        await ledger.hold(member_id, 201, new_id("h"), HOUR, "")
    with pytest.raises(FailedPrecondition, match="points"):
        await ledger.adjust(member_id, -201, "correction", "agent-7", new_id("a"))
    assert await books(pool, ledger, member_id) == before


async def test_pending_points_cannot_be_held(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 100)
    async with pool.acquire() as connection:  # as a return window would leave the lot
        await connection.execute(
            "UPDATE lots SET available_at = now() + interval '30 days' WHERE member_id = $1", member_id
        )
    state = await books(pool, ledger, member_id)
    assert (state.available, state.pending) == (0, 200)
    assert_balanced(state)
    with pytest.raises(FailedPrecondition):
        await ledger.hold(member_id, 1, new_id("h"), HOUR, "")


async def test_a_capture_draws_from_the_lots_that_expire_first(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 50)  # lot A: 100 points, never expires
    await earn(app, member_id, 50)  # lot B: 100 points
    await earn(app, member_id, 50)  # lot C: 100 points
    async with pool.acquire() as connection:
        lots = [
            r["lot_id"]
            for r in await connection.fetch(
                "SELECT lot_id FROM lots WHERE member_id = $1 ORDER BY earned_at", member_id
            )
        ]
        await connection.execute("UPDATE lots SET expires_at = now() + interval '60 days' WHERE lot_id = $1", lots[1])
        await connection.execute("UPDATE lots SET expires_at = now() + interval '10 days' WHERE lot_id = $1", lots[2])
    held = await ledger.hold(member_id, 150, new_id("h"), HOUR, "")
    await ledger.capture(str(held.hold.hold_id))
    async with pool.acquire() as connection:
        remaining = {
            r["lot_id"]: r["remaining"]
            for r in await connection.fetch("SELECT lot_id, remaining FROM lots WHERE member_id = $1", member_id)
        }
        draws = await connection.fetchval(
            "SELECT count(*) FROM lot_draws JOIN lots USING (lot_id) WHERE member_id = $1", member_id
        )
    assert [remaining[lot] for lot in lots] == [100, 50, 0]
    assert draws == 2


async def test_adjustments_credit_and_debit_once_per_key(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 0)
    key = new_id("a")
    credit = await ledger.adjust(member_id, 250, "goodwill: late flight", "agent-7", key)
    assert not credit.duplicate and credit.entry.kind == "adjustment"
    assert (await ledger.adjust(member_id, 250, "goodwill: late flight", "agent-7", key)).duplicate
    await ledger.adjust(member_id, -50, "correction", "agent-7", new_id("a"))
    state = await books(pool, ledger, member_id)
    assert (state.available, state.entries_sum) == (200, 200)
    assert_balanced(state)


async def test_bad_requests_name_the_field(app: PointsApplication, ledger: LedgerApplication) -> None:
    member_id = await member_with_points(app, 10)
    with pytest.raises(InvalidArgument) as bad_hold:
        await ledger.hold(member_id, 0, "", timedelta(0), "")
    assert [v.field for v in bad_hold.value.violations] == ["points", "idempotency_key", "ttl"]
    with pytest.raises(InvalidArgument) as bad_adjustment:
        await ledger.adjust(member_id, 5, " ", "", "k")
    assert [v.field for v in bad_adjustment.value.violations] == ["reason", "actor"]
    with pytest.raises(InvalidArgument, match="hold_id"):
        await ledger.capture("not-a-uuid")
    with pytest.raises(NotFound, match="member_id"):
        await ledger.hold("nobody", 5, new_id("h"), HOUR, "")


async def test_a_hot_account_ends_as_if_its_operations_ran_one_by_one(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 500)  # 1000 points

    async def hold_and_capture() -> None:
        held = await ledger.hold(member_id, 30, new_id("h"), HOUR, "")
        await ledger.capture(str(held.hold.hold_id))

    operations = (
        [earn(app, member_id, 10) for _ in range(20)]  # +400
        + [hold_and_capture() for _ in range(20)]  # -600
        + [ledger.adjust(member_id, -10, "correction", "ops", new_id("a")) for _ in range(20)]  # -200
    )
    await asyncio.gather(*operations)
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.held) == (600, 600, 0)
    assert_balanced(state)


async def test_concurrent_holds_never_overspend(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 500)  # 1000 points
    attempts = [ledger.hold(member_id, 100, new_id("h"), HOUR, "") for _ in range(50)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    placed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert (len(placed), len(refused)) == (10, 40)
    state = await books(pool, ledger, member_id)
    assert (state.available, state.held) == (0, 1000)
    assert_balanced(state)


async def test_balances_are_read_in_one_snapshot_while_a_capture_commits(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = await member_with_points(app, 500)  # 1000 points
    hold = await ledger.hold(member_id, 300, new_id("h"), HOUR, "")  # 700 available, before and after its capture
    read_lots = lots_store.open_lots

    async def lots_then_a_capture_commits(connection: asyncpg.Connection, member: str) -> list[Lot]:
        lots = await read_lots(connection, member)
        monkeypatch.setattr(lots_store, "open_lots", read_lots)
        await ledger.capture(str(hold.hold.hold_id))  # commits between the reads of lots and of holds
        return lots

    monkeypatch.setattr(lots_store, "open_lots", lots_then_a_capture_commits)
    assert (await ledger.balances(member_id)).available == 700


async def test_one_key_sent_for_two_members_at_once_is_already_exists_for_one_of_them(
    app: PointsApplication, ledger: LedgerApplication
) -> None:
    for _ in range(5):  # the two lookups pass together most of the time, not always
        first, second = await member_with_points(app, 100), await member_with_points(app, 100)
        key = new_id("k")
        holds = await asyncio.gather(
            ledger.hold(first, 50, key, HOUR, ""), ledger.hold(second, 50, key, HOUR, ""), return_exceptions=True
        )
        adjustments = await asyncio.gather(
            *(ledger.adjust(member, 5, "fix", "ann", key) for member in (first, second)), return_exceptions=True
        )
        for results, message in ((holds, "a different hold"), (adjustments, "a different adjustment")):
            refused = [r for r in results if isinstance(r, BaseException)]
            assert len(refused) == 1 and isinstance(refused[0], AlreadyExists), refused
            assert str(refused[0]) == f"idempotency_key: already used for {message}"


async def test_a_capture_that_waited_for_the_member_past_the_holds_expiry_is_refused(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await member_with_points(app, 100)
    hold = await ledger.hold(member_id, 100, new_id("h"), timedelta(seconds=1), "")
    async with unit_of_work(pool) as busy:  # another operation on the member holds its lock
        await busy.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        capture = asyncio.ensure_future(ledger.capture(str(hold.hold.hold_id)))
        await asyncio.sleep(1.5)  # the hold runs out meanwhile
    with pytest.raises(FailedPrecondition, match="the hold is expired"):
        await capture
