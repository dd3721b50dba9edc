"""Checking the books against the platform once the load stopped.

Balances, ledgers and redemptions are read through the public gRPC APIs only.
Stuck rows and double application are read with read-only SQL from each
service's own database (a test harness may look; no service ever reads
another's tables), and consumer lag from the broker's committed offsets.
Each finding is one discrepancy; the count is computed, then compared with 0.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import rewards_pb2

from services.common.kafka import (
    PARTNER_ACCRUALS_TOPIC,
    POINTS_EVENTS_TOPIC,
    PURCHASES_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
)
from services.dev import Platform
from tests.faults.books import Books
from tests.faults.world import Stubs

CONSUMER_GROUPS = {
    "points.purchases": PURCHASES_TOPIC,
    "points.partner-accruals": PARTNER_ACCRUALS_TOPIC,
    "points.goodwill": TICKETS_EVENTS_TOPIC,
    "rewards.member-tiers": POINTS_EVENTS_TOPIC,
    "rewards.perks": POINTS_EVENTS_TOPIC,
    "tickets.member-tiers": POINTS_EVENTS_TOPIC,
    **{f"insights.{topic}": topic for topic in (POINTS_EVENTS_TOPIC, PURCHASES_TOPIC, REWARDS_EVENTS_TOPIC)},
    f"insights.{TICKETS_EVENTS_TOPIC}": TICKETS_EVENTS_TOPIC,
    "notifications.points": POINTS_EVENTS_TOPIC,
    "notifications.earnings": POINTS_EVENTS_TOPIC,
    "notifications.rewards": REWARDS_EVENTS_TOPIC,
    "notifications.tickets": TICKETS_EVENTS_TOPIC,
}

# Rows that must not stay behind once the platform is quiet, per database.
STUCK_ROWS = {
    "points": {
        "unpublished outbox rows": "SELECT count(*) FROM outbox_pending",
        "holds still open": "SELECT count(*) FROM holds WHERE status = 'held'",
        "holds open past their ttl": "SELECT count(*) FROM holds WHERE status = 'held' AND expires_at < now()",
        "ledger keys applied twice": """SELECT count(*) FROM (SELECT idempotency_key FROM ledger_entries
                                          GROUP BY 1 HAVING count(*) > 1) twice""",
    },
    "rewards": {
        "unpublished outbox rows": "SELECT count(*) FROM outbox_pending",
        "redemptions not settled": "SELECT count(*) FROM redemptions WHERE step NOT IN ('completed', 'cancelled')",
    },
    "tickets": {
        "unpublished outbox rows": "SELECT count(*) FROM outbox_pending",
    },
    "notifications": {
        "unpublished outbox rows": "SELECT count(*) FROM outbox_pending",
        # The fault platform runs the scheduler every 2 s (conftest.FAULT_ENV).
        "messages overdue and not sent": """SELECT count(*) FROM notifications
                                            WHERE status = 'scheduled' AND due_at < now() - interval '30 seconds'""",
        "triggers held for members known by now": """SELECT count(*) FROM held_triggers h JOIN members USING (member_id)
                                                     WHERE h.held_at < now() - interval '30 seconds'""",
    },
}


@dataclass
class Findings:
    applied: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def discrepancies(self) -> int:
        return len(self.problems)


async def _all_pages(fetch: Callable[[str], Awaitable[Any]], items: str) -> list[Any]:
    """Every item of a paged listing: `fetch(page_token)` answers a page with `items` and `next_page_token`."""
    found: list[Any] = []
    token = ""
    while True:
        page = await fetch(token)
        found.extend(getattr(page, items))
        token = page.next_page_token
        if not token:
            return found


async def ledger(stubs: Stubs, member_id: str) -> list[points_pb2.LedgerEntry]:
    return await _all_pages(
        lambda token: stubs.points.ListLedgerEntries(
            points_pb2.ListLedgerEntriesRequest(member_id=member_id, page_size=500, page_token=token), timeout=10
        ),
        "entries",
    )


async def redemptions(stubs: Stubs, member_id: str) -> list[rewards_pb2.Redemption]:
    return await _all_pages(
        lambda token: stubs.rewards.ListRedemptions(
            rewards_pb2.ListRedemptionsRequest(member_id=member_id, page_size=500, page_token=token), timeout=10
        ),
        "redemptions",
    )


async def _member_books(stubs: Stubs, books: Books, member_id: str, findings: Findings) -> None:
    entries = await ledger(stubs, member_id)
    balance = await stubs.points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id), timeout=10)
    problems = findings.problems
    if sum(e.points for e in entries) != balance.balance:
        problems.append(f"{member_id}: balance {balance.balance} is not the sum of its entries")
    if balance.held:
        problems.append(f"{member_id}: {balance.held} points still held")
    by_key = Counter(e.idempotency_key for e in entries)
    points_of = {e.idempotency_key: e.points for e in entries}
    expected = {c.key: c for c in books.credits.values() if c.member_id == member_id}
    for key, credit in expected.items():
        if by_key[key] == 0:
            problems.append(f"{member_id}: {credit.via} {key} ({credit.points} points) was accepted but never applied")
        elif points_of[key] != credit.points:
            problems.append(f"{member_id}: {key} applied with {points_of[key]} points, {credit.points} were answered")
        else:
            findings.applied += 1
    for key, count in by_key.items():
        if count > 1:
            problems.append(f"{member_id}: {key} applied {count} times")
        if key in books.refused_keys:
            problems.append(f"{member_id}: {key} was refused but written")
    captures = [e for e in entries if e.kind == points_pb2.ENTRY_KIND_REDEMPTION]
    unexpected = [
        k for k in by_key if k not in expected and k not in books.refused_keys and not k.startswith("capture:")
    ]
    problems += [f"{member_id}: ledger entry {k} nobody sent" for k in unexpected]
    await _redemptions_match(stubs, books, member_id, captures, findings)


async def _redemptions_match(
    stubs: Stubs, books: Books, member_id: str, captures: list[points_pb2.LedgerEntry], findings: Findings
) -> None:
    listed = {r.redemption_id: r for r in await redemptions(stubs, member_id)}
    answered = {r.redemption_id: r for r in books.redemptions.values() if r.member_id == member_id}
    completed = {i: r for i, r in listed.items() if r.status == rewards_pb2.REDEMPTION_STATUS_COMPLETED}
    problems = findings.problems
    if set(completed) != set(answered):
        problems.append(f"{member_id}: redemptions answered {sorted(answered)} but completed {sorted(completed)}")
    codes = [r.code for r in completed.values()]
    if len(set(codes)) != len(codes) or "" in codes:
        problems.append(f"{member_id}: completed redemptions' codes are not one each: {codes}")
    if len(captures) != len(completed):
        problems.append(f"{member_id}: {len(captures)} captured holds for {len(completed)} completed redemptions")
    if -sum(e.points for e in captures) != sum(r.points for r in completed.values()):
        problems.append(f"{member_id}: captures and completed redemptions differ in points")
    findings.applied += min(len(captures), len(completed))


async def _captured_holds(platform: Platform, members: Iterable[str]) -> set[str]:
    """Redemption ids whose points hold was captured, from the points database (read-only)."""
    connection = await asyncpg.connect(platform.database_url("points"))
    try:
        rows = await connection.fetch(
            "SELECT idempotency_key FROM holds WHERE status = 'captured' AND member_id = ANY($1::text[])", list(members)
        )
    finally:
        await connection.close()
    return {r["idempotency_key"].removeprefix("redemption:") for r in rows}


async def stuck_rows(platform: Platform) -> list[str]:
    problems = []
    for service, checks in STUCK_ROWS.items():
        connection = await asyncpg.connect(platform.database_url(service))
        try:
            for what, query in checks.items():
                count = await connection.fetchval(query)
                if count:
                    problems.append(f"{service}: {count} {what}")
        finally:
            await connection.close()
    return problems


LAG_READ_LIMIT_S = 10


async def consumer_lag(platform: Platform) -> list[str]:
    """Messages each consumer group has not committed past (its inbox would still have to see them).

    Committed offsets are read as a member of no group would (OffsetFetch by the
    group's coordinator, without joining); the end is the high watermark a fetch reports.
    A group behind is reported per partition, with whether the broker serves a
    record at the committed offset: "served" means the consumer is not fetching,
    "nothing" that the broker lists offsets it does not serve.
    """
    problems = []
    for group, topic in CONSUMER_GROUPS.items():
        reader = AIOKafkaConsumer(bootstrap_servers=platform.kafka_bootstrap, group_id=group, enable_auto_commit=False)
        try:
            async with asyncio.timeout(LAG_READ_LIMIT_S):
                problems += await _group_lag(reader, group, topic)
        except TimeoutError:
            problems.append(f"consumer {group}: lag not readable within {LAG_READ_LIMIT_S}s")
        except KafkaError as error:
            problems.append(f"consumer {group}: lag not readable: {error!r}")
        finally:
            await reader.stop()
    return problems


async def _group_lag(reader: AIOKafkaConsumer, group: str, topic: str) -> list[str]:
    # position() waits forever for a partition missing from the reader's metadata, which
    # the embedded broker's changing partition counts cause: hence the caller's limit.
    await reader.start()
    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
    reader.assign(partitions)
    behind: dict[TopicPartition, tuple[int, int]] = {}
    for partition in partitions:
        committed = await reader.committed(partition) or 0
        await reader.seek_to_end(partition)
        end = await reader.position(partition)
        if end > committed:
            behind[partition] = (committed, end)
    if not behind:
        return []
    detail = [await _lagging_partition(reader, p, *offsets) for p, offsets in behind.items()]
    total = sum(end - committed for committed, end in behind.values())
    return [f"consumer {group}: {total} messages of {topic} not yet consumed ({'; '.join(detail)})"]


async def _lagging_partition(reader: AIOKafkaConsumer, partition: TopicPartition, committed: int, end: int) -> str:
    reader.seek(partition, committed)
    records = (await reader.getmany(partition, timeout_ms=1000, max_records=1)).get(partition)
    served = f"offset {records[0].offset} served" if records else "nothing served"
    return f"partition {partition.partition} committed {committed} end {end}, {served}"


async def audit(platform: Platform, stubs: Stubs, books: Books) -> Findings:
    findings = Findings(problems=list(books.conflicts))
    findings.problems += [f"{count} x {what}" for what, count in books.internal_errors.items()]
    members = sorted(books.members())
    for member_id in members:
        await _member_books(stubs, books, member_id, findings)
    captured = await _captured_holds(platform, members)
    answered = set(books.redemptions)
    if captured != answered:
        findings.problems.append(
            f"captured holds without a completed redemption: {sorted(captured - answered)}; "
            f"completed redemptions without a captured hold: {sorted(answered - captured)}"
        )
    findings.problems += await stuck_rows(platform)
    findings.problems += await consumer_lag(platform)
    return findings


async def settled_audit(platform: Platform, stubs: Stubs, books: Books, within_s: float) -> Findings:
    """Audit until the books balance or `within_s` passed; the last findings either way."""
    deadline = time.monotonic() + within_s
    while True:
        findings = await audit(platform, stubs, books)
        if not findings.problems or time.monotonic() > deadline:
            return findings
        await asyncio.sleep(1.0)
