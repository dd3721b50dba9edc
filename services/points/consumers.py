"""Kafka handlers of the points service."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import commerce_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.event_consumer import EventConsumer
from services.common.kafka import PURCHASES_TOPIC
from services.common.settings import KafkaSettings
from services.points import awaiting_refunds
from services.points.api import purchase_from, refund_from
from services.points.application import PointsApplication
from services.points.refunds import RefundApplication


def purchases_consumer(
    pool: asyncpg.Pool, kafka: KafkaSettings, application: PointsApplication, refunds: RefundApplication
) -> EventConsumer:
    # The event id guards against redelivery; the purchase and refund ids also guard
    # against the same fact arriving over gRPC or in a second event.
    async def purchase_made(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, commerce_pb2.PurchaseMade)
        await application.record_purchase_in(connection, purchase_from(payload))

    async def purchase_refunded(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, commerce_pb2.PurchaseRefunded)
        # One that arrives before its purchase waits for it.
        await awaiting_refunds.refund_or_keep_in(
            connection, refunds, replace(refund_from(payload), member_id=payload.member_id)
        )

    return EventConsumer(
        name="points.purchases",
        topic=PURCHASES_TOPIC,
        pool=pool,
        kafka=kafka,
        handlers={
            commerce_pb2.PurchaseMade.DESCRIPTOR.full_name: purchase_made,
            commerce_pb2.PurchaseRefunded.DESCRIPTOR.full_name: purchase_refunded,
        },
    )
