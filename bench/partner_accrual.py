"""Partner accrual ingest over Kafka and over the gRPC stream, next to raw COPY into Postgres in the same run.

    python bench/partner_accrual.py [--records 1000000] [--members 100000] [--batch 1000]
                                    [--window 2] [--whole-platform] [--program FILE]

Starts the platform (embedded Postgres and broker), stops every service but
points unless `--whole-platform` (the others would be working through a
million PointsEarned events, on the same two cores, while points ingests),
registers an airline with a key and a MILE rate, and creates the members with
COPY (setup, not measured). Then, each timed until every record has its durable
answer in the points database:

- ceiling: asyncpg COPY of `--records` rows shaped like accepted accruals into
  a plain table on the same Postgres;
- for what limits any intake that answers a batch at a time: the same rows
  COPYed a batch of `--batch` at a time, each batch committed, into a plain
  table, and into one keyed by (partner, transaction id), the duplicate check
  no intake can skip. No parsing, no member check, no ledger. Unlike the
  ceiling's, these tables are logged, as a durable intake's are: each commit
  waits for its WAL to reach the disk;
- staged only: what PostgreSQL would do per batch for an intake that answered
  ACCEPTED once a record is staged and credited the ledger later (members
  looked up, new ids kept under their key, an answer per record), in one
  statement and a commit per batch; no parsing, conversion, ledger or event;
- Kafka: `--records` AccrualRecords produced to partner.accruals.v1 and
  applied by the points service;
- gRPC: the same number through StreamAccruals in batches of `--batch`, at
  most `--window` unanswered at a time (two by default), with the
  acknowledgement latency of each batch (after the Kafka run's events have all
  been published). With two, a batch's latency includes the time it waits for
  the one before; with one, it is the service's time for the batch alone.

Records have distinct transaction ids except about 1% resent (answered
DUPLICATE), and about 5% go to ten hot members.

With `--program` (e.g. examples/programs/hotel.yaml) a program is applied
first: accepted accruals then get its pending window and expiry, and move its
tiers (points basis), as in a configured deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
from aiokafka import AIOKafkaProducer
from benchkit import apply_program, figures, platform
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc

from services.common.kafka import PARTNER_ACCRUALS_TOPIC
from services.common.settings import SERVICE_NAMES
from services.dev import Platform

# Yesterday in UTC: a day already begun in every program's time zone (a later one is refused as in the future).
ACTIVITY_DATE = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
HOT_MEMBERS = 10


async def _partner(running: Platform, partner_id: str) -> str:
    async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel:
        admin = partners_pb2_grpc.PartnerServiceStub(channel)
        await admin.RegisterPartner(
            pb.RegisterPartnerRequest(partner_id=partner_id, name="Bench Air", kind=pb.PARTNER_KIND_AIRLINE)
        )
        since = Timestamp()
        since.FromDatetime(datetime(2020, 1, 1, tzinfo=UTC))
        rate = pb.ConversionRate(unit="MILE", points_per_unit="1", effective_from=since)
        await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))
        issued = await admin.IssuePartnerCredential(pb.IssuePartnerCredentialRequest(partner_id=partner_id))
    return issued.api_key


async def _members(connection: asyncpg.Connection, count: int, tier: str) -> list[str]:
    members = [f"bench-{index:07d}" for index in range(count)]
    await connection.copy_records_to_table(
        "members", records=[(m, "Smith", tier) for m in members], columns=["member_id", "family_name", "tier"]
    )
    return members


def _records(prefix: str, members: list[str], count: int, rng: random.Random) -> list[pb.AccrualRecord]:
    """`count` records; about 1% repeat an earlier transaction id, about 5% go to the hot members."""
    records: list[pb.AccrualRecord] = []
    for index in range(count):
        if records and rng.random() < 0.01:
            records.append(records[rng.randrange(len(records))])
            continue
        member = members[rng.randrange(HOT_MEMBERS)] if rng.random() < 0.05 else rng.choice(members)
        records.append(
            pb.AccrualRecord(
                partner_transaction_id=f"{prefix}-{index}",
                member_id=member,
                activity_type=pb.ACTIVITY_TYPE_FLIGHT,
                activity_date=ACTIVITY_DATE,
                unit="MILE",
                amount=str(rng.randrange(100, 5000)),
            )
        )
    return records


def _copy_rows(records: list[pb.AccrualRecord]) -> list[tuple[object, ...]]:
    now = datetime.now(UTC)
    return [("bench", r.partner_transaction_id, r.member_id, int(r.amount), int(r.amount), now) for r in records]


async def _copy_table(connection: asyncpg.Connection, name: str, *, keyed: bool = False, temporary: bool) -> None:
    key = ", PRIMARY KEY (partner_id, partner_transaction_id)" if keyed else ""
    kind = "TEMP TABLE" if temporary else "TABLE"
    await connection.execute(
        f"""CREATE {kind} {name} (partner_id text, partner_transaction_id text, member_id text,
                                 points bigint, amount numeric, received_at timestamptz{key})"""
    )


async def _copy_ceiling(connection: asyncpg.Connection, records: list[pb.AccrualRecord]) -> float:
    await _copy_table(connection, "copy_ceiling", temporary=True)
    rows = _copy_rows(records)
    started = time.perf_counter()
    await connection.copy_records_to_table("copy_ceiling", records=rows)
    return len(rows) / (time.perf_counter() - started)


async def _copy_in_batches(
    connection: asyncpg.Connection, records: list[pb.AccrualRecord], size: int, *, keyed: bool
) -> float:
    """The least a batch-at-a-time intake costs: each batch COPYed and committed on its own, nothing else done;
    `keyed` adds the one check no intake can skip, the unique (partner, transaction id). Resent records are left
    out (an intake answers them DUPLICATE), in both, so that the two copy the same rows."""
    name = "bench_copy_batches_keyed" if keyed else "bench_copy_batches"
    await _copy_table(connection, name, keyed=keyed, temporary=False)
    rows = list({row[1]: row for row in _copy_rows(records)}.values())
    started = time.perf_counter()
    for start in range(0, len(rows), size):
        await connection.copy_records_to_table(name, records=rows[start : start + size])
    return len(rows) / (time.perf_counter() - started)


async def _staged_in_batches(connection: asyncpg.Connection, records: list[pb.AccrualRecord], size: int) -> float:
    """The least an intake answering ACCEPTED once a record is staged (its points credited to the ledger later)
    would write per batch, in PostgreSQL alone: the batch's members looked up, the new transaction ids kept
    under their unique key, and an answer per record for the control totals, in one statement and a commit per
    batch. No parsing, conversion, ledger or event: what is left of the path if the ledger left it."""
    await connection.execute(
        """CREATE TABLE bench_staged (partner_transaction_id text PRIMARY KEY, member_id text NOT NULL,
                                      amount numeric NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
           CREATE TABLE bench_staged_answers (partner_transaction_id text NOT NULL, status text NOT NULL,
                                              amount numeric NOT NULL,
                                              received_at timestamptz NOT NULL DEFAULT now())"""
    )
    statement = await connection.prepare(
        """WITH incoming AS (SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[]) AS r (id, member_id, amount)),
                staged_now AS (
                    INSERT INTO bench_staged (partner_transaction_id, member_id, amount)
                    SELECT i.id, i.member_id, i.amount FROM incoming i JOIN members m USING (member_id)
                     WHERE m.status = 'active'
                    ON CONFLICT DO NOTHING RETURNING partner_transaction_id)
           INSERT INTO bench_staged_answers (partner_transaction_id, status, amount)
           SELECT i.id, CASE WHEN s.partner_transaction_id IS NULL THEN 'not_accepted' ELSE 'accepted' END, i.amount
             FROM incoming i LEFT JOIN staged_now s ON s.partner_transaction_id = i.id"""
    )
    started = time.perf_counter()
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        async with connection.transaction():
            await statement.fetch(
                [r.partner_transaction_id for r in batch], [r.member_id for r in batch], [int(r.amount) for r in batch]
            )
    return len(records) / (time.perf_counter() - started)


async def _answered(connection: asyncpg.Connection, partner_id: str, expected: int) -> None:
    query = "SELECT count(*) FROM partner_accrual_results WHERE partner_id = $1"
    while await connection.fetchval(query, partner_id) < expected:  # noqa: ASYNC110 (polling another process's writes)
        await asyncio.sleep(0.2)


async def _kafka(running: Platform, connection: asyncpg.Connection, records: list[pb.AccrualRecord]) -> float:
    partner_id = "bench-kafka"
    key = await _partner(running, partner_id)
    headers = [("partner-id", partner_id.encode()), ("authorization", f"Bearer {key}".encode())]
    producer = AIOKafkaProducer(
        bootstrap_servers=running.kafka_bootstrap, enable_idempotence=False, linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for record in records:
            await producer.send(
                PARTNER_ACCRUALS_TOPIC, record.SerializeToString(), key=record.member_id.encode(), headers=headers
            )
        await producer.flush()
    finally:
        await producer.stop()
    await _answered(connection, partner_id, len(records))
    return len(records) / (time.perf_counter() - started)


def _batches(records: list[pb.AccrualRecord], size: int) -> Iterator[pb.AccrualBatch]:
    for start in range(0, len(records), size):
        yield pb.AccrualBatch(records=records[start : start + size])


async def _grpc(
    running: Platform, records: list[pb.AccrualRecord], size: int, unanswered: int
) -> tuple[float, list[float]]:
    """Batches on one stream, at most `unanswered` at a time, as a partner's client would send."""
    key = await _partner(running, "bench-grpc")
    latencies: list[float] = []
    sent: list[float] = []
    window = asyncio.Semaphore(unanswered)

    async def requests() -> AsyncIterator[pb.AccrualBatch]:
        for batch in _batches(records, size):
            await window.acquire()
            sent.append(time.perf_counter())
            yield batch

    started = time.perf_counter()
    async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel:
        intake = partners_pb2_grpc.PartnerAccrualServiceStub(channel)
        stream = intake.StreamAccruals(requests(), metadata=(("authorization", f"Bearer {key}"),))
        async for _ in stream:
            latencies.append(time.perf_counter() - sent[len(latencies)])
            window.release()
    return len(records) / (time.perf_counter() - started), latencies


