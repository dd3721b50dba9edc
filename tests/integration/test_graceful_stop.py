"""A stopping service cancels no call: those in flight finish, each one answered OK is written.

The points service runs as production runs it (`loyalty serve points`, its own process). Under purchases from
16 clients that call again as soon as they are answered (after UNAVAILABLE, the same purchase after a pause, as
the docs tell clients to), it is told to stop (SIGTERM from an orchestrator, SIGINT from a terminal's Ctrl-C)
while calls wait in the database behind members' rows the test locked, and only then does the test let them
go on. Stopping grpc's server at once answered CANCELLED to the calls it had received but not yet handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2, points_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from services.common.embedded import LOOPBACK, free_port, log_tail
from services.common.migrations import migrate
from services.common.proto_time import timestamp
from services.common.settings import KafkaSettings
from tests.integration.support import eventually, serve

HELD_MEMBERS = 4
HELD_PURCHASES_PER_MEMBER = 2  # the first of each waits on the lock in a batch, the second in the queue
CLIENTS = 16
LOADED_FOR_S = 1.0
# How long the locks stay held after the stop began: well inside the 10 s grace.
HELD_AFTER_STOP_S = 1.5
FIRST_PAUSE_S = 0.2


class Service:
    def __init__(self, process: subprocess.Popen[bytes], address: str, metrics_port: int, log_path: Path) -> None:
        self.process, self.address, self.metrics_port, self.log_path = process, address, metrics_port, log_path

    def log(self) -> str:
        return log_tail(self.log_path, 40)

    def purchases_received(self) -> float:
        """RecordPurchase calls that reached the group commit: in the batches it started, or queued for the next."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.metrics_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name in ("loyalty_group_commit_queued_requests", "loyalty_group_commit_batch_size_sum")
            and sample.labels["use_case"] == "record_purchase"
        )


@pytest.fixture
async def points_service(
    create_database: Callable[[], Awaitable[str]], kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[tuple[Service, str]]:
    """`loyalty serve points` on a fresh database, SERVING; and the database's URL."""
    url = await create_database()
    await migrate(url, "points")
    port, metrics_port = free_port(), free_port()
    process = serve("points", url, port, kafka_settings, tmp_path, {"LOYALTY_POINTS_METRICS_PORT": str(metrics_port)})
    service = Service(process, f"{LOOPBACK}:{port}", metrics_port, tmp_path / "points.log")
    try:
        await eventually(lambda: _serving(service), within=60, what="points SERVING")
        yield service, url
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait)


async def _serving(service: Service) -> bool:
    assert service.process.poll() is None, f"points exited early:\n{service.log()}"
    async with grpc.aio.insecure_channel(service.address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def _all_received(service: Service, expected: int) -> bool:
    return await asyncio.to_thread(service.purchases_received) == expected


def _purchase(member: str) -> points_pb2.RecordPurchaseRequest:
    return points_pb2.RecordPurchaseRequest(
        purchase_id=f"p-{uuid.uuid4()}",
        member_id=member,
        amount=Money(amount_minor=1000, currency_code="USD"),
        occurred_at=timestamp(datetime.now(UTC)),
    )


class Client:
    """One client of the load: a purchase after another; UNAVAILABLE, the same one again after a growing pause."""

    def __init__(self, address: str, member: str, service: subprocess.Popen[bytes]) -> None:
        self.address, self.member, self.service = address, member, service
        self.answers: list[tuple[str, str]] = []  # (purchase id, status code name) of each call

    async def run(self) -> None:
        async with grpc.aio.insecure_channel(self.address) as channel:
            points = points_pb2_grpc.PointsServiceStub(channel)
            request, pause = _purchase(self.member), FIRST_PAUSE_S
            while self.service.poll() is None:
                try:
                    await points.RecordPurchase(request, timeout=30)
                except grpc.aio.AioRpcError as error:
                    self.answers.append((request.purchase_id, error.code().name))
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        return
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 2.0)
                else:
                    self.answers.append((request.purchase_id, "OK"))
                    request, pause = _purchase(self.member), FIRST_PAUSE_S


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_service_stopped_under_load_cancels_no_call_and_finishes_those_in_flight(
    points_service: tuple[Service, str], signum: signal.Signals
) -> None:
    """Purchases flow from 16 clients while adjustments wait in the database behind the test's locks."""
    service, url = points_service
    held = [f"held-{uuid.uuid4().hex[:8]}" for _ in range(HELD_MEMBERS)]
    loaded = [f"load-{uuid.uuid4().hex[:8]}" for _ in range(CLIENTS)]
    async with grpc.aio.insecure_channel(service.address) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        await _enroll(points, held + loaded)
        clients = [Client(service.address, member, service.process) for member in loaded]
        load = [asyncio.create_task(client.run()) for client in clients]
        adjustments = [
            points_pb2.AdjustPointsRequest(
                member_id=member, points=5, reason="goodwill", actor="test", idempotency_key=str(uuid.uuid4())
            )
            for member in held
        ]
        async with _locked(url, held) as release:
            held_calls = [asyncio.ensure_future(points.AdjustPoints(r, timeout=30)) for r in adjustments]
            await eventually(lambda: _waiting_on_locks(url, len(held)), what="adjustments waiting on the locks")
            await asyncio.sleep(LOADED_FOR_S)

            service.process.send_signal(signum)
            await asyncio.sleep(HELD_AFTER_STOP_S)
            assert service.process.poll() is None, f"stopped with calls in flight:\n{service.log()}"
            await release()
            held_outcomes = await asyncio.gather(*held_calls, return_exceptions=True)
        code = await asyncio.wait_for(asyncio.to_thread(service.process.wait), 30)
        await asyncio.gather(*load)

    assert _codes(held_outcomes) == ["OK"] * len(adjustments), service.log()
    adjusted = await _fetch_set(
        url,
        "SELECT idempotency_key FROM ledger_entries WHERE idempotency_key = ANY($1::text[])",
        [f"adjust:{r.idempotency_key}" for r in adjustments],
    )
    assert len(adjusted) == len(adjustments)
    answers = [answer for client in clients for answer in client.answers]
    assert len([a for a in answers if a[1] == "OK"]) > CLIENTS, "the load did not get going"
    assert {code for _, code in answers} <= {"OK", "UNAVAILABLE"}, (
        f"{[a for a in answers if a[1] != 'OK']}\n{service.log()}"
    )
    answered_ok = {purchase for purchase, code in answers if code == "OK"}
    assert await _purchases(url, [purchase for purchase, _ in answers]) == answered_ok, (
        "a purchase answered OK is not written, or one refused is"
    )
    assert code == 0, service.log()


