"""Recording purchases: a batch of purchases, at most one per member, decided and written in one transaction.

The gRPC API gathers concurrent purchases into batches (group commit, see
services/common/group_commit.py); the Kafka consumer records each event in its
inbox transaction as a batch of one. Either way a purchase earns once: a
repeated purchase id answers with the first result (the balance too: the one
answered first is kept on the purchase), and the id reused with other details
is refused. The common steps are
set-based (lock the members, look the ids up, find the program versions
and the tiers the buyers held when they bought, and the goodwill that already
paid for a claimed purchase (services/points/goodwill_claims.py),
write purchases, entries and lots, ask the buyers' tier values, write the
events, keep the balances answered, look up refunds that arrived before their
purchase), a handful of statements per batch; what only some purchases need
(settling refund debt, a tier move, a referral bonus, applying such a refund,
services/points/awaiting_refunds.py) runs for those alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from opentelemetry import context as otel_context

from services.common.errors import AlreadyExists, DomainError, NotFound
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.common.tracing import within
from services.points import (
    awaiting_refunds,
    domain,
    goodwill_claims,
    pricing,
    purchases_store,
    referrals,
    settlement,
    store,
    tier_application,
)
from services.points.earning import EarnComponent
from services.points.expiry import ArrivedExpired, expire_on_arrival
from services.points.program import Program
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication

SOURCE = "loyalty.points"


@dataclass(frozen=True)
class PurchaseResult:
    points_earned: int
    entry: store.EntryRow | None
    duplicate: bool
    balance: int
    terms: purchases_store.RecordedTerms
    # How the points were earned; none for a repeat of a purchase that earned nothing before migration 033.
    breakdown: tuple[EarnComponent, ...]


@dataclass(frozen=True)
class PurchaseRequest:
    purchase: domain.Purchase
    # The trace the purchase arrived in: its events and its own statements stay in it inside a shared batch.
    trace: otel_context.Context = field(default_factory=otel_context.get_current)


Outcome = PurchaseResult | DomainError


@dataclass(frozen=True)
class _Fresh:
    """A purchase not recorded before, priced, for a locked member."""

    index: int
    request: PurchaseRequest
    member: store.MemberRow
    priced: pricing.Priced


class PurchaseRecorder:
    def __init__(self, programs: ProgramApplication, flat_rate: int, refunds: RefundApplication) -> None:
        self._programs = programs
        self._refunds = refunds
        # The flat rate prices purchases until a program is applied.
        self._flat_rate = flat_rate

    async def record_in(self, connection: asyncpg.Connection, requests: Sequence[PurchaseRequest]) -> list[Outcome]:
        """Record purchases of distinct members with distinct ids, in the caller's transaction; an outcome each."""
        now = domain.utc_now()
        outcomes: list[Outcome | None] = [None] * len(requests)
        valid = []
        for index, request in enumerate(requests):
            try:
                valid.append((index, domain.validate_purchase(request.purchase, now)))
            except DomainError as error:
                outcomes[index] = error
        unseen = await _unseen(connection, valid, outcomes)
        fresh, in_force_now = await self._priced(connection, requests, unseen, outcomes, now)
        earned, expired = await _write(connection, fresh, outcomes, now)
        recorded = [item for item in fresh if _recorded_now(outcomes[item.index])]
        await _move_tiers(connection, recorded, in_force_now, now)
        announced = [
            _points_earned(item, entry, balance + expired.expired.get(entry.member_id, 0))
            for item, entry, balance in earned
        ]
        await add_events(connection, POINTS_EVENTS_TOPIC, [*announced, *expired.announced])
        corrected = []
        for item in recorded:
            outcome = outcomes[item.index]
            assert isinstance(outcome, PurchaseResult)
            outcomes[item.index] = outcome = await _with_referral(connection, item, outcome)
            if outcome.balance != _balance_written(item):
                corrected.append((_id_of(item), outcome.balance))
        # Kept once final (after the referral bonus), so a repeat answers the balance this answer gives; most
        # purchases were written with it already, and are not written again.
        await purchases_store.keep_balances(connection, corrected)
        # Last, as a refund arriving after its purchase would come: the purchase's answer is its balance before.
        traces = {_id_of(item): item.request.trace for item in recorded}
        await awaiting_refunds.apply_kept_in(connection, self._refunds, traces)
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _priced(
        self,
        connection: asyncpg.Connection,
        requests: Sequence[PurchaseRequest],
        unseen: Sequence[tuple[int, store.MemberRow]],
        outcomes: list[Outcome | None],
        now: datetime,
    ) -> tuple[list[_Fresh], Program | None]:
        """The purchases priced, each by the version in force when it was made and the tier its member held then, and
        the version in force now."""
        if not unseen:
            return [], None
        purchases = [requests[index].purchase for index, _ in unseen]
        under, current = await pricing.made_under(connection, self._programs, purchases, now)
        # Read under the buyers' locks, which crediting goodwill takes too: a grant committed meanwhile is seen.
        claims = [(member.member_id, requests[index].purchase.purchase_id) for index, member in unseen]
        settled = await goodwill_claims.settled_purchases(connection, claims)
        fresh = []
        for (index, member), made_under in zip(unseen, under, strict=True):
            request = requests[index]
            try:
                priced = await pricing.price(connection, made_under, request.purchase, flat_rate=self._flat_rate)
            except DomainError as error:
                outcomes[index] = error
                continue
            priced = priced.less_goodwill(settled.get(request.purchase.purchase_id))
            fresh.append(_Fresh(index, request, member, priced))
        return fresh, current.program if current else None


