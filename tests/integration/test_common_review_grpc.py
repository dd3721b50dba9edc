"""Review of services/common (grpc_server.py): how a call met by a read-only database is answered."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from tests.integration.support import PoolFactory

URLS: dict[int, str] = {}


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    """The points database, as the conftest's `pool`, with its URL kept for the operator's session."""
    url, pool = await migrated_pool("points")
    URLS[id(pool)] = url
    return pool


async def _set_read_only(pool: asyncpg.Pool, value: str) -> None:
    """The database takes no writes (a failover's DNS still naming the demoted primary); the pool reconnects."""
    admin = await asyncpg.connect(URLS[id(pool)])
    try:
        await admin.execute("SET default_transaction_read_only = off")
        database = await admin.fetchval("SELECT current_database()")
        await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {value}')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()


async def test_a_call_met_by_a_read_only_database_is_unavailable_and_names_no_internals(
    pool: asyncpg.Pool, channel: grpc.aio.Channel
) -> None:
    """refusal_of maps only DATABASE_UNAVAILABLE to UNAVAILABLE; ReadOnlySQLTransactionError (like
    TooManyConnectionsError) is re-raised, and grpc answers UNKNOWN with the exception's class and text."""
    points = points_pb2_grpc.PointsServiceStub(channel)
    await _set_read_only(pool, "on")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            # Twice: the first call may meet a session the operator cut (already UNAVAILABLE today).
            for _ in range(2):
                try:
                    await points.EnrollMember(pb.EnrollMemberRequest(member_id=f"m-{uuid.uuid4().hex[:8]}"))
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    last = error
            raise last
    finally:
        await _set_read_only(pool, "off")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
    assert "asyncpg" not in (refused.value.details() or "")
