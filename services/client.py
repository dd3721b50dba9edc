"""Client commands for trying the platform: enroll, purchase (over gRPC or Kafka), balance.

They talk to the services only through their public contracts, as any internal
caller or commerce system would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import grpc
from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.common.currencies import currency_refusal, minor_unit_exponent, minor_units, too_many_decimals
from services.common.events import kafka_headers, new_envelope, timestamp
from services.common.kafka import PURCHASES_TOPIC, new_producer
from services.common.settings import client_address, grpc_tls_settings, service_settings
from services.common.tls import grpc_channel
from services.common.tracing import configure_tracing, publishing
from services.text_table import printable


def add_client_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    enroll = commands.add_parser("enroll", help="enroll a member (gRPC)")
    enroll.add_argument("member_id")
    enroll.add_argument("--email", default="")
    enroll.add_argument("--birth-date", default="", help="YYYY-MM-DD, for the birthday bonus")
    enroll.add_argument("--referrer", default="", help="member id of the member who referred this one")
    enroll.set_defaults(run=lambda args: asyncio.run(_enroll(args)))

    purchase = commands.add_parser("purchase", help="record a purchase over gRPC or publish it to Kafka")
    purchase.add_argument("member_id")
    purchase.add_argument("amount", help="amount in currency units, e.g. 42.50")
    purchase.add_argument("--currency", default="USD")
    purchase.add_argument("--purchase-id", default=None, help="defaults to a new UUID")
    purchase.add_argument("--via", choices=["grpc", "kafka"], default="grpc")
    purchase.set_defaults(run=lambda args: asyncio.run(_purchase(args)))

    balance = commands.add_parser(
        "balance", help="show a member's balance, when points expire or become available, and latest ledger entries"
    )
    balance.add_argument("member_id")
    balance.set_defaults(run=lambda args: asyncio.run(_balance(args)))


def iso_moment(text: str, flag: str) -> datetime:
    """A command-line date or ISO 8601 time; UTC when it names no offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"loyalty: {flag} {text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def points_channel() -> grpc.aio.Channel:
    return grpc_channel(client_address("points", os.environ), grpc_tls_settings(os.environ))


class ArgumentRefused(ValueError):
    """A command-line argument the command cannot use; the message names it. The command exits 2, as argparse's
    own refusals do."""


# Digits with an optional fraction, as the gRPC API's decimal fields take them (partner amounts, conversion rates):
# Decimal() alone also reads "inf", "nan", "1e3" and "1_000". A sign is let through for the service to refuse
# a negative amount with its own reason.
_PLAIN_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
# Money.amount_minor is an int64.
_MAX_MINOR = 2**63 - 1


def money(amount: str, currency: str) -> Money:
    """The `amount` argument, in currency units, as Money in `currency`; ArgumentRefused naming what is wrong."""
    if refusal := currency_refusal(currency):
        raise ArgumentRefused(f"currency {refusal}")
    if not _PLAIN_DECIMAL.fullmatch(amount):
        raise ArgumentRefused(f"amount {amount!r} is not a plain decimal amount like 42.50")
    minor = minor_units(Decimal(amount), currency)
    if minor is None:
        raise ArgumentRefused(f"amount {amount} {too_many_decimals(currency)}")
    if abs(minor) > _MAX_MINOR:
        limit = Decimal(_MAX_MINOR).scaleb(-minor_unit_exponent(currency))
        raise ArgumentRefused(f"amount {amount} is out of range: at most {limit} {currency} either way")
    return Money(amount_minor=minor, currency_code=currency)


async def _enroll(args: argparse.Namespace) -> int:
    async with points_channel() as channel:
        response = await points_pb2_grpc.PointsServiceStub(channel).EnrollMember(
            pb.EnrollMemberRequest(
                member_id=args.member_id,
                email=args.email,
                birth_date=args.birth_date,
                referrer_member_id=args.referrer,
            )
        )
    print(f"enrolled {response.member.member_id} in tier {response.member.tier}")
    return 0


def record_purchase_request(member_id: str, amount: Money, purchase_id: str | None = None) -> pb.RecordPurchaseRequest:
    """A RecordPurchase request for a purchase made now; a new purchase id unless one is given."""
    return pb.RecordPurchaseRequest(
        purchase_id=purchase_id or str(uuid.uuid4()),
        member_id=member_id,
        amount=amount,
        occurred_at=timestamp(datetime.now(UTC)),
    )