async def _unseen(
    connection: asyncpg.Connection, valid: Sequence[tuple[int, domain.Purchase]], outcomes: list[Outcome | None]
) -> list[tuple[int, store.MemberRow]]:
    """Lock the buyers; answer unknown members and repeated purchase ids; the rest, with their locked member."""
    members, previous = await purchases_store.lock_buyers(connection, [purchase for _, purchase in valid])
    unseen = []
    for index, purchase in valid:
        member = members.get(purchase.member_id)
        if member is None:
            outcomes[index] = NotFound(f"member_id: member {purchase.member_id!r} is not enrolled")
        elif purchase.purchase_id in previous:
            outcomes[index] = await _repeat_of(connection, previous[purchase.purchase_id], purchase, member)
        elif refusal := domain.closed_refusal(member.member_id, member.status):
            # Read from the row lock_buyers took: a closure waits for this batch, or this batch for it.
            outcomes[index] = refusal
        else:
            unseen.append((index, member))
    return unseen


async def _write(
    connection: asyncpg.Connection, fresh: Sequence[_Fresh], outcomes: list[Outcome | None], now: datetime
) -> tuple[list[tuple[_Fresh, store.EntryRow, int]], ArrivedExpired]:
    """Write the purchases, expire points that arrive past their term and settle refund debt; returns each credit
    with the balance after it, and what expired."""
    recorded = await purchases_store.insert_purchase_earnings(connection, [_earning(item) for item in fresh], now)
    # Before settling: points that arrive past their term repay no debt and cover no overdraft.
    credited = [(item.member.member_id, item.priced.expires_at) for item in fresh if recorded.get(_id_of(item))]
    expired = await expire_on_arrival(connection, credited, now)
    earned = []
    for item in fresh:
        purchase = item.request.purchase
        if purchase.purchase_id not in recorded:
            # Recorded by a transaction that committed while this one waited on the id.
            concurrent = await purchases_store.find_purchases(connection, [purchase.purchase_id])
            outcomes[item.index] = await _repeat_of(connection, concurrent[purchase.purchase_id], purchase, item.member)
            continue
        entry = recorded[purchase.purchase_id]
        with within(item.request.trace):
            balance = item.member.balance + item.priced.points - expired.taken.get(item.member.member_id, 0)
            if entry is not None:
                balance -= await settlement.settle_spent_refunds(connection, item.member, entry, now)
        if entry is not None:
            earned.append((item, entry, balance))
        priced = item.priced
        outcomes[item.index] = PurchaseResult(priced.points, entry, False, balance, _terms(priced), priced.components)
    return earned, expired


def _id_of(item: _Fresh) -> str:
    return item.request.purchase.purchase_id


def _recorded_now(outcome: Outcome | None) -> bool:
    return isinstance(outcome, PurchaseResult) and not outcome.duplicate


async def _move_tiers(
    connection: asyncpg.Connection, recorded: Sequence[_Fresh], program: Program | None, now: datetime
) -> None:
    """Upgrade the buyers their purchase moved up, by the tiers of the version in force now (a purchase sent
    late was priced by an older one, whose thresholds no longer hold).

    Each move is announced in the trace its purchase arrived in.
    """
    if program is None:
        return
    buyers = {item.member.member_id: item for item in recorded}
    moves = []
    for member_id, change in await tier_application.upgrades_after_activity(
        connection, [item.member for item in recorded], program, now, spent=True
    ):
        with within(buyers[member_id].request.trace):
            moves.append(tier_application.TierMove.of(member_id, change, program, now))
    await tier_application.apply_moves(connection, moves)


