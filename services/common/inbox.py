"""Forgetting inbox rows once no delivery can repeat their event.

A consumer's inbox keeps the id of every event it applied, so that a
redelivery changes nothing. Redeliveries come from the topic's log (a
consumer group reading again from a committed offset, or from the earliest
one) and from the outbox relay replaying what it retains (an hour by
default): none can repeat an event older than the topic's retention. The
inbox keeps ids for `retention`, which must exceed the topics' retention
(Kafka's default is seven days); forgotten, the table stops growing with
every event ever consumed.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from prometheus_client import Counter

INBOX_FORGOTTEN = Counter("loyalty_inbox_forgotten", "Inbox rows deleted past the inbox retention")


class InboxPruning:
    """Deletes inbox rows older than the retention, `batch` rows per statement: never one long transaction."""

    def __init__(self, pool: asyncpg.Pool, retention: timedelta, *, batch: int = 10_000) -> None:
        self._pool = pool
        self._retention = retention
        self._batch = batch

    async def run_once(self) -> int:
        """One pass; the rows deleted."""
        deleted = 0
        while True:
            status = await self._pool.execute(
                """DELETE FROM inbox WHERE ctid = ANY (ARRAY(
                       SELECT ctid FROM inbox WHERE applied_at < now() - $1::interval LIMIT $2))""",
                self._retention,
                self._batch,
            )
            rows = int(status.split()[-1])
            deleted += rows
            INBOX_FORGOTTEN.inc(rows)
            if rows < self._batch:
                return deleted
