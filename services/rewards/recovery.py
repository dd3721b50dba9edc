"""The recovery job: finishes or undoes redemptions a crash left half done.

A redemption in progress is leased to the call that started it. Once the
lease has run out (the process died, or lost the points service) this job
takes it over and carries it on from its recorded step: capture what was
held and reserved, release and undo what can no longer complete, give back
the points of a cancellation. The points hold outlives the lease, and expires
by itself should nothing ever come back.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg

from services.common.db import VALUE_REFUSED, unit_of_work
from services.common.errors import DomainError
from services.rewards import domain
from services.rewards import redemption_store as store
from services.rewards.redemption import RedemptionApplication

log = logging.getLogger(__name__)
BATCH = 100


class RecoveryJob:
    def __init__(self, pool: asyncpg.Pool, redemptions: RedemptionApplication, lease: timedelta) -> None:
        self._pool = pool
        self._redemptions = redemptions
        self._lease = lease

    async def run_once(self) -> int:
        """How many redemptions were taken over."""
        async with unit_of_work(self._pool) as connection:
            stale = await store.claim_stale(connection, domain.utc_now(), self._lease, BATCH)
        for redemption_id in stale:
            try:
                row = await self._redemptions.advance(redemption_id)
                log.info("redemption recovered", extra={"redemption_id": str(redemption_id), "step": row.step})
            except DomainError as error:
                # Undone (refused), or the points service is still away: the lease brings it back later.
                log.info("redemption recovery ended", extra={"redemption_id": str(redemption_id), "why": error.message})
            except VALUE_REFUSED as error:
                # One the database refuses must not keep the rest of the batch waiting for another lease.
                log.error(
                    "redemption recovery refused", extra={"redemption_id": str(redemption_id), "error": repr(error)}
                )
        return len(stale)
