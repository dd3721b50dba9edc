"""A steady mixed load: purchases over gRPC and Kafka, partner streams and records, redemptions, tickets with goodwill.

About one operation in ten is refused on purpose (a negative amount, an
unknown member, a reward nobody can afford), so the books also prove that a
refused operation writes nothing. Every outcome goes into the Books.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from google.protobuf import json_format
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1.commerce_pb2 import PurchaseMade
from loyalty.points.v1 import partners_pb2, points_pb2
from loyalty.rewards.v1 import rewards_pb2
from loyalty.tickets.v1 import tickets_pb2

from services.common.events import JSON, kafka_headers, new_envelope, timestamp
from services.common.kafka import PARTNER_ACCRUALS_TOPIC, PURCHASES_TOPIC
from tests.faults.books import Books, Redeemed
from tests.faults.delivery import CALL_TIMEOUT_S, KafkaSender, Message, Undecided, definitive
from tests.faults.world import AGENT_ID, PARTNER_POINTS_PER_USD, Cast, Stubs

BASE_EARN_RATE = 2  # points per whole currency unit, no program applied
REFUSE_ONE_IN = 10
MAX_IN_FLIGHT = 24


@dataclass
class Options:
    """How the load misbehaves on purpose: the duplicate storm sends every message and batch twice."""

    kafka_copies: int = 1
    batch_copies: int = 1


@dataclass
class Load:
    stubs: Stubs
    cast: Cast
    books: Books
    kafka: KafkaSender
    options: Options = field(default_factory=Options)
    # Kafka purchases per member in the order the broker acknowledged them.
    kafka_order: dict[str, list[str]] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _member_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        """Start `rate` operations a second until `stop` is set, then wait until each has a definitive outcome."""
        operations: list[Callable[[], Awaitable[None]]] = [
            self.grpc_purchase,
            self.grpc_purchase,
            self.kafka_purchase,
            self.kafka_purchase,
            self.partner_stream,
            self.partner_kafka,
            self.redemption,
            self.ticket_with_goodwill,
        ]
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in itertools.count():
            due = start + n / rate
            if stop.is_set():
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            await slots.acquire()
            operation = operations[n % len(operations)]
            task = asyncio.create_task(operation())
            task.add_done_callback(lambda _: slots.release())
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Undecided):
                self.books.conflicts.append(f"no definitive outcome: {result}")
            elif isinstance(result, BaseException):
                raise result

    def _member(self) -> str:
        return self._rng.choice(self.cast.members)

    def _refuse(self) -> bool:
        return next(self._counter) % REFUSE_ONE_IN == 0

    def _cents(self) -> int:
        return self._rng.randrange(100, 10_000)

    async def grpc_purchase(self) -> None:
        member, purchase_id, cents, refuse = self._member(), f"g-{uuid.uuid4()}", self._cents(), self._refuse()
        request = points_pb2.RecordPurchaseRequest(
            purchase_id=purchase_id,
            member_id=member,
            amount=Money(amount_minor=-cents if refuse else cents, currency_code="USD"),
            occurred_at=timestamp(datetime.now(UTC)),
        )
        self.books.sent["grpc purchase"] += 1
        answer = await definitive(
            self.books, "grpc purchase", lambda: self.stubs.points.RecordPurchase(request, timeout=CALL_TIMEOUT_S)
        )
        if isinstance(answer, grpc.aio.AioRpcError):
            self.books.rejected["grpc purchase"] += 1
            self.books.refuse(member, f"purchase:{purchase_id}")
            return
        self.books.accepted["grpc purchase"] += 1
        self.books.duplicate_answers["grpc purchase"] += int(answer.duplicate)
        self.books.expect(member, f"purchase:{purchase_id}", answer.points_earned, "grpc purchase")

    async def kafka_purchase(self) -> None:
        member, purchase_id, cents, refuse = self._member(), f"k-{uuid.uuid4()}", self._cents(), self._refuse()
        now = datetime.now(UTC)
        event = PurchaseMade(
            purchase_id=purchase_id,
            member_id=member,
            occurred_at=timestamp(now),
            amount=Money(amount_minor=-cents if refuse else cents, currency_code="USD"),
        )
        envelope = new_envelope(event, subject=member, source="faults-shop", occurred_at=now)
        message = Message(
            PURCHASES_TOPIC,
            member.encode(),
            envelope.SerializeToString(),
            tuple(kafka_headers(envelope)),
            "kafka purchase",
        )
        self.books.sent["kafka purchase"] += 1
        async with self._member_locks.setdefault(member, asyncio.Lock()):
            await self.kafka.send(message, self.options.kafka_copies)
            if not refuse:
                self.kafka_order.setdefault(member, []).append(f"purchase:{purchase_id}")
        if refuse:
            self.books.rejected["kafka purchase"] += 1
            self.books.refuse(member, f"purchase:{purchase_id}")
        else:
            self.books.accepted["kafka purchase"] += 1
            self.books.expect(member, f"purchase:{purchase_id}", BASE_EARN_RATE * (cents // 100), "kafka purchase")

    def _accrual(self, member: str, dollars: int) -> partners_pb2.AccrualRecord:
        return partners_pb2.AccrualRecord(
            partner_transaction_id=f"tx-{uuid.uuid4()}",
            member_id=member,
            activity_type=partners_pb2.ACTIVITY_TYPE_FLIGHT,
            activity_date=datetime.now(UTC).date().isoformat(),
            unit="USD",
            amount=str(dollars),
        )

    def _partner_key(self, record: partners_pb2.AccrualRecord) -> str:
        return f"partner:{self.cast.partner_id}:{record.partner_transaction_id}"

    async def partner_stream(self) -> None:
        records = [self._accrual(self._member(), self._rng.randrange(1, 300)) for _ in range(3)]
        if self._refuse():
            records.append(self._accrual(f"nobody-{uuid.uuid4().hex[:8]}", 10))
        batch = partners_pb2.AccrualBatch(records=records)
        self.books.sent["partner stream"] += len(records)
        metadata = (("authorization", f"Bearer {self.cast.partner_key}"),)

        async def stream() -> list[partners_pb2.AccrualBatchResult]:
            async def batches():  # type: ignore[no-untyped-def]
                for _ in range(self.options.batch_copies):
                    yield batch

            call = self.stubs.intake.StreamAccruals(batches(), metadata=metadata, timeout=CALL_TIMEOUT_S * 2)
            return [answer async for answer in call]

        answers = await definitive(self.books, "partner stream", stream)
        if isinstance(answers, grpc.aio.AioRpcError):
            raise AssertionError(f"partner stream refused: {answers.code().name} {answers.details()}")
        self.books.copies["partner stream"] += len(records) * (len(answers) - 1)
        first, *resent = answers
        for record, result in zip(records, first.results, strict=True):
            self._book_accrual(record, result)
        for answer in resent:
            for record, result in zip(records, answer.results, strict=True):
                self._book_resent(record, result)

    def _book_accrual(self, record: partners_pb2.AccrualRecord, result: partners_pb2.AccrualResult) -> None:
        key = self._partner_key(record)
        if result.status in (partners_pb2.ACCRUAL_STATUS_ACCEPTED, partners_pb2.ACCRUAL_STATUS_DUPLICATE):
            # DUPLICATE on the first answer: a retried stream whose first attempt went through.
            self.books.duplicate_answers["partner stream"] += int(
                result.status == partners_pb2.ACCRUAL_STATUS_DUPLICATE
            )
            self.books.accepted["partner stream"] += 1
            self.books.expect(record.member_id, key, result.points, "partner stream")
        else:
            self.books.rejected["partner stream"] += 1
            self.books.refuse(record.member_id, key)

    def _book_resent(self, record: partners_pb2.AccrualRecord, result: partners_pb2.AccrualResult) -> None:
        """A record sent again on the same stream: a duplicate if it was credited, refused again if not."""
        key = self._partner_key(record)
        if result.status == partners_pb2.ACCRUAL_STATUS_ACCEPTED:
            self.books.conflicts.append(f"{key}: accepted again when its batch was resent")
        elif result.status == partners_pb2.ACCRUAL_STATUS_DUPLICATE:
            self.books.duplicate_answers["partner stream"] += 1
            self.books.expect(record.member_id, key, result.points, "partner stream")

    async def partner_kafka(self) -> None:
        refuse = self._refuse()
        member = f"nobody-{uuid.uuid4().hex[:8]}" if refuse else self._member()
        dollars = self._rng.randrange(1, 300)
        record = self._accrual(member, dollars)
        as_json = self._rng.random() < 0.5
        value = json_format.MessageToJson(record).encode() if as_json else record.SerializeToString()
        headers = [
            ("partner-id", self.cast.partner_id.encode()),
            ("authorization", f"Bearer {self.cast.partner_key}".encode()),
        ]
        if as_json:
            headers.append(("content-type", JSON.encode()))
        self.books.sent["partner kafka"] += 1
        message = Message(PARTNER_ACCRUALS_TOPIC, member.encode(), value, tuple(headers), "partner kafka")
        await self.kafka.send(message, self.options.kafka_copies)
        if refuse:
            self.books.rejected["partner kafka"] += 1
            self.books.refuse(member, self._partner_key(record))
        else:
            self.books.accepted["partner kafka"] += 1
            self.books.expect(member, self._partner_key(record), dollars * PARTNER_POINTS_PER_USD, "partner kafka")

    async def redemption(self) -> None:
        member, key, refuse = self._member(), f"r-{uuid.uuid4()}", self._refuse()
        reward_id = self.cast.dear_reward_id if refuse else self.cast.reward_id
        request = rewards_pb2.RedeemRewardRequest(member_id=member, reward_id=reward_id, idempotency_key=key)
        self.books.sent["redemption"] += 1

        async def redeem() -> rewards_pb2.RedeemRewardResponse:
            answer: rewards_pb2.RedeemRewardResponse = await self.stubs.rewards.RedeemReward(
                request, timeout=CALL_TIMEOUT_S
            )
            if answer.redemption.status == rewards_pb2.REDEMPTION_STATUS_PENDING:
                # A repeat of a call still in progress (or left by a crash): ask again until it settles.
                raise _StillPending()
            return answer

        answer = await definitive(self.books, "redemption", _retry_pending(redeem))
        if isinstance(answer, grpc.aio.AioRpcError):
            self.books.rejected["redemption"] += 1
            return
        redemption = answer.redemption
        self.books.accepted["redemption"] += 1
        self.books.duplicate_answers["redemption"] += int(answer.duplicate)
        self.books.redeemed(Redeemed(redemption.redemption_id, member, redemption.points, redemption.code))

    async def ticket_with_goodwill(self) -> None:
        member, points = self._member(), self._rng.randrange(10, 400)
        self.books.sent["ticket goodwill"] += 1
        opening = tickets_pb2.OpenTicketRequest(
            member_id=member,
            category=tickets_pb2.TICKET_CATEGORY_ACCOUNT,
            channel=tickets_pb2.TICKET_CHANNEL_CHAT,
            subject="lost points",
        )
        opened = await definitive(
            self.books, "ticket goodwill", lambda: self.stubs.tickets.OpenTicket(opening, timeout=CALL_TIMEOUT_S)
        )
        if isinstance(opened, grpc.aio.AioRpcError):
            raise AssertionError(f"OpenTicket refused: {opened.code().name} {opened.details()}")
        ticket_id = opened.ticket.ticket_id
        resolving = tickets_pb2.ResolveTicketRequest(
            ticket_id=ticket_id,
            agent_id=AGENT_ID,
            resolution="credited",
            goodwill_points=points,
            goodwill_reason="sorry",
        )
        resolved = await definitive(
            self.books, "ticket goodwill", lambda: self.stubs.tickets.ResolveTicket(resolving, timeout=CALL_TIMEOUT_S)
        )
        if isinstance(resolved, grpc.aio.AioRpcError):
            # A retry of a resolution that went through is refused as already resolved: read the ticket.
            fetched = await definitive(
                self.books,
                "ticket goodwill",
                lambda: self.stubs.tickets.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=ticket_id), timeout=5),
            )
            if isinstance(fetched, grpc.aio.AioRpcError):
                raise AssertionError(f"GetTicket refused: {fetched.code().name}")
            ticket = fetched.ticket
        else:
            ticket = resolved.ticket
        if ticket.goodwill.status != tickets_pb2.GOODWILL_STATUS_GRANTED:
            self.books.rejected["ticket goodwill"] += 1
            self.books.refuse(member, f"goodwill:{ticket_id}")
            return
        self.books.accepted["ticket goodwill"] += 1
        self.books.expect(member, f"goodwill:{ticket_id}", ticket.goodwill.points, "ticket goodwill")


class _StillPending(Exception):
    pass


def _retry_pending(
    redeem: Callable[[], Awaitable[rewards_pb2.RedeemRewardResponse]],
) -> Callable[[], Awaitable[rewards_pb2.RedeemRewardResponse]]:
    """A pending redemption is no answer yet: the recovery job finishes it, so ask again a little later."""

    async def until_settled() -> rewards_pb2.RedeemRewardResponse:
        for _ in range(600):
            try:
                return await redeem()
            except _StillPending:
                await asyncio.sleep(0.5)
        raise Undecided("redemption still pending after five minutes")

    return until_settled
