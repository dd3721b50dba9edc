"""A PurchaseRefunded that arrives before its PurchaseMade: kept, and applied when the purchase is recorded, over
Kafka or gRPC, with what the refund would have done arriving after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from loyalty.events.v1 import commerce_pb2
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.errors import AlreadyExists
from services.common.event_consumer import EventConsumer
from services.common.events import new_envelope
from services.common.kafka import PURCHASES_TOPIC
from services.common.metrics import POINTS_GAUGES
from services.common.settings import KafkaSettings
from services.points import domain
from services.points.api import purchase_from, refund_from
from services.points.application import PointsApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import events_of
from tests.integration.support import DeadLettersSentOrNot, delivered_event, eventually, running
from tests.integration.test_metrics import Scraper, scraping, value
from tests.integration.test_points_consumer import (
    applied,
    purchase_made,
    purchase_refunded,
    purchases_consumer_of,
    send,
)


@pytest.fixture
def consumer(pool: asyncpg.Pool, kafka_settings: KafkaSettings, app: PointsApplication) -> EventConsumer:
    return purchases_consumer_of(pool, kafka_settings, app)


# 10.00 USD earns 20 points at the consumer tests' rate; half of it refunded takes 10 back.
PAID, REFUNDED = 1000, 500


async def enrolled(app: PointsApplication) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await app.enroll(domain.Enrollment(member_id, "", "", ""))
    return member_id


def payload_of(envelope: EventEnvelope, kind: type[Message]) -> Message:
    payload = kind()
    assert envelope.payload.Unpack(payload)
    return payload


def resent(envelope: EventEnvelope) -> EventEnvelope:
    """The same refund in a new event, as a producer retrying it sends it."""
    payload = payload_of(envelope, commerce_pb2.PurchaseRefunded)
    return new_envelope(payload, subject=envelope.subject, source="commerce", occurred_at=domain.utc_now())


async def bought_and_refunded(app: PointsApplication) -> tuple[str, EventEnvelope, EventEnvelope]:
    """A new member, a PurchaseMade of theirs and a PurchaseRefunded of half of it."""
    member_id = await enrolled(app)
    bought = purchase_made(member_id, f"order-{uuid.uuid4().hex[:8]}", PAID)
    return member_id, bought, purchase_refunded(member_id, purchase_id(bought), REFUNDED)


async def kept(pool: asyncpg.Pool, purchase_id: str) -> list[str | None]:
    """The refused reason of each refund kept for the purchase (None: still awaiting it)."""
    rows = await pool.fetch("SELECT refused_reason FROM refunds_awaiting_purchase WHERE purchase_id = $1", purchase_id)
    return [row["refused_reason"] for row in rows]


async def outcome(app: PointsApplication, pool: asyncpg.Pool, member_id: str, ids: dict[str, str]) -> object:
    """The member's balance, entries and points events, the ids in them named by role (`ids`: id → role)."""

    def named(text: str) -> str:
        for given, role in ids.items():
            text = text.replace(given, role)
        return text

    entries = [(e.kind, e.points, named(e.idempotency_key)) for e in (await app.entries(member_id, 0, "")).entries]
    published = []
    for event in await events_of(pool, member_id, (events.PointsEarned, events.PointsReversed)):
        assert isinstance(event, Message)
        fields = MessageToDict(event)
        for personal in ("memberId", "ledgerEntryId", "purchaseOccurredAt"):
            fields.pop(personal, None)
        published.append((type(event).__name__, {name: named(str(given)) for name, given in fields.items()}))
    return (await app.member(member_id)).balance, entries, published


async def in_order(
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
) -> object:
    """What a purchase and then its refund, both over Kafka, leave."""
    member_id, bought, refund = await bought_and_refunded(app)
    async with running(consumer.run):
        await send(producer, bought)
        await eventually(lambda: applied(pool, consumer, bought), what="the purchase")
        await send(producer, refund)
        await eventually(lambda: applied(pool, consumer, refund), what="the refund")
    return await outcome(app, pool, member_id, {purchase_id(bought): "P", refund_id(refund): "R"})


