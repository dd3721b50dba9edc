"""Kafka clients and topics, configured once for every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from services.common.settings import KafkaSettings

PURCHASES_TOPIC = "commerce.purchases.v1"
PARTNER_ACCRUALS_TOPIC = "partner.accruals.v1"
POINTS_EVENTS_TOPIC = "points.events.v1"
REWARDS_EVENTS_TOPIC = "rewards.events.v1"
TICKETS_EVENTS_TOPIC = "tickets.events.v1"
# Message requests for the email/SMS/push sender (NotificationRequested).
NOTIFICATIONS_REQUESTS_TOPIC = "notifications.requests.v1"
EVENT_TOPICS = (
    PURCHASES_TOPIC,
    PARTNER_ACCRUALS_TOPIC,
    POINTS_EVENTS_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
    NOTIFICATIONS_REQUESTS_TOPIC,
)

log = logging.getLogger(__name__)

STOP_LIMIT_S = 15.0


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS = (*EVENT_TOPICS, *(dead_letter_topic(t) for t in EVENT_TOPICS))


def wanted_partitions(kafka: KafkaSettings, topic: str) -> int:
    """Event topics are split by member key; a dead-letter topic is read by people, in order."""
    return 1 if topic.endswith(".dlq") else kafka.partitions


# How long a send (or a batch of them) may take before its producer is given up for a fresh one.
# aiokafka can park a send in a forced metadata refresh until its next periodic refresh, five
# minutes later: its synchronizer, woken by the timer, waits out the full period again when the
# set of topics changed during that update, and a forced refresh meanwhile does not wake it.
SEND_LIMIT_S = 30.0


def new_producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    # acks=all so a row leaves the outbox only once every in-sync replica has it.
    return AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        enable_idempotence=kafka.idempotence,
        linger_ms=5,
        request_timeout_ms=10_000,
    )


def new_consumer(
    kafka: KafkaSettings,
    group_id: str,
    *topics: str,
    max_poll_records: int = 500,
    on_assignment: Callable[[set[int]], None] | None = None,
    on_revocation: Callable[[set[int]], None] | None = None,
) -> AIOKafkaConsumer:
    """A group member of `topics`; `on_assignment` is told the partition numbers of each assignment it is given,
    `on_revocation` those a rebalance takes from it."""
    # Offsets are committed by the consumer loop after the effect is committed in Postgres.
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        session_timeout_ms=kafka.session_timeout_ms,
        # aiokafka's 3 s under its default 10 s session; never more than a third of a shorter one.
        heartbeat_interval_ms=min(3_000, kafka.session_timeout_ms // 3),
    )
    listener = _Assignments(on_assignment, on_revocation) if on_assignment or on_revocation else None
    consumer.subscribe(list(topics), listener=listener)
    return consumer


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, assigned: Callable[[set[int]], None] | None, revoked: Callable[[set[int]], None] | None) -> None:
        self._assigned = assigned
        self._revoked = revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Offsets are committed after each poll: nothing is held back to commit here.
        if self._revoked:
            self._revoked({partition.partition for partition in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._assigned:
            self._assigned({partition.partition for partition in assigned})


async def ensure_topics(kafka: KafkaSettings, names: Iterable[str] = ALL_TOPICS) -> list[str]:
    """Create whichever of `names` do not exist yet; returns the ones created."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, wanted_partitions(kafka, n), kafka.replication_factor) for n in missing]
                )
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process", extra={"topics": missing})
        return missing
    finally:
        await admin.close()


async def ensure_topics_if_reachable(
    kafka: KafkaSettings, names: Iterable[str] = ALL_TOPICS, *, timeout_s: float = 10.0
) -> bool:
    """ensure_topics, unless the broker does not answer within `timeout_s`: then False, logged.

    For callers that go on without the topics: a producer's first metadata
    request creates a missing topic anyway (with the broker's default partition count).
    """
    wanted = list(names)
    try:
        await asyncio.wait_for(ensure_topics(kafka, wanted), timeout=timeout_s)
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("topics not ensured; broker unreachable", extra={"topics": wanted, "error": repr(error)})
        return False
    return True


async def stop_quietly(client: AIOKafkaProducer | AIOKafkaConsumer | None, what: str) -> None:
    """Stop a Kafka client whose broker may be gone: failing to stop it is no failure of the caller's.

    Bounded: a producer's stop flushes what it holds and waits on the broker for it, and a service shutting
    down (the outbox relay cancelled) must not wait for a broker that does not answer. What it held is still
    in the outbox, published again by the next relay.
    """
    if client is None:
        return
    try:
        async with asyncio.timeout(STOP_LIMIT_S):
            await client.stop()
    except TimeoutError:  # before OSError, of which it is one
        log.warning("kafka client not stopped in time; left", extra={"client": what})
    except (KafkaError, OSError) as error:
        log.debug("kafka client stop failed", extra={"client": what, "error": repr(error)})
