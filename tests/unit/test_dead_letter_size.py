"""A message too large to dead-letter whole still leaves its partition: sent without what makes it too large."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from services.common.consumer import BatchConsumer
from services.common.dead_letters import DeadLetterTooLarge, Headers

LIMIT = 10_000


class RefusesLargeOnes:
    """A dead-letter topic whose producer refuses a message over LIMIT bytes, as max_request_size does."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = []

    async def send(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        size = len(key or b"") + len(value or b"") + sum(len(name) + len(v) for name, v in headers)
        if size > LIMIT:
            raise DeadLetterTooLarge(f"{size} bytes")
        self.sent.append((key, value, dict(headers)))


class Refuses(BatchConsumer):
    def __init__(self) -> None:
        super().__init__(name="refuses", topic="t", pool=None, kafka=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "headers", "reason", "sent_key", "omitted"),
    [
        (b"v" * LIMIT, (("ce_type", b"t"),), "refused", b"k", b"value"),
        # Its own headers, or a reason quoting it, too large as well: the dlq-* headers alone, the reason cut.
        (b"v" * LIMIT, (("x-blob", b"h" * LIMIT),), "refused", None, b"key, value, headers"),
        (b"v", (), "unknown event type " + "t" * LIMIT, None, b"key, value, headers"),
    ],
)
async def test_a_message_too_large_to_dead_letter_is_sent_without_what_it_cannot_carry(
    value: bytes, headers: tuple[tuple[str, bytes], ...], reason: str, sent_key: bytes | None, omitted: bytes
) -> None:
    record = ConsumerRecord("t", 2, 7, 0, 0, b"k", value, None, 1, len(value), headers)
    dead_letters = RefusesLargeOnes()
    consumer = Refuses()
    await consumer.dead_letter(record, dead_letters, reason)  # type: ignore[arg-type]
    [(key, sent_value, sent)] = dead_letters.sent
    assert (key, sent_value) == (sent_key, None)
    assert sent["dlq-source"] == b"t/2/7"  # where an operator reads it whole
    assert sent["dlq-omitted"] == omitted
    assert sent["dlq-original-size"] == str(1 + len(value) + sum(len(n) + len(v) for n, v in headers)).encode()
    assert sent["dlq-reason"].decode() in reason
    assert consumer.dead_lettered == 1
