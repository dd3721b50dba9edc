"""Client commands for partners, over gRPC PartnerService (at LOYALTY_POINTS_ADDRESS):

loyalty partner register PARTNER_ID NAME --kind airline    register a partner
loyalty partner rate PARTNER_ID UNIT POINTS --from DATE    add a conversion rate (points per unit) from DATE
loyalty partner key PARTNER_ID                            issue an API key (shown once)
loyalty partner revoke PARTNER_ID CREDENTIAL_ID           revoke a key
loyalty partner report PARTNER_ID DAY [--csv]             control totals of a day (UTC), per status and unit
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC
from functools import partial
from typing import TypeVar

from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc

from services.client import iso_moment, points_channel
from services.common.events import timestamp
from services.text_table import print_table, write_csv

_KINDS = {
    "airline": pb.PARTNER_KIND_AIRLINE,
    "hotel": pb.PARTNER_KIND_HOTEL,
    "car": pb.PARTNER_KIND_CAR,
    "retail": pb.PARTNER_KIND_RETAIL,
    "other": pb.PARTNER_KIND_OTHER,
}
_ROUNDING = {"down": pb.RATE_ROUNDING_DOWN, "half_up": pb.RATE_ROUNDING_HALF_UP, "up": pb.RATE_ROUNDING_UP}


def add_partner_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    partner = commands.add_parser("partner", help="administer partners and read their control totals")
    actions = partner.add_subparsers(dest="partner_command", required=True)

    register = actions.add_parser("register", help="register a partner")
    register.add_argument("partner_id")
    register.add_argument("name")
    register.add_argument("--kind", choices=sorted(_KINDS), required=True)
    register.set_defaults(run=lambda args: asyncio.run(_register(args)))

    rate = actions.add_parser("rate", help="add a conversion rate for one of the partner's units")
    rate.add_argument("partner_id")
    rate.add_argument("unit", help="a currency code (USD) or a unit name (MILE)")
    rate.add_argument("points_per_unit", help="decimal, e.g. 1 or 10.5")
    rate.add_argument("--from", dest="effective_from", required=True, help="date or ISO time (UTC without an offset)")
    rate.add_argument("--rounding", choices=sorted(_ROUNDING), default="down")
    rate.set_defaults(run=lambda args: asyncio.run(_rate(args)))

    key = actions.add_parser("key", help="issue an API key for the partner (shown once)")
    key.add_argument("partner_id")
    key.set_defaults(run=lambda args: asyncio.run(_key(args)))

    revoke = actions.add_parser("revoke", help="revoke one of the partner's keys")
    revoke.add_argument("partner_id")
    revoke.add_argument("credential_id")
    revoke.set_defaults(run=lambda args: asyncio.run(_revoke(args)))

    report = actions.add_parser("report", help="the day's control totals per status and unit")
    report.add_argument("partner_id")
    report.add_argument("day", help="YYYY-MM-DD (UTC)")
    report.add_argument("--csv", action="store_true", help="CSV instead of a table")
    report.set_defaults(run=lambda args: asyncio.run(_report(args)))


T = TypeVar("T")


async def _admin(call: Callable[[partners_pb2_grpc.PartnerServiceStub], Awaitable[T]]) -> T:
    """One PartnerService call on a channel opened for it."""
    async with points_channel() as channel:
        return await call(partners_pb2_grpc.PartnerServiceStub(channel))


async def _register(args: argparse.Namespace) -> int:
    request = pb.RegisterPartnerRequest(partner_id=args.partner_id, name=args.name, kind=_KINDS[args.kind])
    await _admin(lambda stub: stub.RegisterPartner(request))
    print(f"registered partner {args.partner_id} ({args.kind})")
    return 0


async def _rate(args: argparse.Namespace) -> int:
    rate = pb.ConversionRate(
        unit=args.unit,
        points_per_unit=args.points_per_unit,
        effective_from=timestamp(iso_moment(args.effective_from, "--from")),
        rounding=_ROUNDING[args.rounding],
    )
    request = pb.SetConversionRateRequest(partner_id=args.partner_id, rate=rate)
    await _admin(lambda stub: stub.SetConversionRate(request))
    # "1" as typed, leading zeros allowed as the service allows them; "1.0 points" reads as plural.
    points = "point" if args.points_per_unit.strip().lstrip("0") == "1" else "points"
    print(
        f"{args.partner_id}: 1 {args.unit} = {args.points_per_unit} {points} from {args.effective_from},"
        f" rounded {args.rounding.replace('_', ' ')}"
    )
    return 0


async def _key(args: argparse.Namespace) -> int:
    request = pb.IssuePartnerCredentialRequest(partner_id=args.partner_id)
    issued = await _admin(lambda stub: stub.IssuePartnerCredential(request))
    print(f"credential {issued.credential_id}; the key (shown only now): {issued.api_key}")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    request = pb.RevokePartnerCredentialRequest(partner_id=args.partner_id, credential_id=args.credential_id)
    revoked = await _admin(lambda stub: stub.RevokePartnerCredential(request))
    print(f"credential {args.credential_id} revoked at {revoked.revoked_at.ToDatetime(tzinfo=UTC).isoformat()}")
    return 0


_REPORT_COLUMNS = ("status", "unit", "records", "amount", "points")


async def _reconciliation_page(
    partner_id: str, day: str, page_token: str, stub: partners_pb2_grpc.PartnerServiceStub
) -> pb.GetReconciliationResponse:
    request = pb.GetReconciliationRequest(partner_id=partner_id, day=day, page_token=page_token)
    response: pb.GetReconciliationResponse = await stub.GetReconciliation(request)
    return response


async def _report(args: argparse.Namespace) -> int:
    lines: list[pb.ReconciliationLine] = []
    page_token = ""
    while True:
        report = await _admin(partial(_reconciliation_page, args.partner_id, args.day, page_token))
        lines += report.lines
        page_token = report.next_page_token
        if not page_token:
            break
    rows = [
        (
            pb.AccrualStatus.Name(line.status).removeprefix("ACCRUAL_STATUS_").lower(),
            line.unit,
            line.records,
            line.amount,
            line.points,
        )
        for line in lines
    ]
    if args.csv:
        write_csv(_REPORT_COLUMNS, rows)
        return 0
    print(f"partner {report.partner_id}, {report.day} (UTC)")
    print_table(_REPORT_COLUMNS, rows)
    return 0