def purchase_id(envelope: EventEnvelope) -> str:
    return str(payload_of(envelope, commerce_pb2.PurchaseMade).purchase_id)  # type: ignore[attr-defined]


def refund_id(envelope: EventEnvelope) -> str:
    return str(payload_of(envelope, commerce_pb2.PurchaseRefunded).refund_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize("purchase_path", ["kafka", "grpc"])
async def test_a_refund_before_its_purchase_leaves_what_it_leaves_after_it(
    purchase_path: str,
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
) -> None:
    expected = await in_order(app, pool, consumer, producer)
    member_id, bought, refund = await bought_and_refunded(app)
    async with running(consumer.run):
        await send(producer, refund)
        await eventually(lambda: applied(pool, consumer, refund), what="the refund")
        assert await kept(pool, purchase_id(bought)) == [None]
        assert (await app.member(member_id)).balance == 0
        if purchase_path == "kafka":
            await send(producer, bought)
            await eventually(lambda: applied(pool, consumer, bought), what="the purchase")
        else:
            answer = await app.record_purchase(purchase_from(payload_of(bought, commerce_pb2.PurchaseMade)))
            assert (answer.points_earned, answer.balance) == (20, 20)  # the purchase's answer, as in order

    assert await outcome(app, pool, member_id, {purchase_id(bought): "P", refund_id(refund): "R"}) == expected
    assert await kept(pool, purchase_id(bought)) == []


async def test_a_refund_sent_again_before_and_after_its_purchase_is_applied_once(
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
) -> None:
    member_id, bought, refund = await bought_and_refunded(app)
    before, after = resent(refund), resent(refund)
    async with running(consumer.run):
        for envelope in (refund, refund, before):  # redelivered, then sent again as a new event
            await send(producer, envelope)
        await eventually(lambda: applied(pool, consumer, refund, before), what="the refunds")
        assert await kept(pool, purchase_id(bought)) == [None]
        await send(producer, bought)
        await send(producer, after)
        await eventually(lambda: applied(pool, consumer, bought, after), what="the purchase and the refund again")

    assert (await app.member(member_id)).balance == 20 - 10
    assert await pool.fetchval("SELECT count(*) FROM refunds WHERE purchase_id = $1", purchase_id(bought)) == 1
    assert await kept(pool, purchase_id(bought)) == []


@pytest.fixture
async def scrape(pool: asyncpg.Pool) -> AsyncIterator[Scraper]:
    async with scraping(pool, POINTS_GAUGES) as scraper:
        yield scraper


async def test_a_refund_whose_purchase_never_comes_waits_counted_and_one_it_refuses_is_kept_with_the_reason(
    app: PointsApplication,
    pool: asyncpg.Pool,
    consumer: EventConsumer,
    producer: AIOKafkaProducer,
    scrape: Scraper,
) -> None:
    member_id, buyer = await enrolled(app), await enrolled(app)
    never = purchase_refunded(member_id, f"order-{uuid.uuid4().hex[:8]}", REFUNDED)
    bought = purchase_made(buyer, f"order-{uuid.uuid4().hex[:8]}", PAID)
    # Names another member than the one whose purchase it refunds: refused once the purchase comes.
    misnamed = purchase_refunded(member_id, purchase_id(bought), REFUNDED)
    async with running(consumer.run):
        await send(producer, never)
        await send(producer, misnamed)
        await eventually(lambda: applied(pool, consumer, never, misnamed), what="the refunds")
        samples = await scrape()
        assert value(samples, "loyalty_points_refunds_awaiting_purchase") == 2
        await send(producer, bought)
        await eventually(lambda: applied(pool, consumer, bought), what="the purchase")

    assert await kept(pool, payload_of(never, commerce_pb2.PurchaseRefunded).purchase_id) == [None]  # type: ignore[attr-defined]
    assert await kept(pool, purchase_id(bought)) == ["member_id: is not the member who made the purchase"]
    assert (await app.member(buyer)).balance == 20
    assert (await app.member(member_id)).balance == 0
    samples = await scrape()
    assert value(samples, "loyalty_points_refunds_awaiting_purchase") == 1
    assert value(samples, "loyalty_points_refunds_refused_by_purchase") == 1


async def test_an_early_refund_that_cannot_wait_or_reuses_a_kept_id_is_dead_lettered_naming_why(
    app: PointsApplication, pool: asyncpg.Pool, consumer: EventConsumer
) -> None:
    member_id, bought, refund = await bought_and_refunded(app)
    reused = purchase_refunded(member_id, purchase_id(bought), REFUNDED + 1)
    edit_refund(reused, lambda payload: setattr(payload, "refund_id", refund_id(refund)))
    nameless = purchase_refunded(member_id, purchase_id(bought), REFUNDED)
    edit_refund(nameless, lambda payload: payload.ClearField("member_id"))
    stranger = purchase_refunded(f"ghost-{uuid.uuid4().hex[:8]}", purchase_id(bought), REFUNDED)
    # The kept refund again, naming another (enrolled) member.
    renamed = purchase_refunded(await enrolled(app), purchase_id(bought), REFUNDED)
    edit_refund(renamed, lambda payload: setattr(payload, "refund_id", refund_id(refund)))
    dead_letters = DeadLettersSentOrNot()
    sent = [
        delivered_event(PURCHASES_TOPIC, e, offset)
        for offset, e in enumerate((refund, reused, nameless, stranger, renamed))
    ]

    await consumer.process(sent, dead_letters)  # type: ignore[arg-type]

    assert [reason.split(" '")[0] for reason in dead_letters.reasons] == [
        "refund_id: already kept, awaiting its purchase, with a different amount.amount_minor",
        "purchase_id: no purchase",
        "member_id: member",
        "refund_id: already kept, awaiting its purchase, with a different member_id",
    ]
    assert await kept(pool, purchase_id(bought)) == [None]


def edit_refund(envelope: EventEnvelope, edit: Callable[[commerce_pb2.PurchaseRefunded], None]) -> None:
    payload = payload_of(envelope, commerce_pb2.PurchaseRefunded)
    assert isinstance(payload, commerce_pb2.PurchaseRefunded)
    edit(payload)
    envelope.payload.Pack(payload)


async def test_refund_purchase_takes_a_kept_refund_id_only_for_that_refund(
    app: PointsApplication, pool: asyncpg.Pool, consumer: EventConsumer
) -> None:
    """A refund id applies once, kept or recorded: RefundPurchase of a kept id for another purchase or amount is
    refused, and the kept refund itself, refunded over gRPC, is no longer kept (nor counted as waiting)."""
    member_id, bought, refund = await bought_and_refunded(app)
    other = purchase_made(member_id, f"order-{uuid.uuid4().hex[:8]}", PAID)
    for recorded in (bought, other):
        await app.record_purchase(purchase_from(payload_of(recorded, commerce_pb2.PurchaseMade)))
    # Kept before `bought` was recorded (as a replica of an older release would have left it): nothing applies it.
    await pool.execute("DELETE FROM refunds WHERE purchase_id = $1", purchase_id(bought))
    given = payload_of(refund, commerce_pb2.PurchaseRefunded)
    await pool.execute(
        """INSERT INTO refunds_awaiting_purchase (refund_id, purchase_id, member_id, amount_minor, currency_code,
                                                  occurred_at) VALUES ($1, $2, $3, $4, 'USD', now())""",
        refund_id(refund),
        purchase_id(bought),
        member_id,
        REFUNDED,
    )
    refunds = RefundApplication(pool, ProgramApplication(pool))
    as_given = replace(refund_from(given), member_id=member_id)

    with pytest.raises(AlreadyExists, match="already kept, awaiting its purchase, with a different purchase_id"):
        await refunds.refund(replace(as_given, purchase_id=purchase_id(other)))
    with pytest.raises(AlreadyExists, match=r"with a different amount\.amount_minor"):
        await refunds.refund(replace(as_given, amount=domain.Money(REFUNDED + 1, "USD")))
    answer = await refunds.refund(as_given)

    assert (answer.refund.points_reversed, answer.duplicate) == (10, False)
    assert await kept(pool, purchase_id(bought)) == []
