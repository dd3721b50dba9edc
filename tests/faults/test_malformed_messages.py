"""Malformed and oversized messages on every consumed topic go to the DLQ with a reason; consumers keep going.

Each topic gets garbage, an empty value, a truncated envelope, a 900 KB
message, broken JSON, an envelope with an unknown or unreadable payload,
well-formed events with a time past year 9999 or a NUL character, and
on the partner topic JSON records fuzzed by hypothesis (wrong types, huge
strings, negative and overflowing amounts, unknown enums, far-past and
far-future dates). After them comes a valid sentinel, which must be applied:
the consumer did not stop or stall. Every malformed message must appear on
`<topic>.dlq` once per consumer group reading the topic, with a `dlq-reason`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, tickets_pb2
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1 import rewards_pb2 as reward_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import rewards_pb2
from loyalty.tickets.v1 import tickets_pb2 as tickets_api_pb2

from services.common.events import JSON, PROTOBUF, kafka_headers, new_envelope, timestamp
from services.common.kafka import (
    PARTNER_ACCRUALS_TOPIC,
    POINTS_EVENTS_TOPIC,
    PURCHASES_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
    dead_letter_topic,
)
from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.e2e.conftest import running_platform
from tests.faults.audit import CONSUMER_GROUPS, consumer_lag, ledger
from tests.faults.books import REPORTS, Books, Report
from tests.faults.fuzz_strategies import messages as any_message
from tests.faults.scale import Scale
from tests.faults.world import Cast, Stubs, cast, stubs_for

pytestmark = pytest.mark.faults

Headers = list[tuple[str, bytes]]
T = TypeVar("T")
# The event types of each topic a service consumes (partner accruals are records, fuzzed as JSON above).
EVENT_MODULES = {
    PURCHASES_TOPIC: commerce_pb2,
    POINTS_EVENTS_TOPIC: points_events,
    REWARDS_EVENTS_TOPIC: reward_events,
    TICKETS_EVENTS_TOPIC: tickets_pb2,
}
OVERSIZED = 900_000
DEADLINE_S = 120.0


def _groups_of(topic: str) -> set[str]:
    return {group for group, read in CONSUMER_GROUPS.items() if read == topic}


def _malformed() -> list[tuple[str, bytes, Headers]]:
    """(what, value, headers) of messages no consumer can apply."""
    valid = new_envelope(
        commerce_pb2.PurchaseMade(purchase_id="never", member_id="never"),
        subject="never",
        source="faults",
        occurred_at=datetime.now(UTC),
    ).SerializeToString()
    unknown_payload = EventEnvelope(event_id=str(uuid.uuid4()), type="nope.Nope", subject="never")
    unknown_payload.payload.CopyFrom(AnyMessage(type_url="type.googleapis.com/nope.Nope", value=b"\x08\x01"))
    unreadable = EventEnvelope(event_id=str(uuid.uuid4()), type="loyalty.events.v1.PurchaseMade", subject="never")
    unreadable.payload.CopyFrom(
        AnyMessage(type_url="type.googleapis.com/loyalty.events.v1.PurchaseMade", value=b"\xff\xff\xff")
    )
    proto = [("content-type", PROTOBUF.encode())]
    # Well-formed protobuf that no service can store: a time past year 9999, text with a NUL character.
    far_future = Timestamp(seconds=2**62)
    out_of_range_envelope = EventEnvelope.FromString(valid)
    out_of_range_envelope.occurred_at.CopyFrom(far_future)
    out_of_range_payload = new_envelope(
        commerce_pb2.PurchaseMade(purchase_id="never", member_id="never", occurred_at=far_future),
        subject="never",
        source="faults",
        occurred_at=datetime.now(UTC),
    )
    nul_text = new_envelope(
        commerce_pb2.PurchaseMade(purchase_id="never\x00", member_id="never\x00"),
        subject="never",
        source="faults",
        occurred_at=datetime.now(UTC),
    )
    return [
        ("envelope time out of range", out_of_range_envelope.SerializeToString(), proto),
        ("payload time out of range", out_of_range_payload.SerializeToString(), proto),
        ("NUL in text", nul_text.SerializeToString(), proto),
        ("garbage", b"\xff\x00 not an envelope", []),
        ("empty", b"", []),
        ("truncated", valid[: len(valid) // 2], proto),
        ("oversized", b"\xff" * OVERSIZED, proto),
        ("broken JSON", b'{"eventId": 12, "payload": ', [("content-type", JSON.encode())]),
        ("unknown payload type", unknown_payload.SerializeToString(), proto),
        ("unreadable payload", unreadable.SerializeToString(), proto),
    ]


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=30),
    st.integers(10_000, 200_000).map(lambda n: "y" * n),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_PARTNER_JSON = st.fixed_dictionaries(
    {"memberId": st.one_of(st.just(""), st.text(max_size=10).map(lambda s: f"nobody-{s}"), _JUNK)},
    optional={
        "partnerTransactionId": st.one_of(st.text(max_size=200), _JUNK),
        "activityType": st.one_of(
            st.sampled_from(["ACTIVITY_TYPE_FLIGHT", "ACTIVITY_TYPE_WARP"]), st.integers(), _JUNK
        ),
        "activityDate": st.one_of(st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "yesterday"]), _JUNK),
        "unit": st.one_of(st.sampled_from(["USD", "MILE", "usd", ""]), _JUNK),
        "amount": st.one_of(st.sampled_from(["-5", "0", "1e400", "9" * 40, "NaN", "12.345678"]), _JUNK),
        "bonusAmount": st.one_of(st.sampled_from(["-1", "99999999999999999999"]), _JUNK),
        "pending": _JUNK,
        "unknownField": _JUNK,
    },
)


def _examples(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    found: list[T] = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found


def _fuzzed_partner_records(count: int) -> list[bytes]:
    return [json.dumps(record, allow_nan=True).encode() for record in _examples(_PARTNER_JSON, count)]


def _fuzzed_events(member_id: str, count: int) -> list[tuple[str, EventEnvelope]]:
    """(topic, envelope) of `count` hypothesis-made payloads of every event type of every consumed event topic."""
    fuzzed = []
    for topic, module in EVENT_MODULES.items():
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            for payload in _examples(any_message(descriptor, known=[member_id]), count):
                envelope = new_envelope(payload, subject=member_id, source="faults", occurred_at=datetime.now(UTC))
                if envelope.ByteSize() <= OVERSIZED:  # bigger ones are the "oversized" case above
                    fuzzed.append((topic, envelope))
    return fuzzed


async def _send_malformed(producer: AIOKafkaProducer, cast_: Cast, count: int) -> dict[str, set[bytes]]:
    """Send them all; returns the marker keys sent per topic."""
    keys: dict[str, set[bytes]] = defaultdict(set)
    partner = [("partner-id", cast_.partner_id.encode()), ("authorization", f"Bearer {cast_.partner_key}".encode())]
    for topic in sorted(set(CONSUMER_GROUPS.values())):  # every topic some service consumes
        extra = partner if topic == PARTNER_ACCRUALS_TOPIC else []
        messages = [(value, [*headers, *extra]) for _, value, headers in _malformed()]
        if topic == PARTNER_ACCRUALS_TOPIC:
            json_type = [("content-type", JSON.encode())]
            messages += [(value, json_type + extra) for value in _fuzzed_partner_records(count)]
            messages.append((b"{}", json_type))  # no partner headers at all: unauthenticated
        for value, headers in messages:
            key = f"malformed-{uuid.uuid4().hex}".encode()
            keys[topic].add(key)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    return keys


async def _send_sentinels(producer: AIOKafkaProducer, stubs: Stubs, cast_: Cast) -> dict[str, str]:
    """One valid message per consumer after the malformed ones; returns the ledger key each must produce."""
    member = cast_.members[0]
    now = datetime.now(UTC)
    purchase = commerce_pb2.PurchaseMade(
        purchase_id=f"sentinel-{uuid.uuid4()}",
        member_id=member,
        occurred_at=timestamp(now),
        amount=Money(amount_minor=1000, currency_code="USD"),
    )
    grant = tickets_pb2.GoodwillGranted(
        ticket_id=str(uuid.uuid4()), member_id=member, points=7, reason="sentinel", granted_by="faults-agent"
    )
    for topic, event in ((PURCHASES_TOPIC, purchase), (TICKETS_EVENTS_TOPIC, grant)):
        envelope = new_envelope(event, subject=member, source="faults", occurred_at=now)
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member.encode(), headers=kafka_headers(envelope)
        )
    return {"points.purchases": f"purchase:{purchase.purchase_id}", "points.goodwill": f"goodwill:{grant.ticket_id}"}


async def _tier_views_learn_a_new_member(stubs: Stubs, problems: list[str]) -> None:
    """The points.events.v1 sentinel: a member enrolled now reaches the rewards and tickets tier views."""
    member_id = f"sentinel-{uuid.uuid4().hex[:12]}"
    await stubs.points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id))
    views = {"rewards": (stubs.rewards_view, rewards_pb2), "tickets": (stubs.tickets_view, tickets_api_pb2)}
    for name, (view, messages) in views.items():
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                await view.GetMemberTier(messages.GetMemberTierRequest(member_id=member_id))
                break
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                    problems.append(f"{name} tier view never learnt {member_id}: {error.code().name}")
                    break
            await asyncio.sleep(0.2)


async def _dead_letters(bootstrap: str, topic: str, keys: set[bytes], groups: set[str]) -> dict[tuple[bytes, str], str]:
    """(key, consumer group) -> dlq-reason, for our keys, read until all are there or the deadline passed."""
    reader = AIOKafkaConsumer(dead_letter_topic(topic), bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    found: dict[tuple[bytes, str], str] = {}
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and len(found) < len(keys) * len(groups):
            for batch in (await reader.getmany(timeout_ms=500)).values():
                for record in batch:
                    headers = dict(record.headers or ())
                    if record.key in keys:
                        found[(record.key, headers.get("dlq-consumer", b"").decode())] = headers.get(
                            "dlq-reason", b""
                        ).decode()
    finally:
        await reader.stop()
    return found


@pytest.fixture(scope="module")
async def fresh_platform(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Platform]:
    """A platform whose broker was never restarted.

    On the shared fault platform, after the broker-outage scenario restarted the
    embedded broker, this check found none of the dead letters although the
    consumers had moved past the messages: not yet diagnosed (docs/faults.md).
    """
    async with running_platform(tmp_path_factory, postgres_admin_url, {"LOYALTY_LOG_LEVEL": "WARNING"}) as platform:
        yield platform


async def test_malformed_messages_are_dead_lettered_and_consumers_keep_going(
    fresh_platform: Platform, scale: Scale
) -> None:
    fault_platform = fresh_platform
    books = Books()
    problems: list[str] = []
    async with stubs_for(fault_platform) as stubs:
        cast_ = await cast(stubs, books, members=1)
        keys, sentinels, applied_after_s = await _send_then_sentinels(
            fault_platform,
            stubs,
            cast_,
            lambda producer: _send_malformed(producer, cast_, scale.malformed_per_topic),
            problems,
        )
        before_books = sum(e.points for e in await ledger(stubs, cast_.members[0]))
        if before_books != 100_000 + 20 + 7:
            problems.append(f"{cast_.members[0]}: ledger sums to {before_books}, not the credit and two sentinels")
    dead = 0
    for topic, topic_keys in keys.items():
        groups = _groups_of(topic)
        found = await _dead_letters(fault_platform.kafka_bootstrap, topic, topic_keys, groups)
        dead += len(found)
        missing = [(k, g) for k in topic_keys for g in groups if (k, g) not in found]
        problems += [f"{topic}: {key.decode()} not dead-lettered by {group}" for key, group in missing]
        problems += [
            f"{topic}: {k.decode()} dead-lettered by {g} without a reason" for (k, g), r in found.items() if not r
        ]
    sent = sum(len(k) for k in keys.values())
    REPORTS.append(
        Report(
            "malformed Kafka messages",
            sent,
            len(sentinels),
            sent,
            len(sentinels),
            0,
            len(problems),
            f"{dead} DLQ entries (one per consumer group); sentinels applied {applied_after_s:.1f}s after",
        )
    )
    assert problems == [], "\n".join(problems)


async def _wait_applied(stubs: Stubs, member_id: str, wanted: set[str], problems: list[str]) -> float:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if wanted <= {e.idempotency_key for e in await ledger(stubs, member_id)}:
            return time.monotonic()
        await asyncio.sleep(0.2)
    problems.append(f"sentinels {sorted(wanted)} not applied after {DEADLINE_S:.0f}s: a consumer stopped")
    return time.monotonic()


async def test_fuzzed_events_of_every_type_never_stop_a_consumer(fresh_platform: Platform, scale: Scale) -> None:
    """Well-formed envelopes around hypothesis-made payloads (huge and NUL-bearing strings, integer edges,
    timestamps out of range, unknown enums): each consumer applies or dead-letters every one and goes on."""
    problems: list[str] = []
    async with stubs_for(fresh_platform) as stubs:
        cast_ = await cast(stubs, Books(), members=2)
        # The fuzzed events name the second member; the first one's ledger stays small for the sentinels' check.
        # In a thread: at full length generating takes seconds, and the channels' keepalives must not starve.
        fuzzed = await asyncio.to_thread(_fuzzed_events, cast_.members[1], scale.malformed_per_topic)

        async def send_fuzzed(producer: AIOKafkaProducer) -> None:
            for topic, envelope in fuzzed:
                await producer.send_and_wait(
                    topic, envelope.SerializeToString(), key=envelope.subject.encode(), headers=kafka_headers(envelope)
                )

        _, sentinels, applied_after_s = await _send_then_sentinels(fresh_platform, stubs, cast_, send_fuzzed, problems)
    problems += [f"{name} stopped" for name in SERVICE_NAMES if not fresh_platform.service_running(name)]
    lag = await _settled_lag(fresh_platform)
    REPORTS.append(
        Report(
            "fuzzed Kafka events",
            len(fuzzed),
            len(sentinels),
            0,
            len(sentinels),
            0,
            len(problems) + len(lag),
            f"{len({e.type for _, e in fuzzed})} event types; sentinels applied {applied_after_s:.1f}s after",
        )
    )
    assert problems + lag == [], "\n".join(problems + lag)


async def _send_then_sentinels(
    platform: Platform,
    stubs: Stubs,
    cast_: Cast,
    send: Callable[[AIOKafkaProducer], Awaitable[T]],
    problems: list[str],
) -> tuple[T, dict[str, str], float]:
    """`send`, then the sentinels behind it; what `send` returned, the sentinels, and how long after it they applied."""
    producer = AIOKafkaProducer(
        bootstrap_servers=platform.kafka_bootstrap, enable_idempotence=False, max_request_size=2_000_000
    )
    await producer.start()
    try:
        sent = await send(producer)
        sent_at = time.monotonic()
        sentinels = await _send_sentinels(producer, stubs, cast_)
    finally:
        await producer.stop()
    applied_after = await _wait_applied(stubs, cast_.members[0], set(sentinels.values()), problems)
    await _tier_views_learn_a_new_member(stubs, problems)
    return sent, sentinels, applied_after - sent_at


async def _settled_lag(platform: Platform) -> list[str]:
    """The consumer groups still behind the end of their topics once DEADLINE_S passed, or none."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        lag = await consumer_lag(platform)
        if not lag or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(1)
