"""Noticing that the broker lost a partition's log, by the identity of a record read rather than its length.

The embedded in-memory broker forgets every log when it restarts (so does any
broker when a topic is deleted and created again). A consumer then holds a
position in a log that no longer exists. Comparing that position with the new
log's end is not enough: replays refill the new log quickly, and once it is
longer than the old position the consumer would resume there and never read
its head — the events produced while the broker was away. So the watch keeps
the offset and a fingerprint of a record applied per partition and reads that
offset again now and then: a different record, or none, means a new log,
which is read from the beginning (the inbox makes that harmless).

The record checked is one applied before the previous check, never simply the
last one applied: a consumer resuming in a new log applies that log's records
before the next check, and the last of them is of course still there.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import zlib
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.common.kafka import stop_quietly
from services.common.settings import KafkaSettings

log = logging.getLogger(__name__)

_PROBE_TIMEOUT_MS = 1000
_CHECK_TIMEOUT_S = 3.0


def _fingerprint(record: ConsumerRecord) -> int:
    return zlib.crc32(record.value or b"", zlib.crc32(record.key or b""))


class LostLogWatch:
    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        # Per partition: the record the next check looks for, and the last one applied since.
        self._to_check: dict[TopicPartition, tuple[int, int]] = {}
        self._latest: dict[TopicPartition, tuple[int, int]] = {}
        self._probe: AIOKafkaConsumer | None = None

    def applied(self, partition: TopicPartition, record: ConsumerRecord) -> None:
        """`record` was the last one applied from `partition`."""
        identity = (record.offset, _fingerprint(record))
        self._to_check.setdefault(partition, identity)
        self._latest[partition] = identity

    async def rewind_lost(self, consumer: AIOKafkaConsumer) -> None:
        """Seek `consumer` to the beginning of every assigned partition whose log was replaced."""
        for partition in list(consumer.assignment()):
            known = self._to_check.get(partition)
            if known is None:
                continue
            still_there = await self._still_there(partition, *known)
            if partition not in consumer.assignment():
                continue  # revoked by a rebalance while the broker was asked; seeking it would raise
            if still_there:
                # Whatever was applied until now came from the log just confirmed: check the latest next.
                self._to_check[partition] = self._latest[partition]
            elif still_there is False:
                log.warning(
                    "partition log was lost; reading it again from the beginning",
                    extra={"topic": partition.topic, "partition": partition.partition},
                )
                del self._to_check[partition], self._latest[partition]
                await consumer.seek_to_beginning(partition)

    async def _still_there(self, partition: TopicPartition, offset: int, fingerprint: int) -> bool | None:
        """Whether the record read at `offset` is still there; None when the broker cannot tell us now."""
        try:
            # Bounded as a whole: end_offsets() of a partition the broker stopped listing waits for the
            # request timeout (40 s), and the consumer's loop waits on this check.
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                record = await _record_at(await self._started_probe(), partition, offset)
        except (KafkaError, TimeoutError) as error:
            log.info("partition log not checked", extra={"error": repr(error)})
            return None
        if record is _Read.UNKNOWN:
            return None
        return record is not _Read.EMPTY and record.offset == offset and _fingerprint(record) == fingerprint

    async def _started_probe(self) -> AIOKafkaConsumer:
        if self._probe is None:
            self._probe = await _start_probe(self._kafka)
        return self._probe

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        await stop_quietly(probe, "lost-log probe")


class AcknowledgedLogs:
    """What the outbox relay checks while it has nothing to send: that the broker still has what it acknowledged.

    A busy relay notices a lost log by the offsets of its next acknowledgements. An idle one sends nothing, so a
    restarted in-memory broker's loss would go unnoticed, and the events acknowledged but not yet consumed would
    be forgotten with the outbox's retention. A partition whose log no longer holds the last offset
    acknowledged on it, or a topic unlisted in two checks in a row, is a lost log.
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._probe: AIOKafkaConsumer | None = None
        # Topics the previous check found unlisted: a cluster may leave a topic out of one metadata answer
        # (an error on that topic during a rolling restart), so only a second check in a row counts.
        self._unlisted: set[str] = set()

    async def topics_lost(self, acknowledged: Mapping[tuple[str, int], int]) -> list[str]:
        """Topics of `acknowledged` ((topic, partition) -> last offset) whose log was lost; [] when unknown now."""
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                self._probe = probe = self._probe or await _start_probe(self._kafka)
                listed = await probe.topics()
                partitions = [TopicPartition(topic, p) for topic, p in acknowledged if topic in listed]
                ends = await probe.end_offsets(partitions) if partitions else {}
                cut_short = {partition.topic for partition in await _cut_short(probe, acknowledged, ends)}
        except (KafkaError, TimeoutError) as error:
            log.info("outbox topics not checked", extra={"error": repr(error)})
            await self.stop()  # the next check starts on fresh metadata
            return []
        unlisted = {topic for topic, _ in acknowledged if topic not in listed}
        lost = cut_short | (unlisted & self._unlisted)
        self._unlisted = unlisted - lost
        return sorted(lost)

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        await stop_quietly(probe, "lost-log probe")


async def _cut_short(
    probe: AIOKafkaConsumer, acknowledged: Mapping[tuple[str, int], int], ends: Mapping[TopicPartition, int]
) -> list[TopicPartition]:
    """The partitions whose log no longer holds the last offset acknowledged on them.

    The end offset only picks the ones to read: the embedded broker (Tansu) answers the start of the last batch
    plus one, so a log whose last batch held several records looks shorter than it is. Only a read settles it.
    """
    lost = []
    for (topic, p), last in acknowledged.items():
        partition = TopicPartition(topic, p)
        if partition not in ends or ends[partition] > last:
            continue
        if ends[partition] == 0:  # empty: no batch at all, whatever the broker's arithmetic
            lost.append(partition)
            continue
        record = await _record_at(probe, partition, last)
        if record is _Read.EMPTY or (isinstance(record, ConsumerRecord) and record.offset != last):
            lost.append(partition)
    return lost


class _Read(enum.Enum):
    """What a read that brought no record tells."""

    EMPTY = "the log holds nothing: lost, and nothing written since"
    UNKNOWN = "the log has records, the fetch was merely slow: nothing can be told"


async def _record_at(probe: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> ConsumerRecord | _Read:
    """The record the probe reads at `offset`; another (the log's first) if the log no longer reaches it."""
    probe.assign([partition])
    probe.seek(partition, offset)
    records = (await probe.getmany(partition, timeout_ms=_PROBE_TIMEOUT_MS, max_records=1)).get(partition)
    if records:
        return records[0]
    # Out of range, the probe reads from the log's start: nothing came back only if the log is empty, or slow.
    start = (await probe.beginning_offsets([partition]))[partition]
    end = (await probe.end_offsets([partition]))[partition]
    return _Read.EMPTY if end <= start else _Read.UNKNOWN


async def _start_probe(kafka: KafkaSettings) -> AIOKafkaConsumer:
    # No group: it reads single records and commits nothing. Out of range (a shorter log) reads from the
    # earliest record, whose offset then gives the loss away.
    probe = AIOKafkaConsumer(
        **kafka.client_options(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        await probe.start()
    except BaseException:
        await probe.stop()
        raise
    return probe
