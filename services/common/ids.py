"""Ids of the rows a service writes at high rates: ledger entries, lots, events.

Version 7 UUIDs begin with the time they were made, so consecutive ids sort
together and each index over them grows at its right edge, where its pages are
already in memory. Random (version 4) ids scatter every insert over the whole
index; once the index outgrows shared buffers, each insert reads and dirties a
different page and, after a checkpoint, writes it whole into the WAL again.
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()


def new_ids(count: int) -> list[uuid.UUID]:
    return [uuid7() for _ in range(count)]
