"""Rewards events, written to the outbox in the transaction of the change they announce."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from google.protobuf.message import Message

from services.common.events import new_envelope
from services.common.kafka import REWARDS_EVENTS_TOPIC
from services.common.outbox import add_event

SOURCE = "loyalty.rewards"


async def emit(connection: asyncpg.Connection, payload: Message, subject: str, now: datetime) -> None:
    """`subject` keys the message: the member id, so a member's events stay in order (a promo code's campaign id)."""
    envelope = new_envelope(payload, subject=subject, source=SOURCE, occurred_at=now)
    await add_event(connection, REWARDS_EVENTS_TOPIC, envelope)