def purchase_made_message(
    member_id: str,
    amount: Money,
    purchase_id: str | None = None,
    source: str = "loyalty.cli",
    occurred_at: datetime | None = None,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A PurchaseMade envelope, as a commerce system publishes it: value and headers.

    The purchase was made now unless `occurred_at` says when: a purchase id sent again must carry its time.
    """
    now = datetime.now(UTC)
    event = commerce_pb2.PurchaseMade(
        purchase_id=purchase_id or str(uuid.uuid4()),
        member_id=member_id,
        amount=amount,
        occurred_at=timestamp(occurred_at or now),
    )
    envelope = new_envelope(event, subject=member_id, source=source, occurred_at=now)
    return envelope.SerializeToString(), kafka_headers(envelope)


async def publish_purchase(
    producer: AIOKafkaProducer, member_id: str, amount: Money, purchase_id: str | None = None
) -> None:
    """Publish a PurchaseMade made now under a producer span, as the outbox relay publishes: the envelope's
    trace context and its `traceparent` header name that span, so the consumers' spans join its trace."""
    with publishing(PURCHASES_TOPIC):
        value, headers = purchase_made_message(member_id, amount, purchase_id)
        await producer.send_and_wait(PURCHASES_TOPIC, value, key=member_id.encode(), headers=headers)


async def _purchase(args: argparse.Namespace) -> int:
    amount = money(args.amount, args.currency)
    if args.via == "grpc":
        request = record_purchase_request(args.member_id, amount, args.purchase_id)
        async with points_channel() as channel:
            response = await points_pb2_grpc.PointsServiceStub(channel).RecordPurchase(request)
        note = " (duplicate: already recorded)" if response.duplicate else ""
        print(f"purchase {request.purchase_id}: {response.points_earned} points, balance {response.balance}{note}")
        return 0
    # The event starts a trace, exported like the services' when OTEL_EXPORTER_OTLP_ENDPOINT is set.
    configure_tracing("cli")
    producer = new_producer(service_settings("points").kafka)
    try:
        await producer.start()
        await publish_purchase(producer, args.member_id, amount, args.purchase_id)
    finally:
        await producer.stop()
    print(f"published PurchaseMade for {args.member_id} to {PURCHASES_TOPIC}")
    return 0


async def _balance(args: argparse.Namespace) -> int:
    async with points_channel() as channel:
        stub = points_pb2_grpc.PointsServiceStub(channel)
        balance = await stub.GetBalance(pb.GetBalanceRequest(member_id=args.member_id))
        member = (await stub.GetMember(pb.GetMemberRequest(member_id=args.member_id))).member
        entries = await stub.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=args.member_id, page_size=5))
        schedule = await stub.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id=args.member_id))
    print(balance_line(balance, closed=member.status == pb.MEMBER_STATUS_CLOSED))
    for line in schedule_lines(schedule):
        print(f"  {line}")
    for entry in entries.entries:
        print(f"  {entry.created_at.ToDatetime():%Y-%m-%d %H:%M:%S}  {entry.points:+d}  {printable(entry.description)}")
    return 0


def balance_line(balance: pb.GetBalanceResponse, *, closed: bool) -> str:
    """The member's balance in a line. Owed points (a refund of points already spent, under the debt policy) are
    off the books, so said apart: a closed member earns nothing more to repay them, so finance writes them off."""
    owed = ""
    if balance.points_owed and closed:
        owed = f"; {balance.points_owed} owed (closed: never repaid, for finance to write off)"
    elif balance.points_owed:
        owed = f"; {balance.points_owed} owed, repaid from the next points earned"
    return (
        f"{balance.member_id}{' (closed)' if closed else ''}: {balance.balance} points: {balance.available} available,"
        f" {balance.pending} pending, {balance.held} held ({balance.lifetime_earned} earned in all){owed}"
    )


def schedule_lines(schedule: pb.GetPointsScheduleResponse) -> list[str]:
    """What `loyalty balance` says of a GetPointsSchedule answer: the next expiry, the next points to become
    available (each with what follows later) and the inactivity date; times in UTC."""
    lines = []
    if schedule.expiring:
        expiring, *expiring_later = schedule.expiring
        lines.append(
            f"{expiring.points} points expire on {_utc(expiring.expires_at)}"
            f"{_later(expiring_later, schedule.expiring_truncated)}"
        )
    if schedule.pending:
        pending, *pending_later = schedule.pending
        lines.append(
            f"{pending.points} pending points become available on {_utc(pending.available_at)}"
            f"{_later(pending_later, schedule.pending_truncated)}"
        )
    if schedule.HasField("inactivity_expires_at"):
        lines.append(
            f"{schedule.inactivity_points} points expire on {_utc(schedule.inactivity_expires_at)}"
            " unless the member is active before (inactivity policy)"
        )
    return lines


def _utc(moment: Timestamp) -> str:
    return f"{moment.ToDatetime():%Y-%m-%d %H:%M} UTC"


def _later(groups: Sequence[pb.ExpiringPoints | pb.PendingPoints], truncated: bool) -> str:
    if not groups:
        return ""
    more = "more than " if truncated else ""
    return f"; {more}{sum(group.points for group in groups)} more later"
