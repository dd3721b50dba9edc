"""Refunds that arrive before their purchase: kept until it is recorded, then applied in the transaction that
records it, with the effects and events of a refund that arrived after it.

Purchases and refunds come from different systems (the till, a returns desk, an e-commerce back office) and by
different paths (a purchase over gRPC, its refund on Kafka): even on one member's partition of the purchases
topic, a PurchaseRefunded may come first. A caller of RefundPurchase is answered NOT_FOUND and can retry; an
event has no one to retry it, so it waits here (migration points/042), once per refund id. A refund its purchase
refuses when it comes (another member, another currency, more than was paid) cannot be dead-lettered from that
transaction, which may be a gRPC call's: it stays here with the reason. docs/operations.md says how an operator
sees both kinds, by metric and by query, and deals with them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import asyncpg
from opentelemetry import context as otel_context

from services.common.consumer import refusal_reason
from services.common.db import VALUE_REFUSED, savepoint
from services.common.errors import AlreadyExists, DomainError, NotFound
from services.common.tracing import within
from services.points import awaiting_refunds_store, domain, refunds_store, store
from services.points.refunds import RefundApplication

log = logging.getLogger(__name__)

# What the domain refuses, and values the database refuses: a kept refund either way, never a retry.
_REFUSED: tuple[type[BaseException], ...] = (DomainError, *VALUE_REFUSED)


async def refund_or_keep_in(connection: asyncpg.Connection, refunds: RefundApplication, refund: domain.Refund) -> None:
    """Refund now if the purchase is recorded, else keep the refund for it; in the caller's transaction."""
    domain.validate_refund(refund, domain.utc_now())
    purchase = await refunds_store.refundable_purchase(connection, refund.purchase_id)
    if purchase is None:
        await _lock_member_named(connection, refund)
        # Looked up again under the lock recording a purchase of this member takes: a purchase committed while
        # this waited is seen now, and one recorded later finds this refund kept.
        purchase = await refunds_store.refundable_purchase(connection, refund.purchase_id)
    if purchase is None:
        await _keep(connection, refund)
    else:
        await refunds.refund_of_in(connection, refund, purchase)


async def apply_kept_in(
    connection: asyncpg.Connection, refunds: RefundApplication, recorded: Mapping[str, otel_context.Context]
) -> None:
    """Apply the refunds kept for the purchases just recorded (purchase id → the trace it arrived in), in the
    order they were kept; one lookup when none awaits.

    Each applies in a savepoint: one its purchase refuses is undone alone and kept with the reason, and the
    purchase stands.
    """
    if not recorded:
        return
    for kept in await awaiting_refunds_store.awaiting(connection, list(recorded)):
        with within(recorded[kept.purchase_id]):
            try:
                async with savepoint(connection):
                    await refunds.refund_in(connection, kept.as_refund())
            except _REFUSED as error:
                reason = refusal_reason(error)
                log.warning(
                    "refund kept for its purchase refused", extra={"refund_id": kept.refund_id, "reason": reason}
                )
                await awaiting_refunds_store.refuse(connection, kept.refund_id, reason)
                continue
        await awaiting_refunds_store.forget(connection, kept.refund_id)


async def _lock_member_named(connection: asyncpg.Connection, refund: domain.Refund) -> None:
    """Lock the member the refund names, refusing one who will record no purchase to wait for."""
    if not refund.member_id:
        # No member to wait on: a purchase recorded meanwhile would not see the refund kept.
        raise NotFound(f"purchase_id: no purchase {refund.purchase_id!r}, and the refund names no member_id to wait")
    members = await store.lock_members(connection, [refund.member_id])
    member = members.get(refund.member_id)
    if member is None:
        raise NotFound(f"member_id: member {refund.member_id!r} is not enrolled")
    if refusal := domain.closed_refusal(member.member_id, member.status):
        raise refusal


async def _keep(connection: asyncpg.Connection, refund: domain.Refund) -> None:
    """Keep the refund for its purchase; a resend of one kept changes nothing, its id reused is refused."""
    recorded = await refunds_store.find_refund(connection, refund.refund_id)
    if recorded is not None:  # a refund of another purchase: this one is not recorded
        raise AlreadyExists("refund_id: already recorded with a different purchase_id")
    kept_before = await awaiting_refunds_store.keep(connection, refund)
    if kept_before is None:
        log.info("refund kept until its purchase is recorded", extra={"refund_id": refund.refund_id})
        return
    if refusal := kept_before.refusal_of(refund):
        raise AlreadyExists(refusal)
