"""Goodwill on a missing-points claim stands for the claimed points: the claimed purchase or partner transaction,
arriving later (a late file), earns only what exceeds it, on every way in."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from aiokafka import AIOKafkaProducer
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1 import tickets_pb2 as ticket_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import partners_pb2 as partners_pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2_grpc
from loyalty.points.v1 import points_pb2 as pb

from services.common.events import timestamp
from services.common.settings import KafkaSettings
from services.points import domain
from services.points.application import PointsApplication
from services.points.consumers import purchases_consumer
from services.points.goodwill import credit_goodwill, goodwill_consumer
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration import test_points_consumer as purchases_over_kafka
from tests.integration import test_tickets_goodwill_points as goodwill_over_kafka
from tests.integration.partner_support import admin, airline, auth, balance, enroll, flight, intake
from tests.integration.support import eventually, running
from tests.integration.test_points_consumer import applied
from tests.integration.test_tickets_goodwill_points import granted

__all__ = ["admin", "intake"]


async def credit(pool: asyncpg.Pool, envelope: EventEnvelope) -> None:
    """Credit a GoodwillGranted as the goodwill consumer does, in a transaction of its own."""
    payload = ticket_events.GoodwillGranted()
    envelope.payload.Unpack(payload)
    async with pool.acquire() as connection, connection.transaction():
        await credit_goodwill(connection, envelope, payload, programs=ProgramApplication(pool))


async def goodwill(pool: asyncpg.Pool, member_id: str, points: int, **claim: str) -> str:
    """Goodwill credited for a claim ticket of the member; returns the ticket id."""
    ticket_id = str(uuid.uuid4())
    await credit(pool, granted(member_id, ticket_id, points, **claim))
    return ticket_id


def purchase(member_id: str, purchase_id: str, amount_minor: int) -> pb.RecordPurchaseRequest:
    return pb.RecordPurchaseRequest(
        purchase_id=purchase_id,
        member_id=member_id,
        amount=Money(amount_minor=amount_minor, currency_code="USD"),
        occurred_at=timestamp(datetime.now(UTC) - timedelta(minutes=1)),
    )


def components(breakdown: object) -> list[tuple[str, int]]:
    return [(c.source, c.points) for c in breakdown]  # type: ignore[attr-defined]


async def test_a_claimed_purchase_recorded_after_its_goodwill_earns_only_what_exceeds_it(
    channel: grpc.aio.Channel, pool: asyncpg.Pool
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member, other = await enroll(channel), await enroll(channel)
    lost, bigger, unclaimed = (f"order-{uuid.uuid4().hex[:8]}" for _ in range(3))
    paid_in_full = await goodwill(pool, member, 300, claim_purchase_id=lost)
    paid_in_part = await goodwill(pool, member, 100, claim_purchase_id=bigger)
    # From before GoodwillGranted named its claim: it settles nothing.
    await goodwill(pool, member, 50)

    first = await points.RecordPurchase(purchase(member, lost, 15000))  # 150.00 USD at 2 a unit: 300 points
    assert (first.points_earned, first.balance, first.HasField("entry")) == (0, 450, False)
    assert components(first.breakdown) == [("base", 300), (f"goodwill:{paid_in_full}", -300)]
    assert first.breakdown[1].description == f"paid by goodwill on ticket {paid_in_full} (300 points)"
    repeat = await points.RecordPurchase(purchase(member, lost, 15000))
    assert (repeat.duplicate, repeat.points_earned, components(repeat.breakdown)) == (
        True,
        0,
        components(first.breakdown),
    )

    second = await points.RecordPurchase(purchase(member, bigger, 15000))
    assert (second.points_earned, second.balance) == (200, 650)
    assert components(second.breakdown) == [("base", 300), (f"goodwill:{paid_in_part}", -100)]
    # The ledger keeps how: the entry's breakdown, as ListLedgerEntries shows it.
    assert components(second.entry.breakdown) == components(second.breakdown)
    assert (await points.RecordPurchase(purchase(member, unclaimed, 5000))).points_earned == 100

    # The member's goodwill for a purchase id settles nothing when that purchase is another member's.
    await goodwill(pool, member, 10, claim_purchase_id="order-shared")
    others = await points.RecordPurchase(purchase(other, "order-shared", 5000))
    assert (others.points_earned, components(others.breakdown)) == (100, [("base", 100)])


async def test_a_refund_of_a_purchase_goodwill_paid_in_part_takes_back_only_what_it_earned(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member, "", "", ""))
    claimed = f"order-{uuid.uuid4().hex[:8]}"
    await goodwill(pool, member, 100, claim_purchase_id=claimed)
    made = domain.Purchase(claimed, member, domain.Money(15000, "USD"), (), datetime.now(UTC), "")
    assert (await app.record_purchase(made)).points_earned == 200
    refunds = RefundApplication(pool, ProgramApplication(pool))
    half = await refunds.refund(domain.Refund("r-1", claimed, domain.Money(7500, "USD"), datetime.now(UTC)))
    assert half.refund.points_reversed == 100
    rest = await refunds.refund(domain.Refund("r-2", claimed, domain.Money(7500, "USD"), datetime.now(UTC)))
    assert rest.refund.points_reversed == 100
    # The goodwill stays the member's: it was granted for the missing points, not by this purchase.
    assert (await app.member(member)).balance == 100


async def test_a_claimed_purchase_made_over_kafka_after_goodwill_over_kafka_earns_the_excess(
    app: PointsApplication, pool: asyncpg.Pool, producer: AIOKafkaProducer, kafka_settings: KafkaSettings
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member, "", "", ""))
    claimed = f"order-{uuid.uuid4().hex[:8]}"
    ticket_id = str(uuid.uuid4())
    grant = granted(member, ticket_id, 120, claim_purchase_id=claimed)
    credits = goodwill_consumer(pool, kafka_settings)
    credits.name = f"{credits.name}.{uuid.uuid4().hex[:8]}"
    await goodwill_over_kafka.send(producer, grant)
    async with running(credits.run):
        await eventually(lambda: applied(pool, credits, grant), what="the goodwill")

    made = purchases_over_kafka.purchase_made(member, claimed, 10000)  # 100.00 USD: 200 points
    purchases = purchases_consumer(pool, kafka_settings, app, RefundApplication(pool, ProgramApplication(pool)))
    purchases.name = f"{purchases.name}.{uuid.uuid4().hex[:8]}"
    await purchases_over_kafka.send(producer, made)
    async with running(purchases.run):
        await eventually(lambda: applied(pool, purchases, made), what="the purchase")

    recorded = await pool.fetchrow(
        """SELECT p.points_earned, e.breakdown::text FROM purchases p JOIN ledger_entries e ON e.entry_id = p.entry_id
            WHERE p.purchase_id = $1""",
        claimed,
    )
    assert recorded["points_earned"] == 80
    assert [(c["source"], c["points"]) for c in json.loads(recorded["breakdown"])] == [
        ("base", 200),
        (f"goodwill:{ticket_id}", -120),
    ]
    assert (await app.member(member)).balance == 200


async def test_a_claimed_partner_transaction_accepted_after_its_goodwill_earns_only_the_excess(
    channel: grpc.aio.Channel,
    pool: asyncpg.Pool,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    partner_id, key = await airline(admin)
    member, other = await enroll(channel), await enroll(channel)
    ticket_id = await goodwill(
        pool, member, 400, claim_partner_id=partner_id, claim_partner_transaction_id="flight-late"
    )
    # The same transaction id of another partner is another flight.
    await goodwill(pool, member, 400, claim_partner_id="other-air", claim_partner_transaction_id="flight-other")
    batch = partners_pb.AccrualBatch(
        records=[
            flight("flight-late", member, "1000"),
            flight("flight-late", member, "1000"),
            flight("flight-other", member, "1000"),
            flight("flight-theirs", other, "1000"),
        ]
    )
    answered = await intake.SubmitAccruals(batch, metadata=auth(key))
    assert [(r.status, r.points) for r in answered.results] == [
        (partners_pb.ACCRUAL_STATUS_ACCEPTED, 600),
        (partners_pb.ACCRUAL_STATUS_DUPLICATE, 600),
        (partners_pb.ACCRUAL_STATUS_ACCEPTED, 1000),
        (partners_pb.ACCRUAL_STATUS_ACCEPTED, 1000),
    ]
    resent = await intake.SubmitAccruals(partners_pb.AccrualBatch(records=[batch.records[0]]), metadata=auth(key))
    assert [(r.status, r.points) for r in resent.results] == [(partners_pb.ACCRUAL_STATUS_DUPLICATE, 600)]
    breakdown = await pool.fetchval(
        """SELECT e.breakdown::text FROM partner_accruals a JOIN ledger_entries e ON e.entry_id = a.entry_id
            WHERE a.partner_id = $1 AND a.partner_transaction_id = 'flight-late'""",
        partner_id,
    )
    assert [(c["source"], c["points"]) for c in json.loads(breakdown)] == [
        (f"partner:{partner_id}", 1000),
        (f"goodwill:{ticket_id}", -400),
    ]
    assert (await balance(channel, member)).balance == 400 + 400 + 600 + 1000


async def test_a_second_grant_for_a_claim_already_settled_is_credited_but_settles_nothing_more(
    channel: grpc.aio.Channel, pool: asyncpg.Pool
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member = await enroll(channel)
    claimed = f"order-{uuid.uuid4().hex[:8]}"
    first = await goodwill(pool, member, 100, claim_purchase_id=claimed)
    # The tickets service grants goodwill once per claim; a second grant arriving all the same is still paid.
    second = await goodwill(pool, member, 100, claim_purchase_id=claimed)
    kept = await pool.fetchval("SELECT claim_purchase_id FROM goodwill_credits WHERE ticket_id = $1", second)
    assert kept is None
    recorded = await points.RecordPurchase(purchase(member, claimed, 15000))
    assert (recorded.points_earned, recorded.balance) == (200, 400)
    assert components(recorded.breakdown) == [("base", 300), (f"goodwill:{first}", -100)]


async def goodwill_credited(pool: asyncpg.Pool, ticket_id: str) -> tuple[int, int | None, str | None]:
    """(points granted, points credited, the entry's description) of the ticket's goodwill; None when no entry."""
    record = await pool.fetchrow(
        """SELECT g.points, e.points AS credited, e.description
             FROM goodwill_credits g LEFT JOIN ledger_entries e ON e.entry_id = g.entry_id WHERE g.ticket_id = $1""",
        ticket_id,
    )
    assert record is not None, f"no goodwill kept for ticket {ticket_id}"
    return record["points"], record["credited"], record["description"]


async def adjustments_announced(pool: asyncpg.Pool, member_id: str) -> list[int]:
    """The points of each PointsAdjusted the points service has to publish for the member."""
    envelopes = await pool.fetch(
        """SELECT envelope FROM outbox WHERE event_type = 'loyalty.events.v1.PointsAdjusted' AND message_key = $1
            ORDER BY id""",
        member_id,
    )
    announced = []
    for record in envelopes:
        adjusted = points_events.PointsAdjusted()
        EventEnvelope.FromString(record["envelope"]).payload.Unpack(adjusted)
        announced.append(adjusted.points)
    return announced


def plain(ticket_id: str) -> str:
    """The description of goodwill credited in full, as `granted` grants it."""
    return f"goodwill on ticket {ticket_id}: late delivery (by ann, approved by bea)"


def less(ticket_id: str, earned: int, what: str) -> str:
    """The description of goodwill credited less what the claim already earned."""
    return f"{plain(ticket_id)}, less {earned} points {what} already earned"


async def test_goodwill_reaching_points_after_the_claimed_purchase_credits_only_what_exceeds_it(
    channel: grpc.aio.Channel, pool: asyncpg.Pool
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member, other = await enroll(channel), await enroll(channel)
    smaller, bigger, theirs = (f"order-{uuid.uuid4().hex[:8]}" for _ in range(3))
    # Each recorded after the tickets service found it not credited, before its goodwill got here: 200 points.
    for buyer, purchase_id in ((member, smaller), (member, bigger), (other, theirs)):
        assert (await points.RecordPurchase(purchase(buyer, purchase_id, 10000))).points_earned == 200

    topped_up = await goodwill(pool, member, 300, claim_purchase_id=smaller)
    assert await goodwill_credited(pool, topped_up) == (300, 100, less(topped_up, 200, f"purchase {smaller}"))
    assert (await balance(channel, member)).balance == 400 + 100

    grant = granted(member, str(uuid.uuid4()), 150, claim_purchase_id=bigger)
    await credit(pool, grant)
    await credit(pool, grant)  # redelivered: the grant is kept as handled, and credits nothing again
    payload = ticket_events.GoodwillGranted()
    grant.payload.Unpack(payload)
    assert await goodwill_credited(pool, payload.ticket_id) == (150, None, None)
    assert (await balance(channel, member)).balance == 500
    # The liability grows by what was credited; nothing credited, nothing announced.
    assert await adjustments_announced(pool, member) == [100]

    # Another member's purchase with the id is not the member's claim: their goodwill is credited in full.
    claimed_theirs = await goodwill(pool, member, 300, claim_purchase_id=theirs)
    assert (await goodwill_credited(pool, claimed_theirs))[:2] == (300, 300)
    # Goodwill that claims nothing is credited as it always was.
    unclaimed = await goodwill(pool, member, 50)
    assert await goodwill_credited(pool, unclaimed) == (50, 50, plain(unclaimed))
    assert (await balance(channel, member)).balance == 500 + 300 + 50
    assert await adjustments_announced(pool, member) == [100, 300, 50]


async def test_goodwill_reaching_points_after_the_claimed_partner_transaction_credits_only_the_excess(
    channel: grpc.aio.Channel,
    pool: asyncpg.Pool,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    partner_id, key = await airline(admin)
    member, other = await enroll(channel), await enroll(channel)
    batch = partners_pb.AccrualBatch(
        records=[flight("flight-short", member), flight("flight-long", member), flight("flight-theirs", other)]
    )
    answered = await intake.SubmitAccruals(batch, metadata=auth(key))
    assert [(r.status, r.points) for r in answered.results] == [(partners_pb.ACCRUAL_STATUS_ACCEPTED, 1000)] * 3

    topped_up = await goodwill(
        pool, member, 1500, claim_partner_id=partner_id, claim_partner_transaction_id="flight-short"
    )
    what = f"partner {partner_id} transaction flight-short"
    assert await goodwill_credited(pool, topped_up) == (1500, 500, less(topped_up, 1000, what))
    grant = granted(
        member, str(uuid.uuid4()), 800, claim_partner_id=partner_id, claim_partner_transaction_id="flight-long"
    )
    await credit(pool, grant)
    await credit(pool, grant)
    assert (
        await pool.fetchval("SELECT count(*) FROM goodwill_credits WHERE member_id = $1 AND entry_id IS NULL", member)
        == 1
    )
    assert (await balance(channel, member)).balance == 2000 + 500

    # The same transaction id of another partner, and the partner's transaction of another member, are other claims.
    elsewhere = await goodwill(
        pool, member, 400, claim_partner_id="other-air", claim_partner_transaction_id="flight-short"
    )
    theirs = await goodwill(
        pool, member, 400, claim_partner_id=partner_id, claim_partner_transaction_id="flight-theirs"
    )
    assert [(await goodwill_credited(pool, t))[:2] for t in (elsewhere, theirs)] == [(400, 400), (400, 400)]
    assert (await balance(channel, member)).balance == 2500 + 800
    assert await adjustments_announced(pool, member) == [500, 400, 400]
