"""`loyalty report`: program KPIs of a window over gRPC InsightsService (at LOYALTY_INSIGHTS_ADDRESS).

loyalty report --from 2026-03-01 --to 2026-04-01 [--by tier|partner] [--format table|csv]

One row per KPI, one column for the whole program and one per tier or
partner; docs/insights.md defines each KPI. Rates are fractions in CSV and
percentages in the table; a rate with nothing to divide by is empty (CSV) or
"n/a" (table).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal

from loyalty.common.v1.common_pb2 import Money
from loyalty.insights.v1 import insights_pb2 as pb
from loyalty.insights.v1 import insights_pb2_grpc

from services.client import iso_moment
from services.common.currencies import is_currency_code, minor_unit_exponent
from services.common.events import timestamp
from services.common.settings import client_address, grpc_tls_settings
from services.common.tls import grpc_channel
from services.text_table import print_table, write_csv

_GROUPINGS = {"tier": pb.GROUPING_TIER, "partner": pb.GROUPING_PARTNER}
COUNTS = (
    "members_enrolled",
    "members_total",
    "members_active",
    "purchasing_members",
    "repeat_purchasers",
    "members_at_start",
    "members_at_end",
    "new_members",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "points_outstanding",
    "rewards_redeemed",
)
_RATES = (
    "repeat_purchase_rate",
    "customer_retention_rate",
    "net_revenue_retention",
    "redemption_rate",
    "breakage_rate",
)
_AMOUNTS = ("revenue", "existing_member_revenue", "existing_member_previous_revenue", "liability")
_SCORES = ("nps", "ces", "csat")

# A KPI's value for the table and for CSV.
Cell = tuple[str, str]


def add_report_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser("report", help="program KPIs of a time window (insights service)")
    report.add_argument("--from", dest="start", required=True, help="start (inclusive): date or ISO time, UTC")
    report.add_argument("--to", dest="end", required=True, help="end (exclusive): date or ISO time, UTC")
    report.add_argument("--by", choices=sorted(_GROUPINGS), help="a column per tier or per partner as well")
    report.add_argument("--format", choices=["table", "csv"], default="table")
    report.set_defaults(run=lambda args: asyncio.run(_report(args)))


async def _report(args: argparse.Namespace) -> int:
    request = pb.GetKpisRequest(
        from_time=timestamp(iso_moment(args.start, "--from")),
        to_time=timestamp(iso_moment(args.end, "--to")),
        group_by=_GROUPINGS.get(args.by, pb.GROUPING_UNSPECIFIED),
    )
    async with grpc_channel(client_address("insights", os.environ), grpc_tls_settings(os.environ)) as channel:
        response = await insights_pb2_grpc.InsightsServiceStub(channel).GetKpis(request)
    print_report(response, as_csv=args.format == "csv")
    return 0


def print_report(response: pb.GetKpisResponse, *, as_csv: bool) -> None:
    columns = [("total", response.total)] + [(s.tier or s.partner_id, s.kpis) for s in response.segments]
    names = kpi_names([k for _, k in columns])
    cells = [kpi_cells(k) for _, k in columns]
    pick = 1 if as_csv else 0
    # A tier, movement or partner a column lacks counts zero there.
    rows = [[name, *(c.get(name, ("0", "0"))[pick] for c in cells)] for name in names]
    header = ["kpi", *(name for name, _ in columns)]
    if as_csv:
        write_csv(header, rows)
        return
    start, end = (t.ToDatetime(tzinfo=UTC).isoformat() for t in (response.from_time, response.to_time))
    print(f"{start} to {end}; {response.currency_code}, {response.cost_per_point} per point")
    print_table(header, rows)


def kpi_names(all_kpis: list[pb.Kpis]) -> list[str]:
    """Every KPI row, in a fixed order; tiers, movements and partners as any column has them."""
    names = [*COUNTS, *_RATES, *_AMOUNTS, "surveys", *_SCORES]
    for kpis in all_kpis:
        for name in kpi_cells(kpis):
            if name not in names:
                names.append(name)
    return names


def kpi_cells(kpis: pb.Kpis) -> dict[str, Cell]:
    """Each KPI of `kpis` as (table text, CSV text)."""
    cells: dict[str, Cell] = {name: _plain(getattr(kpis, name)) for name in COUNTS}
    cells |= {name: _rate(kpis, name, lambda v: f"{100 * v:.2f}%") for name in _RATES}
    cells |= {name: _money(getattr(kpis, name)) for name in _AMOUNTS}
    cells["surveys"] = _plain(kpis.service.surveys)
    cells |= {name: _rate(kpis.service, name, lambda v: f"{v:.2f}") for name in _SCORES}
    cells |= {f"tier_members[{t.tier}]": _plain(t.members) for t in kpis.tier_distribution}
    for move in kpis.tier_movements:
        cells[f"tier_moves[{move.from_tier}>{move.to_tier}]"] = _plain(move.members)
    for partner in kpis.partner_accruals:
        for what in ("accruals", "points", "members"):
            cells[f"partner_{what}[{partner.partner_id}]"] = _plain(getattr(partner, what))
    return cells


def _plain(value: int) -> Cell:
    return str(value), str(value)


def _rate(message: pb.Kpis | pb.ServiceScores, name: str, shown: Callable[[float], str]) -> Cell:
    if not message.HasField(name):
        return "n/a", ""
    value: float = getattr(message, name)
    return shown(value), repr(value)


def _money(money: Money) -> Cell:
    if not is_currency_code(money.currency_code):
        return f"{money.amount_minor} minor units of {money.currency_code!r}", str(money.amount_minor)
    amount = str(Decimal(money.amount_minor).scaleb(-minor_unit_exponent(money.currency_code)))
    return f"{amount} {money.currency_code}", amount
