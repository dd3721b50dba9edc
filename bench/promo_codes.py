"""A promo campaign's codes generated and stored, next to a raw COPY of as many codes into PostgreSQL.

    python bench/promo_codes.py [--codes 100000]

Times one CreatePromoCampaign call over gRPC (drawing the codes, inserting
them set-based into the rewards database, committing); the ceiling is COPY of
the same number of ready-made code strings into an empty table of the same
database in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg
import grpc
from benchkit import platform
from loyalty.rewards.v1 import catalog_pb2, codes_pb2, codes_pb2_grpc

from services.rewards.codes import new_codes


async def _campaign_seconds(address: str, count: int) -> float:
    request = codes_pb2.CreatePromoCampaignRequest(
        name="bench",
        value=codes_pb2.CodeValue(kind=catalog_pb2.REWARD_KIND_DISCOUNT_PERCENT, percent_off=10),
        code_count=count,
        uses_per_code=1,
        idempotency_key=str(uuid.uuid4()),
    )
    async with grpc.aio.insecure_channel(address) as channel:
        started = time.perf_counter()
        await codes_pb2_grpc.CodesServiceStub(channel).CreatePromoCampaign(request, timeout=600)
        return time.perf_counter() - started


async def _copy_seconds(database_url: str, count: int) -> float:
    rows = [(code,) for code in new_codes(count)]
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TEMP TABLE copied (code text PRIMARY KEY)")
        started = time.perf_counter()
        await connection.copy_records_to_table("copied", records=rows)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def main(count: int) -> None:
    async with platform() as running:
        generated = count / await _campaign_seconds(running.grpc_address("rewards"), count)
        ceiling = count / await _copy_seconds(running.database_url("rewards"), count)
    print(f"promo codes generated  {generated:9.0f} codes/s")
    print(f"raw COPY ceiling       {ceiling:9.0f} codes/s   ratio {generated / ceiling:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().codes))