def _earning(item: _Fresh) -> purchases_store.PurchaseEarning:
    return purchases_store.PurchaseEarning(
        purchase=item.request.purchase,
        points=item.priced.points,
        description=item.priced.description(),
        breakdown=item.priced.breakdown_json(),
        available_at=item.priced.available_at,
        expires_at=item.priced.expires_at,
        balance_after=_balance_written(item),
    )


def _balance_written(item: _Fresh) -> int:
    """The balance after the purchase as written with it: the member's before plus its points, the answer unless
    points arrived expired, settled refund debt or came with a referral bonus."""
    return item.member.balance + item.priced.points


async def _repeat_of(
    connection: asyncpg.Connection,
    previous: purchases_store.PurchaseRow,
    purchase: domain.Purchase,
    member: store.MemberRow,
) -> PurchaseResult | DomainError:
    """The first result again, with the balance it answered; a different purchase under the same id is refused,
    as a reused refund id is.

    A repeat has the same amount, channel and line items (its time may be
    stamped again): one with others would otherwise be answered, silently,
    with what the first earned.
    """
    if previous.member_id != member.member_id:
        return AlreadyExists("purchase_id: already recorded for another member")
    differing = previous.difference_from(purchase)
    if differing is not None:
        return AlreadyExists(f"purchase_id: already recorded with a different {differing}")
    entry = await store.get_entry(connection, previous.entry_id) if previous.entry_id else None
    terms = await purchases_store.recorded_terms(connection, previous.purchase_id)
    breakdown = _breakdown_of(previous, entry)
    # The balance first answered, not the member's now. A purchase recorded before migration 027 kept none: its
    # repeat answers the balance now, as every repeat did then.
    balance = member.balance if previous.balance_after is None else previous.balance_after
    return PurchaseResult(previous.points_earned, entry, True, balance, terms, breakdown)


def _breakdown_of(previous: purchases_store.PurchaseRow, entry: store.EntryRow | None) -> tuple[EarnComponent, ...]:
    """The breakdown first answered: its entry keeps it, or the purchase itself when it earned nothing (no entry)."""
    kept = entry.breakdown if entry is not None else previous.breakdown
    if kept is None:
        # Earned nothing before migration 033, which kept it nowhere. Pricing it again would not give it back: a
        # daily cap would count the day's purchases and refunds as they stand now.
        return ()
    return tuple(EarnComponent(**component) for component in json.loads(kept))


def _terms(priced: pricing.Priced) -> purchases_store.RecordedTerms:
    program_id = priced.program.id if priced.program else ""
    if not priced.points:  # no lot: nothing becomes available or expires, as a repeat of it reads
        return purchases_store.RecordedTerms(program_id, None, None)
    return purchases_store.RecordedTerms(program_id, priced.available_at, priced.expires_at)


def _points_earned(item: _Fresh, entry: store.EntryRow, balance: int) -> EventEnvelope:
    purchase = item.request.purchase
    event = events.PointsEarned(
        member_id=entry.member_id,
        points=entry.points,
        ledger_entry_id=str(entry.entry_id),
        reason="purchase",
        source_reference=purchase.purchase_id,
        balance_after=balance,
        purchase_amount=Money(amount_minor=purchase.amount.amount_minor, currency_code=purchase.amount.currency),
        purchase_occurred_at=timestamp(purchase.occurred_at),
    )
    with within(item.request.trace):
        return new_envelope(event, subject=entry.member_id, source=SOURCE, occurred_at=entry.created_at)


async def _with_referral(connection: asyncpg.Connection, item: _Fresh, result: PurchaseResult) -> PurchaseResult:
    """The result with the referral bonus the purchase paid, if it was the referee's first qualifying one."""
    with within(item.request.trace):
        paid = await referrals.pay_referral(
            connection, item.member, item.request.purchase, result.points_earned, item.priced.program, result.balance
        )
    if not paid:
        return result
    # Read again: the bonus may have expired as it arrived (a late first purchase).
    member = await store.get_member(connection, item.member.member_id)
    assert member is not None
    return replace(result, balance=member.balance)


def conflict_keys(request: PurchaseRequest) -> tuple[tuple[str, str], tuple[str, str]]:
    """A batch holds one purchase per member and per purchase id (see record_in)."""
    return ("member", request.purchase.member_id), ("purchase", request.purchase.purchase_id)
