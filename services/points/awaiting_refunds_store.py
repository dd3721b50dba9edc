"""SQL of refunds kept until their purchase is recorded (migration points/042, services/points/awaiting_refunds.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.points import domain

_COLUMNS = "refund_id, purchase_id, member_id, amount_minor, currency_code, occurred_at"


@dataclass(frozen=True)
class KeptRefund:
    refund_id: str
    purchase_id: str
    member_id: str
    amount_minor: int
    currency_code: str
    occurred_at: datetime

    @property
    def amount(self) -> domain.Money:
        return domain.Money(self.amount_minor, self.currency_code)

    def as_refund(self) -> domain.Refund:
        return domain.Refund(self.refund_id, self.purchase_id, self.amount, self.occurred_at, self.member_id)

    def refusal_of(self, refund: domain.Refund) -> str | None:
        """Why `refund` is not this one, kept under its id ("refund_id: ..."); None for a repeat of it."""
        differing = domain.refund_difference(refund, self.purchase_id, self.amount, self.member_id)
        if differing is None:
            return None
        return f"refund_id: already kept, awaiting its purchase, with a different {differing}"


async def keep(connection: asyncpg.Connection, refund: domain.Refund) -> KeptRefund | None:
    """Keep `refund` and return None; if a refund was kept under its id before, return that one, left as it was."""
    inserted = await connection.fetchval(
        """INSERT INTO refunds_awaiting_purchase (refund_id, purchase_id, member_id, amount_minor, currency_code,
                                                  occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (refund_id) DO NOTHING RETURNING true""",
        refund.refund_id,
        refund.purchase_id,
        refund.member_id,
        refund.amount.amount_minor,
        refund.amount.currency,
        refund.occurred_at,
    )
    if inserted:
        return None
    kept_before = await kept(connection, refund.refund_id)
    assert kept_before is not None  # refunds kept are deleted only in the transaction that applies them
    return kept_before


async def kept(connection: asyncpg.Connection, refund_id: str) -> KeptRefund | None:
    """The refund kept under `refund_id`, refused by its purchase or still awaiting it; None when none is."""
    record = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM refunds_awaiting_purchase WHERE refund_id = $1", refund_id
    )
    return KeptRefund(**record) if record else None


async def awaiting(connection: asyncpg.Connection, purchase_ids: Sequence[str]) -> list[KeptRefund]:
    """The refunds still awaiting these purchases, in the order they were kept (partial refunds apply in turn)."""
    records = await connection.fetch(
        f"""SELECT {_COLUMNS} FROM refunds_awaiting_purchase
             WHERE purchase_id = ANY($1::text[]) AND refused_reason IS NULL
             ORDER BY kept_at, refund_id""",
        list(purchase_ids),
    )
    return [KeptRefund(**record) for record in records]


async def forget(connection: asyncpg.Connection, refund_id: str) -> None:
    """Drop a kept refund once applied: from then on the refunds table answers its id."""
    await connection.execute("DELETE FROM refunds_awaiting_purchase WHERE refund_id = $1", refund_id)


async def refuse(connection: asyncpg.Connection, refund_id: str, reason: str) -> None:
    """Keep a refund its purchase refused, with the reason, for an operator to see (docs/operations.md)."""
    await connection.execute(
        "UPDATE refunds_awaiting_purchase SET refused_reason = $2 WHERE refund_id = $1", refund_id, reason
    )
