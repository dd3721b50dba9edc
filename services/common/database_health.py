"""Does the service's database answer? A periodic check behind `loyalty_database_up` and the gRPC readiness.

Every `CHECK_INTERVAL_S` the monitor runs `SELECT 1` (bounded by
`CHECK_TIMEOUT_S`) on a connection of its own, outside the service's pool: a
pool whose connections are all busy is load, not an outage, and must not take
the service out of rotation. `loyalty_database_up` is the answer of the last
check. `FAILURES_TO_DOWN` checks failed in a row make the database down (one
slow answer is not an outage): the service's health turns NOT_SERVING, so
readiness probes and load balancers send its calls elsewhere, until one check
answers again. The outage is logged once when it starts, every
`STILL_DOWN_LOG_EVERY_S` while it lasts, and once when it ends.

A read-only database (a standby during a failover) answers, so it is up: reads
still work, and writes are refused UNAVAILABLE call by call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from services.common.metrics import DATABASE_UP

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 2.0
CHECK_TIMEOUT_S = 1.5
FAILURES_TO_DOWN = 2
STILL_DOWN_LOG_EVERY_S = 60.0


Connect = Callable[[str], Awaitable[asyncpg.Connection]]
OnChange = Callable[[bool], Awaitable[None]]


@dataclass
class Reachability:
    """The database's state from the checks' answers: down after `failures_to_down` failed in a row, up at the
    first answered one. Starts up: the service reached the database to migrate and open its pool."""

    failures_to_down: int = FAILURES_TO_DOWN
    up: bool = True
    failures: int = 0

    def record(self, answered: bool) -> bool | None:
        """Take one check's outcome; the new state if it changed (True: up again, False: down), else None."""
        if answered:
            self.failures = 0
            if self.up:
                return None
            self.up = True
            return True
        self.failures += 1
        if self.up and self.failures >= self.failures_to_down:
            self.up = False
            return False
        return None


async def _connect(database_url: str) -> asyncpg.Connection:
    connection: asyncpg.Connection = await asyncpg.connect(database_url)
    return connection


class DatabaseMonitor:
    """Checks the database every `interval_s`; tells `on_change` when it goes down or comes back."""

    def __init__(
        self,
        database_url: str,
        on_change: OnChange | None = None,
        *,
        interval_s: float = CHECK_INTERVAL_S,
        timeout_s: float = CHECK_TIMEOUT_S,
        failures_to_down: int = FAILURES_TO_DOWN,
        still_down_log_every_s: float = STILL_DOWN_LOG_EVERY_S,
        connect: Connect = _connect,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = database_url
        self._on_change = on_change
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._state = Reachability(failures_to_down)
        self._still_down_every_s = still_down_log_every_s
        self._connect = connect
        self._clock = clock
        self._connection: asyncpg.Connection | None = None
        self._down_since = 0.0
        self._reported_at = 0.0
        DATABASE_UP.set(1)  # as the state starts: up, the service having just reached it to migrate and open its pool

    @property
    def up(self) -> bool:
        """Whether the database is up, as the checks so far say (not a check of its own)."""
        return self._state.up

    async def run(self) -> None:
        """Check until cancelled."""
        try:
            while True:
                await self.check_once()
                await asyncio.sleep(self._interval_s)
        finally:
            self._discard()

    async def check_once(self) -> bool:
        """One check: the gauge, the state, its log lines and `on_change`; whether the database answered."""
        error = await self._probe()
        DATABASE_UP.set(1 if error is None else 0)
        change = self._state.record(error is None)
        now = self._clock()
        if error is not None and self._state.failures == 1:
            self._down_since = now  # the outage is timed from its first failed check
        if change is False:
            self._reported_at = now
            log.warning(
                "database unreachable; health NOT_SERVING until it answers",
                extra={"failed_checks": self._state.failures, "error": repr(error)},
            )
        elif change is True:
            log.warning("database reachable again; health SERVING", extra={"down_for_s": self._down_for(now)})
        elif not self._state.up and now - self._reported_at >= self._still_down_every_s:
            self._reported_at = now
            log.warning(
                "database still unreachable",
                extra={"down_for_s": self._down_for(now), "failed_checks": self._state.failures, "error": repr(error)},
            )
        if change is not None and self._on_change is not None:
            await self._on_change(change)
        return error is None

    def _down_for(self, now: float) -> float:
        return round(now - self._down_since, 1)

    async def _probe(self) -> BaseException | None:
        """None if the database answered `SELECT 1` in time, else what kept it from answering."""
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._connection is not None:
                    try:
                        await self._connection.fetchval("SELECT 1")
                        return None
                    except Exception:
                        # Cut since the last check (a restart, a failover): a new connection tells whether it is back.
                        self._discard()
                self._connection = await self._connect(self._url)
                await self._connection.fetchval("SELECT 1")
                return None
        except Exception as error:  # whatever kept the answer away (the server gone, refusing this role, ...)
            self._discard()
            return error

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None
