"""`loyalty serve` reads its tokens once: the gRPC API and the insights dashboard let in the callers of that one
reading, even when the tokens come through a pipe (`LOYALTY_AUTH_TOKENS_FILE=<(secret-tool ...)`), which has
nothing left to give a second reader. Before, the start-up check, the gRPC server and the dashboard each read the
file: given a pipe, the service never started."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from loyalty.insights.v1 import insights_pb2, insights_pb2_grpc

from services.common.embedded import free_port, terminate
from services.common.settings import KafkaSettings
from tests.conftest import CreateDatabase
from tests.integration.support import code_of, serve, started

ADMIN = "admin-token-" + "a" * 20
as_admin = (("authorization", f"Bearer {ADMIN}"),)


@pytest.fixture
def tokens_pipe(tmp_path: Path) -> Iterator[Path]:
    """A named pipe giving `ops:admin:ADMIN` to its first reader only, as process substitution does."""
    pipe = tmp_path / "tokens"
    os.mkfifo(pipe)

    def write_once() -> None:
        with open(pipe, "w") as writer:  # waits for a reader
            writer.write(f"ops:admin:{ADMIN}\n")

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    yield pipe
    if writer.is_alive():  # nobody read it: open a reader so that the writer's open returns
        os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
    writer.join()


async def test_tokens_from_a_pipe_guard_both_the_grpc_api_and_the_dashboard(
    tokens_pipe: Path, create_database: CreateDatabase, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    grpc_port, dashboard_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    env = {"LOYALTY_AUTH_TOKENS_FILE": str(tokens_pipe), "LOYALTY_INSIGHTS_DASHBOARD_PORT": str(dashboard_port)}
    process = serve("insights", await create_database(), grpc_port, kafka_settings, tmp_path, env)
    log_path = tmp_path / "insights.log"
    try:
        await started(process, log_path, "insights")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            kpis = insights_pb2_grpc.InsightsServiceStub(channel)
            stranger = await code_of(kpis.GetKpis(insights_pb2.GetKpisRequest()))
            # Past the token check, the empty request is refused for what it lacks.
            admin = await code_of(kpis.GetKpis(insights_pb2.GetKpisRequest(), metadata=as_admin))
            assert (stranger, admin) == (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT)
        async with aiohttp.ClientSession() as http:
            page = f"http://127.0.0.1:{dashboard_port}/"
            async with http.get(page) as refused:
                assert refused.status == 401
            async with http.get(page, headers={"Authorization": f"Bearer {ADMIN}"}) as shown:
                assert shown.status == 200
    finally:
        await terminate(process)
