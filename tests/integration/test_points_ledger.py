"""The points ledger on real PostgreSQL: enrolment, earning, idempotency, append-only, outbox."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.events import decode
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.points.application import PointsApplication
from services.points.domain import Enrollment, LineItem, Money, Purchase

RATE = 2


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def purchase_for(member_id: str, amount_minor: int = 4299, currency: str = "USD", **changes: object) -> Purchase:
    base = Purchase(
        purchase_id=new_id("order"),
        member_id=member_id,
        amount=Money(amount_minor, currency),
        line_items=(LineItem("sku-1", "shoes", 1, Money(amount_minor, currency)),),
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        channel="web",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def enrolled(app: PointsApplication) -> str:
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, f"{member_id}@example.com", "Ada", "Lovelace"))
    return member_id


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("members", "ledger_entries", "purchases", "outbox")
    }


async def outbox_events(pool: asyncpg.Pool, member_id: str) -> list[EventEnvelope]:
    rows = await pool.fetch(
        "SELECT topic, event_type, envelope FROM outbox WHERE message_key = $1 ORDER BY id", member_id
    )
    envelopes = []
    for row in rows:
        assert row["topic"] == POINTS_EVENTS_TOPIC
        envelope, _ = decode(bytes(row["envelope"]), [])
        assert envelope.type == row["event_type"]
        assert envelope.subject == member_id
        envelopes.append(envelope)
    return envelopes


async def assert_balance_is_sum_of_entries(pool: asyncpg.Pool, member_id: str) -> int:
    balance, total = await pool.fetchrow(
        """SELECT m.balance, (SELECT coalesce(sum(points), 0) FROM ledger_entries e
                               WHERE e.member_id = m.member_id)
             FROM members m WHERE m.member_id = $1""",
        member_id,
    )
    assert balance == total
    return int(balance)


async def test_enroll_creates_a_base_member_and_a_member_enrolled_event(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    member_id = await enrolled(app)
    member = await app.member(member_id)
    assert (member.tier, member.status, member.balance, member.lifetime_earned) == ("base", "active", 0, 0)
    [envelope] = await outbox_events(pool, member_id)
    payload = events.MemberEnrolled()
    assert envelope.payload.Unpack(payload)
    assert (payload.member_id, payload.tier) == (member_id, "base")
    # Whether an email is on file travels, the address stays in the points database.
    assert (payload.given_name, payload.email_on_file) == ("Ada", True)
    assert b"@example.com" not in envelope.SerializeToString()


async def test_enrolling_twice_is_already_exists_and_writes_nothing(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    before = await counts(pool)
    with pytest.raises(AlreadyExists):
        await app.enroll(Enrollment(member_id, "", "", ""))
    assert await counts(pool) == before


async def test_invalid_enrollment_writes_nothing(app: PointsApplication, pool: asyncpg.Pool) -> None:
    with pytest.raises(InvalidArgument):
        await app.enroll(Enrollment("bad id", "x", "", ""))
    assert await counts(pool) == {"members": 0, "ledger_entries": 0, "purchases": 0, "outbox": 0}


async def test_purchase_earns_points_and_emits_points_earned(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    purchase = purchase_for(member_id, 4299)
    result = await app.record_purchase(purchase)
    assert (result.points_earned, result.duplicate, result.balance) == (84, False, 84)
    assert result.entry is not None
    assert result.entry.idempotency_key == f"purchase:{purchase.purchase_id}"
    assert await assert_balance_is_sum_of_entries(pool, member_id) == 84
    enrolled_event, earned_event = await outbox_events(pool, member_id)
    assert enrolled_event.type == "loyalty.events.v1.MemberEnrolled"
    payload = events.PointsEarned()
    assert earned_event.payload.Unpack(payload)
    assert payload.points == 84
    assert payload.balance_after == 84
    assert payload.ledger_entry_id == str(result.entry.entry_id)
    assert payload.source_reference == purchase.purchase_id
    # What insights needs to count the purchase, whichever way it was recorded.
    assert (payload.purchase_amount.amount_minor, payload.purchase_amount.currency_code) == (4299, "USD")
    assert payload.purchase_occurred_at.ToDatetime(tzinfo=UTC) == purchase.occurred_at


async def test_balance_is_always_the_sum_of_entries(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    amounts = [(4299, "USD", 84), (1500, "JPY", 3000), (12345, "BHD", 24), (99, "USD", 0)]
    for minor, currency, points in amounts:
        result = await app.record_purchase(purchase_for(member_id, minor, currency))
        assert result.points_earned == points
    member = await app.member(member_id)
    assert member.balance == member.lifetime_earned == 84 + 3000 + 24
    assert await assert_balance_is_sum_of_entries(pool, member_id) == member.balance
    page = await app.entries(member_id, 0, "")
    assert sorted(e.points for e in page.entries) == [24, 84, 3000]  # nothing for the 0-point purchase


async def test_repeated_purchase_returns_the_first_result_and_writes_nothing(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    member_id = await enrolled(app)
    purchase = purchase_for(member_id)
    first = await app.record_purchase(purchase)
    before = await counts(pool)
    again = await app.record_purchase(purchase)
    assert again.duplicate is True
    assert (again.points_earned, again.balance) == (first.points_earned, first.balance)
    assert again.entry == first.entry
    # Another amount under the same id is another purchase, refused as a reused refund id is.
    with pytest.raises(AlreadyExists, match="purchase_id: already recorded with a different amount"):
        await app.record_purchase(replace(purchase, amount=Money(999_99, "USD"), line_items=()))
    assert await counts(pool) == before


async def test_a_repeat_stamped_again_is_a_repeat_and_the_time_first_recorded_stands(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    """A client retrying a call it got no answer to may stamp it again, as the CLI does."""
    purchase = purchase_for(await enrolled(app))
    first = await app.record_purchase(purchase)
    again = await app.record_purchase(replace(purchase, occurred_at=datetime.now(UTC)))
    assert (again.duplicate, again.points_earned, again.entry) == (True, first.points_earned, first.entry)
    recorded = await pool.fetchval("SELECT occurred_at FROM purchases WHERE purchase_id = $1", purchase.purchase_id)
    assert recorded == purchase.occurred_at


@pytest.mark.parametrize(
    ("detail", "changes"),
    [
        ("channel", {"channel": "store"}),
        ("line_items", {"line_items": ()}),
        ("line_items", {"line_items": (LineItem("sku-2", "shoes", 1, Money(4299, "USD")),)}),
    ],
)
async def test_a_reused_purchase_id_with_other_details_is_refused_naming_the_detail(
    app: PointsApplication, pool: asyncpg.Pool, detail: str, changes: dict[str, object]
) -> None:
    """Same member and amount but another channel or line items: another purchase, not a repeat of the
    first, so it is refused rather than answered with what the first earned."""
    purchase = purchase_for(await enrolled(app))
    await app.record_purchase(purchase)
    before = await counts(pool)
    with pytest.raises(AlreadyExists, match=f"^purchase_id: already recorded with a different {detail}$"):
        await app.record_purchase(replace(purchase, **changes))  # type: ignore[arg-type]
    assert await counts(pool) == before


async def test_zero_point_purchase_is_still_recorded_once(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    purchase = purchase_for(member_id, 99)
    first = await app.record_purchase(purchase)
    assert (first.points_earned, first.entry, first.duplicate) == (0, None, False)
    assert (await app.record_purchase(purchase)).duplicate is True
    assert await pool.fetchval("SELECT count(*) FROM purchases WHERE purchase_id = $1", purchase.purchase_id) == 1
    assert [e.type for e in await outbox_events(pool, member_id)] == ["loyalty.events.v1.MemberEnrolled"]


async def test_concurrent_duplicates_earn_once(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    purchase = purchase_for(member_id, 10_000)
    results = await asyncio.gather(*(app.record_purchase(purchase) for _ in range(10)))
    assert sorted(r.duplicate for r in results) == [False] + [True] * 9
    assert {r.points_earned for r in results} == {200}
    assert await assert_balance_is_sum_of_entries(pool, member_id) == 200
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE member_id = $1", member_id) == 1
    assert [e.type for e in await outbox_events(pool, member_id)].count("loyalty.events.v1.PointsEarned") == 1


async def test_same_purchase_id_for_another_member_is_already_exists(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    first_member, second_member = await enrolled(app), await enrolled(app)
    purchase = purchase_for(first_member)
    await app.record_purchase(purchase)
    before = await counts(pool)
    with pytest.raises(AlreadyExists, match="purchase_id"):
        await app.record_purchase(replace(purchase, member_id=second_member))
    assert await counts(pool) == before
    assert (await app.member(second_member)).balance == 0


async def test_same_purchase_id_for_two_members_at_once_earns_once(app: PointsApplication, pool: asyncpg.Pool) -> None:
    members = [await enrolled(app) for _ in range(4)]
    purchase = purchase_for(members[0])
    outcomes = await asyncio.gather(
        *(app.record_purchase(replace(purchase, member_id=m)) for m in members), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(error, AlreadyExists) for error in losers), losers
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1
    assert await pool.fetchval("SELECT sum(balance) FROM members") == winners[0].points_earned


async def test_unknown_member_is_not_found_and_writes_nothing(app: PointsApplication, pool: asyncpg.Pool) -> None:
    before = await counts(pool)
    with pytest.raises(NotFound, match="member_id"):
        await app.record_purchase(purchase_for(new_id("ghost")))
    assert await counts(pool) == before
    with pytest.raises(NotFound):
        await app.member(new_id("ghost"))


async def test_invalid_purchase_writes_nothing(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    before = await counts(pool)
    with pytest.raises(InvalidArgument) as caught:
        await app.record_purchase(purchase_for(member_id, -100))
    assert "amount.amount_minor" in {v.field for v in caught.value.violations}
    assert await counts(pool) == before


async def test_a_failed_transaction_leaves_no_entry_and_no_event(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    before = await counts(pool)
    with pytest.raises(RuntimeError, match="after the purchase"):
        async with unit_of_work(pool) as connection:
            result = await app.record_purchase_in(connection, purchase_for(member_id))
            assert result.points_earned == 84
            assert await connection.fetchval("SELECT count(*) FROM outbox") == before["outbox"] + 1
            raise RuntimeError("failure after the purchase, before commit")
    assert await counts(pool) == before
    assert (await app.member(member_id)).balance == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET points = points + 1000",
        "UPDATE ledger_entries SET description = 'edited'",
        "DELETE FROM ledger_entries",
    ],
)
async def test_ledger_entries_are_append_only(app: PointsApplication, pool: asyncpg.Pool, statement: str) -> None:
    member_id = await enrolled(app)
    await app.record_purchase(purchase_for(member_id))
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute(statement)
    assert await assert_balance_is_sum_of_entries(pool, member_id) == 84
    assert await pool.fetchval("SELECT points FROM ledger_entries") == 84


async def test_a_balance_cannot_go_negative(app: PointsApplication, pool: asyncpg.Pool) -> None:
    member_id = await enrolled(app)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            """INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description)
               VALUES ($1, $2, 'purchase_earn', -5, 'k', 'd')""",
            uuid.uuid4(),
            member_id,
        )
    assert await assert_balance_is_sum_of_entries(pool, member_id) == 0


async def test_entries_are_paged_newest_first(app: PointsApplication) -> None:
    member_id = await enrolled(app)
    for units in range(1, 6):
        await app.record_purchase(purchase_for(member_id, units * 100))
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await app.entries(member_id, 2, token)
        pages += 1
        seen.extend(e.points for e in page.entries)
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == [10, 8, 6, 4, 2]
    assert [e.points for e in (await app.entries(member_id, 0, "")).entries] == seen


async def test_a_page_token_of_another_members_ledger_is_refused(app: PointsApplication) -> None:
    member_id, other_id = await enrolled(app), await enrolled(app)
    for units in range(1, 4):
        await app.record_purchase(purchase_for(member_id, units * 100))
    token = (await app.entries(member_id, 1, "")).next_page_token
    with pytest.raises(InvalidArgument) as caught:
        await app.entries(other_id, 1, token)
    assert [v.field for v in caught.value.violations] == ["page_token"]


@pytest.mark.parametrize(
    ("size", "token", "field"), [(-1, "", "page_size"), (501, "", "page_size"), (2, "x!", "page_token")]
)
async def test_bad_paging_arguments_are_named(app: PointsApplication, size: int, token: str, field: str) -> None:
    member_id = await enrolled(app)
    with pytest.raises(InvalidArgument) as caught:
        await app.entries(member_id, size, token)
    assert [v.field for v in caught.value.violations] == [field]
