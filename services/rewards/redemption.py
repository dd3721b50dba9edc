"""Redeeming rewards: hold the points, take the stock and issue the code, capture; cancel.

A redemption is a row that moves through steps (migration 002 lists them).
Each step is one call to the points service or one local transaction, and
the row records where it got to, so `advance` can carry on from any step: the
call that started it does, and after a crash the recovery job does. A step
that cannot succeed (not enough points, out of stock, the hold expired)
undoes what was done (releases the hold, returns stock and code) and deletes
the row: a refused redemption leaves nothing behind. Points service answers
are idempotent (the hold key is the redemption id, a capture or release may
repeat), which makes running a step twice harmless.

A member the points service closed is refused here before anything is
written, as far as this service has read the closure (`member_closures`). A
cancellation whose points the points service refuses to give back (a closure
not read yet) is taken back rather than left cancelling.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import rewards_pb2 as events

from services.common import page_tokens
from services.common.db import taken_concurrently, unit_of_work
from services.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
    Unavailable,
    Violations,
)
from services.common.member_ids import require_member_id
from services.common.member_tiers import require_open
from services.common.text_fields import check_line
from services.rewards import catalog_store, codes_store, domain, paging
from services.rewards import redemption_store as store
from services.rewards.events import emit
from services.rewards.lease import LeaseRelease
from services.rewards.points_client import PointsClient
from services.rewards.redeemability import NO_REDEMPTION, TierUnheardOf, check_redeemable, hold_refusal, validate_redeem
from services.rewards.redemption_store import RedemptionRow
from services.rewards.settings import RewardsSettings

log = logging.getLogger(__name__)
MAX_REASON = 500
# What a closure (MemberClosed, in member_closures) refuses a cancellation, after "member_id: member ... is closed: ".
NO_CANCELLATION = "its points cannot be given back"


def hold_key(redemption_id: uuid.UUID) -> str:
    return f"redemption:{redemption_id}"


class RedemptionApplication:
    def __init__(
        self,
        pool: asyncpg.Pool,
        points: PointsClient,
        settings: RewardsSettings,
        before_capture: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self._points = points
        self._settings = settings
        self._leases = LeaseRelease(pool)
        # Fault injection (LOYALTY_REWARDS_FAULT_EXIT_BEFORE_CAPTURE) hooks in here.
        self._before_capture = before_capture

    # -- use cases ---------------------------------------------------------------------------

    async def redeem(self, member_id: str, reward_id: str, idempotency_key: str) -> tuple[RedemptionRow, bool]:
        """The redemption and whether the key had made it before."""
        parsed_reward = validate_redeem(member_id, reward_id, idempotency_key)
        try:
            return await self._redeem(member_id, str(parsed_reward), idempotency_key, None)
        except TierUnheardOf:
            # Asked with no transaction open: a slow points service must not hold a connection and the member's lock.
            tier = await self._points.tier(member_id)
            return await self._redeem(member_id, str(parsed_reward), idempotency_key, tier)

    async def _redeem(
        self, member_id: str, reward_id: str, idempotency_key: str, tier_from_points: str | None
    ) -> tuple[RedemptionRow, bool]:
        now = domain.utc_now()
        leased_until = now + self._settings.lease
        async with unit_of_work(self._pool) as connection:
            # One redemption at a time per member, so the per-member limit holds under concurrency.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"member:{member_id}")
            previous = await store.find_by_key(connection, idempotency_key)
            if previous is not None:
                if (previous.member_id, previous.reward_id) != (member_id, reward_id):
                    raise AlreadyExists("idempotency_key: already used for another member or reward")
                # A repeat after a call that stopped (UNAVAILABLE says: call again; a deadline passed; the client
                # cancelled) carries it on; a repeat of a call still at work answers where that call got to.
                redemption_id = uuid.UUID(previous.redemption_id)
                if not await store.claim_if_stale(connection, redemption_id, now, leased_until):
                    return previous, True
            else:
                redemption_id = await self._start(
                    connection, member_id, reward_id, idempotency_key, tier_from_points, now, leased_until
                )
        return await self._carried_on(redemption_id, leased_until), previous is not None

    async def _start(
        self,
        connection: asyncpg.Connection,
        member_id: str,
        reward_id: str,
        idempotency_key: str,
        tier_from_points: str | None,
        now: datetime,
        leased_until: datetime,
    ) -> uuid.UUID:
        reward = await catalog_store.get_reward(connection, reward_id)
        if reward is None:
            raise NotFound(f"reward_id: no reward {reward_id!r}")
        await check_redeemable(connection, member_id, reward, tier_from_points, now)
        with taken_concurrently(
            {"redemptions_idempotency_key_key"}, "idempotency_key: already used by a concurrent redemption"
        ):
            return await store.insert_pending(
                connection,
                member_id=member_id,
                reward_id=reward.reward_id,
                reward_name=reward.spec.name,
                value=reward.spec.value,
                idempotency_key=idempotency_key,
                points=reward.spec.cost_points,
                now=now,
                lease_until=leased_until,
            )

    async def _carried_on(self, redemption_id: uuid.UUID, leased_until: datetime | None) -> RedemptionRow:
        """`advance`; should this call stop short of the end (an error, or its handler cancelled) it gives up the lease
        it took until `leased_until` (None: it took none), so that a retry can carry on at once."""
        try:
            return await self.advance(redemption_id)
        except (Exception, asyncio.CancelledError):
            if leased_until is not None:
                await self._leases.give_up(redemption_id, leased_until)
            raise

    async def cancel(self, redemption_id: str, reason: str) -> RedemptionRow:
        violations = Violations()
        paging.check_id(violations, "redemption_id", redemption_id)
        check_line(violations, "reason", reason, max_length=MAX_REASON, required=True)
        violations.raise_if_any()
        parsed = uuid.UUID(redemption_id)
        leased_until: datetime | None = None
        async with unit_of_work(self._pool) as connection:
            state = await store.state(connection, parsed, lock=True)
            if state is None:
                raise NotFound(f"redemption_id: no redemption {redemption_id!r}")
            step, _ = state
            if step in domain.UNFINISHED_STEPS:
                raise FailedPrecondition("redemption_id: the redemption is still pending; cancel it once completed")
            if step == "completed":
                leased_until = domain.utc_now() + self._settings.lease
                await self._start_cancelling(connection, parsed, reason, leased_until)
        try:
            return await self._carried_on(parsed, leased_until)
        except Unavailable:
            # The cancellation is written (code void, stock back): the points follow when the service answers,
            # given back by the recovery job, and the caller is told CANCELLING, not that nothing happened.
            async with self._pool.acquire() as connection:
                row = await store.get(connection, parsed)
            if row is None or row.step != "cancelling":
                raise
            return row

    async def get(self, redemption_id: str) -> RedemptionRow:
        parsed = paging.parse_id("redemption_id", redemption_id)
        async with self._pool.acquire() as connection:
            row = await store.get(connection, parsed)
        if row is None:
            raise NotFound(f"redemption_id: no redemption {redemption_id!r}")
        return row

    async def for_member(self, member_id: str, page_size: int, page_token: str) -> tuple[list[RedemptionRow], str]:
        """A page of the member's redemptions, newest first, and the next page's token."""
        require_member_id(member_id)
        limit = paging.page_size(page_size, default=100, maximum=500)
        after = page_tokens.read_time_and_id(page_token, [member_id])
        async with self._pool.acquire() as connection:
            rows = await store.list_for_member(connection, member_id, after, limit)
        last = rows[-1] if len(rows) == limit else None
        next_token = page_tokens.issue_after([member_id], last.created_at, last.redemption_id) if last else ""
        return rows, next_token

    # -- the steps -----------------------------------------------------------------------------

    async def advance(self, redemption_id: uuid.UUID) -> RedemptionRow:
        """Carry the redemption on until it is completed or cancelled; raise the refusal that undid it (or that
        took a cancellation back)."""
        steps = {
            "pending": self._hold,
            "held": self._reserve,
            "reserved": self._capture,
            "cancelling": self._give_back,
        }
        while True:
            async with self._pool.acquire() as connection:
                row = await store.get(connection, redemption_id)
            if row is None:
                # Refused and undone by another worker: the recovery job, once this call's lease ran out (a slow
                # points service or machine). Why is not kept; the same key starts the redemption anew, and is
                # answered by that attempt.
                raise Aborted(
                    f"redemption {redemption_id} was refused and undone by the recovery job while this call took "
                    "longer than its lease; call again with the same idempotency_key"
                )
            step = steps.get(row.step)
            if step is None:
                return row
            await step(row)

    async def _hold(self, row: RedemptionRow) -> None:
        redemption_id = uuid.UUID(row.redemption_id)
        hold_id = None
        if row.points:
            try:
                hold = await self._points.hold(
                    row.member_id,
                    row.points,
                    hold_key(redemption_id),
                    self._settings.hold_ttl,
                    f"reward {row.reward_id}",
                )
            except FailedPrecondition as error:
                if await self._undo(row):
                    raise hold_refusal(error) from error
                return
            except NotFound:
                if await self._undo(row):
                    raise
                return
            hold_id = uuid.UUID(hold.hold_id)
            if hold.status in ("released", "expired"):
                # A late retry of the hold step: the points are no longer reserved.
                if await self._undo(row, hold_id):
                    raise FailedPrecondition(f"the points hold {hold.status} before the redemption finished")
                return
        async with unit_of_work(self._pool) as connection:
            moved = await store.move(connection, redemption_id, "pending", "held", hold_id=hold_id)
            undone = not moved and await store.state(connection, redemption_id) is None
        if undone and hold_id is not None:
            # Undone meanwhile by a call that never saw this hold: the points would stay reserved until it expires.
            await self._points.release(str(hold_id))

    async def _reserve(self, row: RedemptionRow) -> None:
        """Take a unit of stock and issue the code, in one transaction."""
        redemption_id = uuid.UUID(row.redemption_id)
        try:
            async with unit_of_work(self._pool) as connection:
                if not await store.move(connection, redemption_id, "held", "reserved"):
                    return  # another worker got there first
                reward = await catalog_store.get_reward(connection, row.reward_id)
                assert reward is not None  # rewards are archived, never deleted
                await codes_store.issue_unit(connection, reward, redemption_id, domain.utc_now())
        except codes_store.NothingLeft:
            if await self._undo(row):
                raise ResourceExhausted(f"reward_id: reward {row.reward_id} is out of stock") from None

    async def _capture(self, row: RedemptionRow) -> None:
        self._before_capture()
        try:
            await self._spend(row)
        except FailedPrecondition:
            if await self._undo(row):
                raise
            return
        redeemed = events.RewardRedeemed(
            redemption_id=row.redemption_id,
            member_id=row.member_id,
            reward_id=row.reward_id,
            points=row.points,
            code=row.code or "",
            reward_name=row.reward_name,
        )
        await self._finish(row, "reserved", "completed", redeemed)

    async def _spend(self, row: RedemptionRow) -> None:
        """Capture the held points. A free redemption holds none, so no points service refuses it for a closure
        read since it started (the recovery job carrying it on after a crash): this service's view does."""
        if row.hold_id is None:
            async with self._pool.acquire() as connection:
                await require_open(connection, row.member_id, NO_REDEMPTION)
            return
        try:
            await self._points.capture(row.hold_id)
        except FailedPrecondition as error:
            raise FailedPrecondition(f"the points hold could not be captured: {error.message}") from error

    async def _give_back(self, row: RedemptionRow) -> None:
        if row.hold_id is not None:  # a redemption of points has its captured hold
            reason = f"cancelled redemption {row.redemption_id}: {row.cancel_reason}"
            try:
                await self._points.give_back(row.hold_id, f"cancel:{row.redemption_id}", reason)
            except (FailedPrecondition, NotFound):
                # A refusal is final (the member was closed before this service read it): retried, the
                # redemption would stay CANCELLING for ever. The cancellation is taken back, and refused.
                if await self._take_back_cancellation(row):
                    raise
                return
        await self._finish(row, "cancelling", "cancelled", _cancelled(row, points_returned=row.points))

    async def _take_back_cancellation(self, row: RedemptionRow) -> bool:
        """Complete the redemption again (its unit taken back, its code usable): True, the refusal stands.

        False when it ends cancelled instead: the unit the cancellation gave back went to another redemption
        meanwhile, so the code cannot be usable again; nothing is given back (points refused it), and
        RedemptionCancelled says so. False too when another worker settled it first, and that stands.
        """
        redemption_id = uuid.UUID(row.redemption_id)
        facts = {"redemption_id": row.redemption_id, "member_id": row.member_id}
        async with unit_of_work(self._pool) as connection:
            state = await store.state(connection, redemption_id, lock=True)
            if state is None or state[0] != "cancelling":
                # The call and the recovery job were both refused; whichever settled it first stands.
                return state is not None and state[0] == "completed"
            if await catalog_store.take_stock(connection, row.reward_id):
                await codes_store.reactivate(connection, redemption_id)
                await store.move(connection, redemption_id, "cancelling", "completed", cancel_reason="")
                log.warning("cancellation taken back: the points service refused to give the points back", extra=facts)
                return True
        log.warning(
            "cancelled giving no points back: the points service refused them, the unit was reissued", extra=facts
        )
        await self._finish(row, "cancelling", "cancelled", _cancelled(row, points_returned=0))
        return False

    async def _finish(self, row: RedemptionRow, from_step: str, to_step: str, event: Message) -> None:
        """Record the final step (stamping `<to_step>_at`) and announce it, unless another worker did."""
        now = domain.utc_now()
        async with unit_of_work(self._pool) as connection:
            stamp = {f"{to_step}_at": now}
            if await store.move(connection, uuid.UUID(row.redemption_id), from_step, to_step, **stamp):
                await emit(connection, event, row.member_id, now)

    async def _undo(self, row: RedemptionRow, hold_id: uuid.UUID | None = None) -> bool:
        """Release the hold, then return stock and code and delete the row (it was never completed).

        Only while the redemption is where `row` saw it. A call whose lease ran out (a slow points service) may
        find that the recovery job carried it on meanwhile, placing the hold this call was refused and capturing
        it: undone from the stale copy, the member's points would be spent on a redemption deleted. False then,
        and the caller follows the redemption on rather than refusing it. True when it is undone, by this call
        or (the recovery job taking over a slow call) by another.
        """
        redemption_id = uuid.UUID(row.redemption_id)
        seen = (row.step, row.hold_id)
        async with self._pool.acquire() as connection:
            state = await store.state(connection, redemption_id)
        if state != seen:
            return state is None  # gone: another worker undid it, and the refusal stands
        hold = row.hold_id or (str(hold_id) if hold_id else None)
        if hold is not None:
            await self._points.release(hold)
        async with unit_of_work(self._pool) as connection:
            state = await store.state(connection, redemption_id, lock=True)
            if state != seen:
                # Moved on while the hold was released: its capture fails, and that worker undoes it.
                return state is None
            if row.step == "reserved":
                await codes_store.withdraw(connection, redemption_id)
                await catalog_store.return_stock(connection, row.reward_id)
            await store.delete(connection, redemption_id)
        log.info("redemption undone", extra={"redemption_id": row.redemption_id, "step": row.step})
        return True

    async def _start_cancelling(
        self, connection: asyncpg.Connection, redemption_id: uuid.UUID, reason: str, leased_until: datetime
    ) -> None:
        row = await store.get(connection, redemption_id)
        assert row is not None  # locked by the caller
        # Refused before anything is written: the points service would refuse to give a closed member's points back.
        await require_open(connection, row.member_id, NO_CANCELLATION)
        if not await codes_store.void_unused(connection, redemption_id):
            raise FailedPrecondition("redemption_id: its code was already used; a used reward cannot be cancelled")
        await catalog_store.return_stock(connection, row.reward_id)
        await store.move(
            connection,
            redemption_id,
            "completed",
            "cancelling",
            cancel_reason=reason,
            lease_until=leased_until,
        )


def _cancelled(row: RedemptionRow, points_returned: int) -> events.RedemptionCancelled:
    return events.RedemptionCancelled(
        redemption_id=row.redemption_id,
        member_id=row.member_id,
        reward_id=row.reward_id,
        points_returned=points_returned,
        reason=row.cancel_reason,
    )
