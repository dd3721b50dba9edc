"""Insights on a real PostgreSQL and broker: a fixture history published to the topics, every KPI by hand.

tests/insights_history.py is the history; the expected numbers below are worked
out from it by hand (docs/insights.md has the formulas).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import commerce_pb2, tickets_pb2
from loyalty.insights.v1 import insights_pb2 as pb
from loyalty.insights.v1 import insights_pb2_grpc

from services.common.errors import InvalidArgument
from services.common.events import kafka_headers, timestamp
from services.common.grpc_server import GrpcServer, Registration
from services.common.kafka import dead_letter_topic
from services.common.settings import KafkaSettings
from services.common.time_order import at_least_1_us_after
from services.insights.api import InsightsServicer
from services.insights.application import InsightsApplication
from services.insights.consumers import Topics, insights_consumers
from services.insights.settings import InsightsSettings
from services.report_cli import COUNTS
from tests.insights_history import COST_PER_POINT, CURRENCY, WINDOW, history
from tests.integration.support import (
    PoolFactory,
    TopicFactory,
    eventually,
    field_violations,
    read_topic,
    run_cli,
    running,
)


@dataclass
class Loaded:
    stub: insights_pb2_grpc.InsightsServiceStub
    address: str
    topics: Topics
    pool: asyncpg.Pool


async def publish_history(producer: AIOKafkaProducer, topics: Topics) -> int:
    """Every fixture event, one of them twice (a redelivery); returns how many distinct events were sent."""
    events = history()
    for kind, envelope in [*events, events[3]]:
        topic = getattr(topics, kind)
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=envelope.subject.encode(), headers=kafka_headers(envelope)
        )
    return len(events)


@asynccontextmanager
async def insights_server(pool: asyncpg.Pool) -> AsyncIterator[tuple[insights_pb2_grpc.InsightsServiceStub, str]]:
    """The insights gRPC server on `pool`, and a stub of it with its address."""
    own = InsightsSettings(dashboard_port=0, currency=CURRENCY, cost_per_point=COST_PER_POINT)
    servicer = InsightsServicer(InsightsApplication(pool, own))
    server = GrpcServer("127.0.0.1:0", [Registration.of(insights_pb2_grpc, pb, "InsightsService", servicer)])
    await server.start()
    address = f"127.0.0.1:{server.port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield insights_pb2_grpc.InsightsServiceStub(channel), address
    finally:
        await server.stop(grace=1)


@pytest.fixture
async def loaded(
    migrated_pool: PoolFactory, fresh_topic: TopicFactory, kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> AsyncIterator[Loaded]:
    _, pool = await migrated_pool("insights")
    topics = Topics(*[await fresh_topic(kind) for kind in ("points", "purchases", "rewards", "tickets")])
    consumers = insights_consumers(pool, kafka_settings, topics)
    async with running(*(c.run for c in consumers)), insights_server(pool) as (stub, address):
        sent = await publish_history(producer, topics)
        await eventually(
            lambda: _inbox_holds(pool, sent), what=f"the {sent} fixture events in the insights inbox", within=60
        )
        yield Loaded(stub, address, topics, pool)


async def _inbox_holds(pool: asyncpg.Pool, count: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM inbox") == count)


def march(group_by: int = pb.GROUPING_UNSPECIFIED) -> pb.GetKpisRequest:
    return pb.GetKpisRequest(from_time=timestamp(WINDOW[0]), to_time=timestamp(WINDOW[1]), group_by=group_by)


def counts(kpis: pb.Kpis) -> dict[str, int]:
    return {name: getattr(kpis, name) for name in COUNTS}


def rates(kpis: pb.Kpis) -> dict[str, float | None]:
    names = ["repeat_purchase_rate", "customer_retention_rate", "net_revenue_retention", "redemption_rate"]
    return {name: getattr(kpis, name) if kpis.HasField(name) else None for name in [*names, "breakage_rate"]}


def scores(kpis: pb.Kpis) -> tuple[int, float | None, float | None, float | None]:
    s = kpis.service
    return (s.surveys, *(getattr(s, n) if s.HasField(n) else None for n in ("nps", "ces", "csat")))  # type: ignore[return-value]


async def test_every_kpi_of_march_matches_the_hand_computation(loaded: Loaded) -> None:
    report = await loaded.stub.GetKpis(march())
    assert (report.currency_code, report.cost_per_point) == ("USD", "0.0125")
    total = report.total
    assert counts(total) == {
        "members_enrolled": 2,  # dan, eve
        "members_total": 7,  # hal, fay, ann, bob, cat, dan, eve (gus enrols in April, zed never)
        "members_active": 4,  # ann, bob, dan buy; fay accrues with sky-air
        "purchasing_members": 3,  # ann (p5, p6), bob (p7, p8), dan (p9)
        "repeat_purchasers": 2,  # ann, bob
        "members_at_start": 4,  # active in February: hal, ann, bob, cat (fay bought in early January)
        "members_at_end": 4,
        "new_members": 1,  # dan (eve enrolled but did nothing)
        "points_earned": 1600,  # 240 + 120 + 100 + 140 from purchases, 500 + 300 + 200 from partners
        "points_redeemed": 450,  # ann 300, bob 150
        "points_expired": 60,  # fay, at 00:00 on 1 March
        # hal 50-30, fay 60-60+800, ann 300-100+560-300, bob 260+100-20-150+150, cat 80+50, dan 140, eve 0
        "points_outstanding": 1890,
        "rewards_redeemed": 1,  # r1; r2 was cancelled
    }
    assert rates(total) == {
        "repeat_purchase_rate": pytest.approx(2 / 3),
        "customer_retention_rate": pytest.approx((4 - 1) / 4),
        # existing members (hal, ann, bob, cat): March 180.00 + 50.00; February 25.00 + 150.00 + 80.00 + 40.00
        "net_revenue_retention": pytest.approx(23000 / 29500),
        "redemption_rate": pytest.approx(450 / 1600),
        "breakage_rate": pytest.approx(60 / 1600),
    }
    # 180.00 (ann) + 50.00 (bob; his EUR purchase is not revenue) + 70.00 (dan); zed is no member.
    assert (total.revenue.amount_minor, total.revenue.currency_code) == (30000, "USD")
    assert total.existing_member_revenue.amount_minor == 23000
    assert total.existing_member_previous_revenue.amount_minor == 29500
    # 1890 points x 0.0125 USD = 23.625 USD, rounded half up to the cent.
    assert (total.liability.amount_minor, total.liability.currency_code) == (2363, "USD")
    assert {t.tier: t.members for t in total.tier_distribution} == {"base": 5, "gold": 1, "silver": 1}
    assert [(m.from_tier, m.to_tier, m.upgrade, m.members) for m in total.tier_movements] == [
        ("silver", "base", False, 1),
        ("silver", "gold", True, 1),
    ]
    # ann 10/5/2, bob 7/3/4, dan 3/2/6, fay 9/4/1: promoters 2 of 4, detractors 1 of 4; CSAT 2 of 4.
    assert scores(total) == (4, pytest.approx(25.0), pytest.approx(3.25), pytest.approx(50.0))
    assert [(p.partner_id, p.accruals, p.points, p.members) for p in total.partner_accruals] == [
        ("hotel-co", 1, 200, 1),
        ("sky-air", 2, 800, 1),
    ]


async def test_by_tier_each_tier_is_its_members_at_the_end_of_march(loaded: Loaded) -> None:
    report = await loaded.stub.GetKpis(march(pb.GROUPING_TIER))
    segments = {s.tier: s.kpis for s in report.segments}
    assert list(segments) == ["base", "gold", "silver"]
    base, gold, silver = segments["base"], segments["gold"], segments["silver"]
    # base: fay, bob, cat, dan, eve.
    assert counts(base) == {
        "members_enrolled": 2,
        "members_total": 5,
        "members_active": 3,
        "purchasing_members": 2,
        "repeat_purchasers": 1,
        "members_at_start": 2,
        "members_at_end": 3,
        "new_members": 1,
        "points_earned": 1040,
        "points_redeemed": 150,
        "points_expired": 60,
        "points_outstanding": 1410,
        "rewards_redeemed": 0,
    }
    assert rates(base) == {
        "repeat_purchase_rate": pytest.approx(0.5),
        "customer_retention_rate": pytest.approx(1.0),
        "net_revenue_retention": pytest.approx(5000 / 12000),
        "redemption_rate": pytest.approx(150 / 1040),
        "breakage_rate": pytest.approx(60 / 1040),
    }
    assert base.liability.amount_minor == 1763  # 17.625
    assert scores(base) == (3, pytest.approx(0.0), pytest.approx(11 / 3), pytest.approx(100 / 3))
    assert [(m.from_tier, m.to_tier) for m in base.tier_movements] == [("silver", "base")]
    # gold: ann, who spent more in March than in February.
    assert rates(gold)["net_revenue_retention"] == pytest.approx(18000 / 15000)
    assert (gold.points_outstanding, gold.liability.amount_minor, gold.rewards_redeemed) == (460, 575, 1)
    # silver: hal, a member at the start who did nothing in March.
    assert rates(silver) == {
        "repeat_purchase_rate": None,
        "customer_retention_rate": pytest.approx(0.0),
        "net_revenue_retention": pytest.approx(0.0),
        "redemption_rate": None,
        "breakage_rate": None,
    }
    assert (silver.points_outstanding, silver.liability.amount_minor) == (20, 25)
    assert scores(silver) == (0, None, None, None)


async def test_by_partner_each_partner_is_the_members_who_accrued_with_it(loaded: Loaded) -> None:
    report = await loaded.stub.GetKpis(march(pb.GROUPING_PARTNER))
    segments = {s.partner_id: s.kpis for s in report.segments}
    assert list(segments) == ["hotel-co", "sky-air"]
    sky = segments["sky-air"]  # fay only: bob's sky-air accrual was in February
    assert (sky.members_total, sky.members_active, sky.members_at_start, sky.points_earned) == (1, 1, 0, 800)
    assert rates(sky)["customer_retention_rate"] is None
    assert (sky.points_expired, sky.points_outstanding, sky.liability.amount_minor) == (60, 800, 1000)
    assert [(p.partner_id, p.accruals, p.points) for p in sky.partner_accruals] == [("sky-air", 2, 800)]
    hotel = segments["hotel-co"]  # ann
    assert (hotel.members_total, hotel.points_earned, hotel.points_outstanding) == (1, 560, 460)
    assert [p.partner_id for p in hotel.partner_accruals] == ["hotel-co"]


async def test_bad_windows_name_the_field_and_bad_events_are_dead_lettered_once(
    loaded: Loaded, producer: AIOKafkaProducer, kafka_settings: KafkaSettings
) -> None:
    backwards = pb.GetKpisRequest(from_time=timestamp(WINDOW[1]), to_time=timestamp(WINDOW[0]))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await loaded.stub.GetKpis(backwards)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error.value)) == {"to_time"}
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await loaded.stub.GetKpis(pb.GetKpisRequest(group_by=7))  # type: ignore[arg-type]
    assert set(field_violations(missing.value)) == {"from_time", "to_time", "group_by"}
    # The window before one from year 1 to 9999 would start before year 1: refused, not UNKNOWN.
    endless = pb.GetKpisRequest(from_time=timestamp(datetime(1, 6, 1, tzinfo=UTC)), to_time=timestamp(WINDOW[1]))
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await loaded.stub.GetKpis(endless)
    assert set(field_violations(too_long.value)) == {"from_time"}

    before = await loaded.stub.GetKpis(march())
    await producer.send_and_wait(loaded.topics.points, b"\x00not an envelope", key=b"ann")
    survey = next(envelope for kind, envelope in history() if kind == "tickets")  # made out of range below
    survey.event_id = str(uuid.uuid4())
    answer = tickets_pb2.SurveySubmitted()
    survey.payload.Unpack(answer)
    answer.member_id, answer.effort = "ann", 9
    survey.payload.Pack(answer)
    survey.subject = answer.member_id  # about the member it names: only its effort is wrong
    await producer.send_and_wait(loaded.topics.tickets, survey.SerializeToString(), headers=kafka_headers(survey))
    # A purchase dated years ahead: the points service dead-letters it, so insights does too.
    purchase = next(envelope for kind, envelope in history() if kind == "purchases")
    purchase.event_id = str(uuid.uuid4())
    made = commerce_pb2.PurchaseMade()
    purchase.payload.Unpack(made)
    made.occurred_at.FromDatetime(datetime(2031, 1, 1, tzinfo=UTC))
    purchase.payload.Pack(made)
    await producer.send_and_wait(loaded.topics.purchases, purchase.SerializeToString(), headers=kafka_headers(purchase))
    points_dlq = await read_topic(kafka_settings, dead_letter_topic(loaded.topics.points), 1)
    tickets_dlq = await read_topic(kafka_settings, dead_letter_topic(loaded.topics.tickets), 1)
    purchases_dlq = await read_topic(kafka_settings, dead_letter_topic(loaded.topics.purchases), 1)
    reasons = [dict(r.headers)["dlq-reason"].decode() for r in [*points_dlq, *tickets_dlq, *purchases_dlq]]
    assert "envelope" in reasons[0]
    assert "effort: must be between 1 and 7" in reasons[1]
    assert "occurred_at: must be from 2000-01-01T00:00:00Z to 24 hours ahead of the service's clock" in reasons[2]
    assert await loaded.stub.GetKpis(march()) == before


@pytest.mark.parametrize("apart_ns", [1, 999])
async def test_a_window_under_a_microsecond_is_refused_saying_so(migrated_pool: PoolFactory, apart_ns: int) -> None:
    """Times are kept to the microsecond: to_time 1 ns after from_time was refused as "must be after from_time"."""
    _, pool = await migrated_pool("insights")
    start = Timestamp(seconds=1_700_000_000, nanos=0)
    async with insights_server(pool) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as short:
            await stub.GetKpis(
                pb.GetKpisRequest(from_time=start, to_time=Timestamp(seconds=start.seconds, nanos=apart_ns))
            )
        assert field_violations(short.value) == {"to_time": at_least_1_us_after("from_time")}
        await stub.GetKpis(pb.GetKpisRequest(from_time=start, to_time=Timestamp(seconds=start.seconds, nanos=1000)))


async def test_loyalty_report_prints_the_kpis_as_csv_and_as_a_table(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_INSIGHTS_ADDRESS", loaded.address)
    out = io.StringIO()
    with redirect_stdout(out):
        assert (
            await run_cli("report", "--from", "2026-03-01", "--to", "2026-04-01", "--by", "tier", "--format", "csv")
            == 0
        )
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(out.getvalue()))}
    assert rows["kpi"] == ["total", "base", "gold", "silver"]
    assert rows["points_outstanding"] == ["1890", "1410", "460", "20"]
    assert rows["liability"] == ["23.63", "17.63", "5.75", "0.25"]
    assert float(rows["customer_retention_rate"][0]) == pytest.approx(0.75)
    assert rows["repeat_purchase_rate"][3] == ""  # silver bought nothing: no rate
    assert rows["tier_moves[silver>gold]"] == ["1", "0", "1", "0"]
    assert rows["partner_points[sky-air]"] == ["800", "800", "0", "0"]
    table = io.StringIO()
    with redirect_stdout(table):
        assert await run_cli("report", "--from", "2026-03-01", "--to", "2026-04-01") == 0
    lines = {line.split()[0]: line.split()[1:] for line in table.getvalue().splitlines()[1:]}
    assert lines["liability"] == ["23.63", "USD"]
    assert lines["customer_retention_rate"] == ["75.00%"]
    assert lines["nps"] == ["25.00"]


async def test_months_reaching_outside_the_calendar_are_refused_naming_until(migrated_pool: PoolFactory) -> None:
    _, pool = await migrated_pool("insights")
    own = InsightsSettings(dashboard_port=0, currency=CURRENCY, cost_per_point=COST_PER_POINT)
    insights = InsightsApplication(pool, own)
    for until in (datetime(9999, 12, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidArgument) as refused:
            await insights.monthly(12, until)
        assert [v.field for v in refused.value.violations] == ["until"]