async def _outbox_drained(connection: asyncpg.Connection) -> None:
    """Wait until the relay published every event, so one run's backlog does not slow the next."""
    while await connection.fetchval("SELECT count(*) FROM outbox_pending"):  # noqa: ASYNC110
        await asyncio.sleep(0.5)


async def main(
    count: int, member_count: int, batch: int, window: int, whole_platform: bool, program: Path | None
) -> None:
    rng = random.Random(7)
    async with platform() as running:
        applied = await apply_program(running, program) if program else None
        # Members start in the program's lowest tier, as enrolling would put them.
        tier = applied.tiers.levels[0].name if applied and applied.tiers.levels else "base"
        if not whole_platform:
            for name in SERVICE_NAMES:
                if name != "points":
                    await running.stop_service(name)
        connection = await asyncpg.connect(running.database_url("points"))
        try:
            members = await _members(connection, member_count, tier)
            ceiling = await _copy_ceiling(connection, _records("copy", members, count, rng))
            batched = await _copy_in_batches(connection, _records("batches", members, count, rng), batch, keyed=False)
            keyed = await _copy_in_batches(connection, _records("keyed", members, count, rng), batch, keyed=True)
            staged = await _staged_in_batches(connection, _records("staged", members, count, rng), batch)
            kafka_rate = await _kafka(running, connection, _records("kafka", members, count, rng))
            await _outbox_drained(connection)
            grpc_rate, latencies = await _grpc(running, _records("grpc", members, count, rng), batch, window)
        finally:
            await connection.close()
    acks = figures(latencies, 1.0)
    services = "whole platform" if whole_platform else "points service alone"
    print(f"{count} records, {member_count} members, ~1% resent, ~5% to {HOT_MEMBERS} hot members, {services}")
    print(f"  program: {program or 'none'}")
    print(f"  ceiling: COPY into a plain table     {ceiling:10.0f} rows/s")
    print(f"  COPY, a commit per batch of {batch:<5}    {batched:10.0f} rows/s      ratio {batched / ceiling:.3f}")
    print(f"  the same, keyed by transaction id    {keyed:10.0f} rows/s      ratio {keyed / ceiling:.3f}")
    print(f"  staged only, PostgreSQL's share      {staged:10.0f} records/s   ratio {staged / ceiling:.3f}")
    print(f"  Kafka partner.accruals.v1            {kafka_rate:10.0f} records/s   ratio {kafka_rate / ceiling:.3f}")
    print(f"  gRPC StreamAccruals, batch {batch:<5}    {grpc_rate:10.0f} records/s   ratio {grpc_rate / ceiling:.3f}")
    print(f"  gRPC batch acknowledgement, {window} unanswered   p50 {acks.p50_ms:8.1f} ms   p99 {acks.p99_ms:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--window", type=int, default=2, help="batches a client keeps unanswered on the stream")
    parser.add_argument("--whole-platform", action="store_true", help="keep the other services running")
    parser.add_argument("--program", type=Path, help="a program file to apply first")
    options = parser.parse_args()
    asyncio.run(
        main(options.records, options.members, options.batch, options.window, options.whole_platform, options.program)
    )