async def test_purchases_waiting_in_a_group_commit_batch_are_written_and_answered_when_the_service_stops(
    points_service: tuple[Service, str],
) -> None:
    """The first batch waits on the test's locks, the members' second purchases in the queue behind it."""
    service, url = points_service
    members = [f"held-{uuid.uuid4().hex[:8]}" for _ in range(HELD_MEMBERS)]
    async with grpc.aio.insecure_channel(service.address) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        await _enroll(points, members)
        requests = [_purchase(member) for _ in range(HELD_PURCHASES_PER_MEMBER) for member in members]
        async with _locked(url, members) as release:
            calls = [asyncio.ensure_future(points.RecordPurchase(r, timeout=30)) for r in requests]
            await eventually(lambda: _waiting_on_locks(url, 1), what="a batch waiting on the locks")
            # Every call received: one still on its way when the service stops is refused as not run, which is not
            # what this test is about.
            await eventually(lambda: _all_received(service, len(requests)), what="every purchase received")
            service.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(HELD_AFTER_STOP_S)
            assert service.process.poll() is None, f"stopped with calls in flight:\n{service.log()}"
            await release()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
        code = await asyncio.wait_for(asyncio.to_thread(service.process.wait), 30)

    assert _codes(outcomes) == ["OK"] * len(requests), service.log()
    assert await _purchases(url, [r.purchase_id for r in requests]) == {r.purchase_id for r in requests}
    earned_events = await _fetch_set(
        url,
        "SELECT event_id::text FROM outbox WHERE event_type LIKE '%PointsEarned' AND message_key = ANY($1)",
        members,
    )
    assert len(earned_events) == len(requests), "each purchase's event is in the outbox, to be published"
    assert code == 0, service.log()


async def _enroll(points: points_pb2_grpc.PointsServiceStub, members: list[str]) -> None:
    for member in members:
        await points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member), timeout=10)


def _codes(outcomes: list[object]) -> list[str]:
    return [o.code().name if isinstance(o, grpc.aio.AioRpcError) else "OK" for o in outcomes]


@contextlib.asynccontextmanager
async def _locked(url: str, members: list[str]) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """The members' rows locked by the test until it calls what this yields (or the block ends)."""
    blocker = await asyncpg.connect(url)
    try:
        locking = blocker.transaction()
        await locking.start()
        await blocker.execute("SELECT 1 FROM members WHERE member_id = ANY($1::text[]) FOR UPDATE", members)
        yield locking.rollback
    finally:
        await blocker.close()


async def _waiting_on_locks(url: str, sessions: int) -> bool:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval(query) >= sessions)
    finally:
        await conn.close()


async def _purchases(url: str, purchase_ids: list[str]) -> set[str]:
    return await _fetch_set(url, "SELECT purchase_id FROM purchases WHERE purchase_id = ANY($1::text[])", purchase_ids)


async def _fetch_set(url: str, query: str, values: list[str]) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {row[0] for row in await conn.fetch(query, values)}
    finally:
        await conn.close()
