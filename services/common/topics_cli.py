"""`loyalty topics`: create the platform's topics on any Kafka cluster, or check them, with their partition counts.

Event topics get `LOYALTY_KAFKA_PARTITIONS` partitions (keyed by member, so
one member's events stay in order) and dead-letter topics one; both with
`LOYALTY_KAFKA_REPLICATION_FACTOR` replicas. An existing topic is never
changed: one with fewer partitions than wanted is reported, since adding
partitions moves members to other partitions and so reorders their events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from services.common.kafka import ALL_TOPICS, wanted_partitions
from services.common.settings import KafkaSettings, kafka_settings


def counted_partitions(count: int) -> str:
    return f"{count} partition" if count == 1 else f"{count} partitions"


@dataclass(frozen=True)
class TopicState:
    name: str
    wanted: int
    partitions: int | None  # None: the topic does not exist

    @property
    def problem(self) -> str | None:
        if self.partitions is None:
            return "missing"
        if self.partitions < self.wanted:
            return f"has {counted_partitions(self.partitions)}, fewer than the {self.wanted} wanted"
        return None


def add_topics_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    topics = commands.add_parser("topics", help="create the platform's Kafka topics, or check them (--check)")
    topics.add_argument("--check", action="store_true", help="only report; create nothing")
    topics.add_argument(
        "--retention-hours", type=int, default=None, help="retention.ms of topics created now (the broker's default)"
    )
    topics.set_defaults(run=lambda args: asyncio.run(run_topics(args.check, args.retention_hours)))


async def topic_states(admin: AIOKafkaAdminClient, kafka: KafkaSettings) -> list[TopicState]:
    # Only existing topics are described: a metadata request naming a topic creates it on some brokers.
    existing = set(await admin.list_topics())
    ours = [topic for topic in ALL_TOPICS if topic in existing]
    described = await admin.describe_topics(ours) if ours else []
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
    return [TopicState(name, wanted_partitions(kafka, name), partitions.get(name)) for name in ALL_TOPICS]


async def create_missing(
    admin: AIOKafkaAdminClient, kafka: KafkaSettings, states: list[TopicState], retention_hours: int | None
) -> list[str]:
    configs = {} if retention_hours is None else {"retention.ms": str(retention_hours * 3_600_000)}
    missing = [state for state in states if state.partitions is None]
    if missing:
        await admin.create_topics(
            [NewTopic(s.name, s.wanted, kafka.replication_factor, topic_configs=configs) for s in missing]
        )
    return [state.name for state in missing]


async def run_topics(check: bool, retention_hours: int | None = None) -> int:
    """Create what is missing (unless `check`), print a line per topic; 1 if any is missing or short."""
    kafka = kafka_settings(os.environ)
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=10_000)
    try:
        await admin.start()
        states = await topic_states(admin, kafka)
        if not check:
            created = await create_missing(admin, kafka, states, retention_hours)
            for name in created:
                print(f"created {name}")
            if created:
                states = await topic_states(admin, kafka)
    except (KafkaError, OSError) as error:
        print(f"PROBLEM broker {kafka.bootstrap}: {error!r}")
        return 1
    finally:
        await admin.close()
    problems = 0
    for state in states:
        if state.problem is None:
            print(f"ok      {state.name}: {counted_partitions(state.partitions or 0)}")
        else:
            problems += 1
            print(f"PROBLEM {state.name}: {state.problem}")
    return 1 if problems else 0
