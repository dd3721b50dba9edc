"""The soak: mixed load at a steady rate, memory and open connections of every process sampled as it runs.

Each sample reads, per service process, its resident memory, its open file
descriptors and TCP connections (psutil), and per database the server's
sessions (pg_stat_activity, read-only). Growth is reported per sample; what
must hold is that it levels off: connections stay within the pools' bounds and
memory grows less in the second half of the run than in the first (plus a
small allowance for noise). The books must balance as in every scenario.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import psutil
import pytest

from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.faults.books import Books
from tests.faults.load import Load
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario

pytestmark = pytest.mark.faults

POOL_MAX = 10  # services.common.db.create_pool
# Background clients of a service's own database beside its pool: none, every session comes from the pool.
MEMORY_NOISE_MB = 15.0


@dataclass(frozen=True)
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    descriptors: dict[str, int]
    sockets: dict[str, int]
    sessions: dict[str, int]


async def _sample(platform: Platform, at_s: float) -> Sample:
    rss, descriptors, sockets, sessions = {}, {}, {}, {}
    for name in SERVICE_NAMES:
        pid = platform.service_pid(name)
        assert pid is not None, f"{name} is not running"
        process = psutil.Process(pid)
        rss[name] = process.memory_info().rss / 2**20
        descriptors[name] = process.num_fds()
        sockets[name] = len(process.net_connections(kind="tcp"))
    connection = await asyncpg.connect(platform.database_url("points"))
    try:
        for name in SERVICE_NAMES:
            sessions[name] = int(
                await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", platform.database_name(name)
                )
            )
    finally:
        await connection.close()
    return Sample(at_s, rss, descriptors, sockets, sessions)


def _growth(samples: list[Sample]) -> tuple[list[str], str]:
    """Problems, and a one-line summary of memory growth per service (first half, second half)."""
    problems, summary = [], []
    first, middle, last = samples[0], samples[len(samples) // 2], samples[-1]
    for name in SERVICE_NAMES:
        early = middle.rss_mb[name] - first.rss_mb[name]
        late = last.rss_mb[name] - middle.rss_mb[name]
        summary.append(f"{name} RSS {first.rss_mb[name]:.0f}→{last.rss_mb[name]:.0f} MB (+{early:.1f}, +{late:.1f})")
        if late > max(early, 0.0) + MEMORY_NOISE_MB:
            problems.append(f"{name}: memory still growing: +{early:.1f} MB in the first half, +{late:.1f} MB after")
        sessions = max(s.sessions[name] for s in samples)
        if sessions > POOL_MAX + 1:  # the pool, and the harness's own audit session on the points database
            problems.append(f"{name}: {sessions} database sessions, more than its pool of {POOL_MAX}")
        if last.descriptors[name] > first.descriptors[name] + 20:
            problems.append(f"{name}: file descriptors {first.descriptors[name]} → {last.descriptors[name]}")
    return problems, "; ".join(summary)


async def test_a_steady_load_levels_off(fault_platform: Platform, scale: Scale) -> None:
    samples: list[Sample] = []
    interval = scale.soak_s / scale.soak_samples
    growth: list[str] = []
    summary = ""

    async def soak(_: Load) -> str:
        nonlocal summary
        loop = asyncio.get_running_loop()
        start = loop.time()
        samples.append(await _sample(fault_platform, 0.0))
        for n in range(1, scale.soak_samples + 1):
            await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
            samples.append(await _sample(fault_platform, loop.time() - start))
        problems, summary = _growth(samples)
        growth.extend(problems)
        return f"{scale.soak_s:.0f}s, {len(samples)} samples: {summary}"

    async def levels_off(*_: object) -> list[str]:
        return growth

    report, findings = await run_scenario("soak", fault_platform, scale, soak, books=Books(), check=levels_off)
    for sample in samples:
        print(
            f"soak t={sample.at_s:5.0f}s "
            + " ".join(
                f"{n}: {sample.rss_mb[n]:.0f}MB fds={sample.descriptors[n]} tcp={sample.sockets[n]} "
                f"db={sample.sessions[n]}"
                for n in SERVICE_NAMES
            )
        )
    record(report, findings)
