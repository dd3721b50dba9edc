"""Where a consumer puts the messages it refuses: `<topic>.dlq`, with the reason in a header.

The producer lives for one poll, not for the consumer's life. The embedded
broker forgets its topics when it restarts, and it acknowledges sends from a
producer that still routes by the lost topic's metadata to partitions, or a
topic, that nobody can read back: dead letters sent that way were lost. Dead
letters are rare, so a sender that had noticed nothing (no send failed) would
still be stale. A producer started for the poll that needs it, after making
sure the `.dlq` topic exists with its one partition, cannot predate a
restart. With a real Kafka cluster topics survive, and the cost is one
producer start per poll that dead-letters.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from services.common.kafka import (
    SEND_LIMIT_S,
    dead_letter_topic,
    ensure_topics_if_reachable,
    new_producer,
    stop_quietly,
)
from services.common.settings import KafkaSettings

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


# How long a dead letter may wait for the broker before its batch gives way (see DeadLetters.send).
WAIT_S = 5.0


class DeadLetterNotSent(Exception):
    """The broker did not take a dead letter in time: the batch that refused the message rolls back and runs
    again later."""


class DeadLetterTooLarge(Exception):
    """The dead letter is larger than the producer or the broker takes: sending it again would never help."""


# Refused for its size, by the producer before sending (max_request_size) or by the broker (max.message.bytes).
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class DeadLetters:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        """Dead letters of the messages of `topic`, sent to `<topic>.dlq`."""
        self._kafka = kafka
        self.topic = dead_letter_topic(topic)
        self._producer: AIOKafkaProducer | None = None
        # Partitions applied at the same time dead-letter through one producer: one of them starts it.
        self._starting = asyncio.Lock()

    async def send(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """Send until the broker acknowledges it, for at most WAIT_S; then DeadLetterNotSent.

        The caller sends inside the transaction that applies the message's batch: bounded, a broker outage holds
        that transaction's locks for seconds, not for the whole outage. The batch rolls back and runs again, so
        a refused message is never dropped. A dead letter too large to send raises DeadLetterTooLarge at once:
        the caller sends a smaller one instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        backoff = 0.5
        while True:
            try:
                async with asyncio.timeout(max(0.0, min(SEND_LIMIT_S, deadline - loop.time()))):
                    producer = self._producer or await self._start()
                    await producer.send_and_wait(self.topic, value, key=key, headers=headers)
                return
            except _TOO_LARGE as error:  # before KafkaError, of which they are
                raise DeadLetterTooLarge(f"{self.topic} does not take a dead letter this large: {error!r}") from error
            except (KafkaError, OSError, TimeoutError) as error:
                await self.close()  # the next attempt starts on fresh metadata
                if loop.time() + backoff >= deadline:
                    raise DeadLetterNotSent(f"{self.topic} did not take a dead letter: {error!r}") from error
                log.warning("dead-letter publish failed; retrying", extra={"error": repr(error)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    async def close(self) -> None:
        """Stop the producer, if a send started one; the next send starts another."""
        producer, self._producer = self._producer, None
        await stop_quietly(producer, "dead-letter producer")

    async def _start(self) -> AIOKafkaProducer:
        async with self._starting:
            return self._producer or await self._start_producer()

    async def _start_producer(self) -> AIOKafkaProducer:
        await ensure_topics_if_reachable(self._kafka, [self.topic])
        producer = new_producer(self._kafka)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        return producer
