"""Client commands for spending points: hold, capture, release, adjust, refund, close (all over gRPC)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import uuid
from datetime import UTC, datetime

from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import money, points_channel
from services.common.events import timestamp
from services.text_table import printable


def add_ledger_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hold = commands.add_parser("hold", help="reserve points (first phase of a redemption)")
    hold.add_argument("member_id")
    hold.add_argument("points", type=int)
    hold.add_argument("--ttl", type=int, default=900, help="seconds until an uncaptured hold expires")
    hold.add_argument("--key", default=None, help="idempotency key; defaults to a new UUID")
    hold.add_argument("--description", default="")
    hold.set_defaults(run=lambda args: asyncio.run(_hold(args)))

    for name, helptext in (("capture", "spend a hold's points"), ("release", "free a hold's points")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("hold_id")
        command.set_defaults(run=lambda args, name=name: asyncio.run(_settle(args, name)))

    adjust = commands.add_parser("adjust", help="credit (positive) or debit (negative) points by hand")
    adjust.add_argument("member_id")
    adjust.add_argument("points", type=int)
    adjust.add_argument("--reason", required=True)
    adjust.add_argument("--actor", required=True, help="who makes the adjustment")
    adjust.add_argument("--key", default=None, help="idempotency key; defaults to a new UUID")
    adjust.set_defaults(run=lambda args: asyncio.run(_adjust(args)))

    refund = commands.add_parser("refund", help="take back what a purchase earned, in proportion to a refund")
    refund.add_argument("purchase_id")
    refund.add_argument("amount", help="amount refunded in currency units, e.g. 10.00")
    refund.add_argument("--currency", default="USD")
    refund.add_argument("--refund-id", default=None, help="idempotency key; defaults to a new UUID")
    refund.set_defaults(run=lambda args: asyncio.run(_refund(args)))

    close = commands.add_parser("close", help="close a member, forfeiting its points (admin role)")
    close.add_argument("member_id")
    close.add_argument("--reason", required=True, help="why, one line (member request, fraud, erasure request)")
    close.add_argument("--actor", default=None, help="who closes the member; defaults to the login name")
    close.set_defaults(run=lambda args: asyncio.run(_close(args)))


def _describe(hold: pb.Hold) -> str:
    status = pb.HoldStatus.Name(hold.status).removeprefix("HOLD_STATUS_").lower()
    return f"hold {hold.hold_id}: {hold.points} points of {hold.member_id}, {status}"


async def _hold(args: argparse.Namespace) -> int:
    request = pb.HoldPointsRequest(
        member_id=args.member_id,
        points=args.points,
        idempotency_key=args.key or str(uuid.uuid4()),
        ttl=Duration(seconds=args.ttl),
        description=args.description,
    )
    async with points_channel() as channel:
        response = await points_pb2_grpc.PointsServiceStub(channel).HoldPoints(request)
    print(_describe(response.hold) + (" (already placed)" if response.duplicate else ""))
    return 0


async def _settle(args: argparse.Namespace, action: str) -> int:
    async with points_channel() as channel:
        stub = points_pb2_grpc.PointsServiceStub(channel)
        if action == "capture":
            response = await stub.CaptureHold(pb.CaptureHoldRequest(hold_id=args.hold_id))
        else:
            response = await stub.ReleaseHold(pb.ReleaseHoldRequest(hold_id=args.hold_id))
    print(_describe(response.hold))
    return 0


async def _adjust(args: argparse.Namespace) -> int:
    request = pb.AdjustPointsRequest(
        member_id=args.member_id,
        points=args.points,
        reason=args.reason,
        actor=args.actor,
        idempotency_key=args.key or str(uuid.uuid4()),
    )
    async with points_channel() as channel:
        response = await points_pb2_grpc.PointsServiceStub(channel).AdjustPoints(request)
    note = " (already applied)" if response.duplicate else ""
    entry = response.entry
    print(f"{entry.points:+d} points for {entry.member_id}: {printable(entry.description)}{note}")
    return 0


async def _refund(args: argparse.Namespace) -> int:
    request = pb.RefundPurchaseRequest(
        refund_id=args.refund_id or str(uuid.uuid4()),
        purchase_id=args.purchase_id,
        amount=money(args.amount, args.currency),
        occurred_at=timestamp(datetime.now(UTC)),
    )
    async with points_channel() as channel:
        response = await points_pb2_grpc.PointsServiceStub(channel).RefundPurchase(request)
    note = " (already applied)" if response.duplicate else ""
    owed = f", {response.points_owed} of them owed" if response.points_owed else ""
    if response.points_overdrawn:
        owed = f", {response.points_overdrawn} of them already spent (balance overdrawn)"
    if response.points_expired:
        owed += f", {response.points_expired} of them had expired (not taken again)"
    print(f"refund {request.refund_id}: {response.points_reversed} points taken back{owed}{note}")
    return 0


async def _close(args: argparse.Namespace) -> int:
    request = pb.CloseMemberRequest(member_id=args.member_id, reason=args.reason, actor=args.actor or _login())
    async with points_channel() as channel:
        response = await points_pb2_grpc.PointsServiceStub(channel).CloseMember(request)
    when = f"{response.closed_at.ToDatetime():%Y-%m-%d %H:%M:%S} UTC"
    if response.duplicate:
        print(f"{args.member_id} was already closed at {when} ({response.points_forfeited} points forfeited then)")
        return 0
    entry = f" (ledger entry {response.ledger_entry_id})" if response.ledger_entry_id else ""
    print(f"{args.member_id} closed at {when}: {response.points_forfeited} points forfeited{entry}")
    return 0


def _login() -> str:
    """Who runs the command, as the actor of what it does; 'cli' when the system cannot tell."""
    try:
        return getpass.getuser()
    except OSError:
        return "cli"
