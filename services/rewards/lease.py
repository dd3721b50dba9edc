"""Giving up a redemption's lease when the call that holds it stops short of the end.

A call leases the redemption it carries on so that a retry with the same key,
or the recovery job, leaves it alone while it is at work. A call that stops
(the points service away, an error, or the client gone so that gRPC cancels
its handler) is no longer at work: it gives the lease up at once, so the next
retry carries the redemption on from its step rather than answering PENDING
until the lease runs out.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import asyncpg

from services.rewards import domain
from services.rewards import redemption_store as store


class LeaseRelease:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # The event loop keeps only weak references to tasks: a release outliving its cancelled caller needs one.
        self._releasing: set[asyncio.Task[None]] = set()

    async def give_up(self, redemption_id: uuid.UUID, leased_until: datetime) -> None:
        """Give up the lease this call took until `leased_until`; one taken over since is left to its holder."""
        # Shielded: the caller is often a handler being cancelled, and a write cut short would keep the lease.
        release = asyncio.create_task(self._write(redemption_id, leased_until))
        self._releasing.add(release)
        release.add_done_callback(self._releasing.discard)
        await asyncio.shield(release)

    async def _write(self, redemption_id: uuid.UUID, leased_until: datetime) -> None:
        async with self._pool.acquire() as connection:
            await store.give_up_lease(connection, redemption_id, leased_until, domain.utc_now())
