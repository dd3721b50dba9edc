"""Partner accruals through the running platform: a partner set up over gRPC, records over Kafka and the stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2_grpc

from services.common.events import JSON
from services.common.kafka import PARTNER_ACCRUALS_TOPIC
from services.dev import Platform
from tests.e2e.support import balance, enroll, eventually

TODAY = datetime.now(UTC).date().isoformat()


async def _hotel(admin: partners_pb2_grpc.PartnerServiceStub) -> tuple[str, str]:
    partner_id = f"hotel-{uuid.uuid4().hex[:8]}"
    await admin.RegisterPartner(
        pb.RegisterPartnerRequest(partner_id=partner_id, name="Inn", kind=pb.PARTNER_KIND_HOTEL)
    )
    since = Timestamp()
    since.FromDatetime(datetime(2020, 1, 1, tzinfo=UTC))
    rate = pb.ConversionRate(unit="USD", points_per_unit="10", effective_from=since)
    await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))
    key = (await admin.IssuePartnerCredential(pb.IssuePartnerCredentialRequest(partner_id=partner_id))).api_key
    return partner_id, key


def _stay(tx: str, member_id: str, usd: str) -> pb.AccrualRecord:
    return pb.AccrualRecord(
        partner_transaction_id=tx,
        member_id=member_id,
        activity_type=pb.ACTIVITY_TYPE_STAY,
        activity_date=TODAY,
        unit="USD",
        amount=usd,
    )


async def test_a_partner_accrues_over_kafka_and_the_stream_and_reconciles(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
        admin = partners_pb2_grpc.PartnerServiceStub(channel)
        partner_id, key = await _hotel(admin)
        member = await enroll(points)
        headers = [("partner-id", partner_id.encode()), ("authorization", f"Bearer {key}".encode())]
        for record, as_json in ((_stay("k1", member, "100"), False), (_stay("k2", member, "50"), True)):
            value = json_format.MessageToJson(record).encode() if as_json else record.SerializeToString()
            extra = [("content-type", JSON.encode())] if as_json else []
            for _ in range(2):  # every record delivered twice
                await producer.send_and_wait(
                    PARTNER_ACCRUALS_TOPIC, value, key=member.encode(), headers=headers + extra
                )
        await eventually(lambda: balance(points, member), lambda b: b == 1500, "Kafka accruals credited once")

        async def batches() -> AsyncIterator[pb.AccrualBatch]:
            yield pb.AccrualBatch(records=[_stay("g1", member, "10"), _stay("k1", member, "100")])

        intake = partners_pb2_grpc.PartnerAccrualServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)
        answers = [answer async for answer in intake.StreamAccruals(batches(), metadata=metadata)]
        assert [(r.status, r.points) for r in answers[0].results] == [
            (pb.ACCRUAL_STATUS_ACCEPTED, 100),
            (pb.ACCRUAL_STATUS_DUPLICATE, 1000),
        ]
        assert await balance(points, member) == 1600

        report = await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY))
        totals = {line.status: (line.records, line.points) for line in report.lines}
        assert totals == {pb.ACCRUAL_STATUS_ACCEPTED: (3, 1600), pb.ACCRUAL_STATUS_DUPLICATE: (3, 2500)}


async def test_a_partner_with_another_kafka_client_is_credited(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub
) -> None:
    """librdkafka (confluent-kafka), not aiokafka: the intake needs nothing but the documented message."""
    async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
        partner_id, key = await _hotel(partners_pb2_grpc.PartnerServiceStub(channel))
    member = await enroll(points)
    producer = Producer({"bootstrap.servers": platform.kafka_bootstrap, "enable.idempotence": False})
    headers = [("partner-id", partner_id.encode()), ("authorization", f"Bearer {key}".encode())]
    for _ in range(2):  # resent
        producer.produce(
            PARTNER_ACCRUALS_TOPIC, _stay("rd-1", member, "42.50").SerializeToString(), member.encode(), headers=headers
        )
    assert await asyncio.to_thread(producer.flush, 30) == 0
    await eventually(lambda: balance(points, member), lambda b: b == 425, "the librdkafka record credited once")
