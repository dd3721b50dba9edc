"""The insights dashboard: one read-only web page with the KPIs month by month, served over HTTP.

The page is rendered with the months' figures embedded as JSON, and
static/dashboard.js draws them with Chart.js (vendored in static/, see
static/README.md). Only GET is served. When the service has tokens configured
(LOYALTY_AUTH_TOKENS), every request needs an admin token, given either as
`Authorization: Bearer <token>` or as HTTP Basic with the token as the
password (any user name), which is what a browser asks a person for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from aiohttp import BasicAuth, web
from aiohttp.typedefs import Handler, Middleware

from services.common.auth import Authorizer, bearer_token, refuse_partner_keys
from services.common.errors import DomainError, PermissionDenied, Unauthenticated
from services.insights import kpis
from services.insights.application import InsightsApplication, Report

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
# The dashboard shows what GetKpis answers, so it needs what GetKpis needs.
DASHBOARD_PERMISSION = "/loyalty.insights.v1.InsightsService/GetKpis"
DEFAULT_MONTHS = 12
_REALM = 'Basic realm="loyalty insights", charset="UTF-8"'


def presented_token(authorization: str) -> str:
    """The token of an `Authorization` header: a bearer token, or the password of HTTP Basic; "" if none."""
    if token := bearer_token(authorization):
        return token
    if authorization.startswith("Basic "):
        try:
            password: str = BasicAuth.decode(authorization).password
        except ValueError:
            return ""
        return password
    return ""


def _admin_only(authorizer: Authorizer | None) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = presented_token(request.headers.get("Authorization", ""))
        metadata = [("authorization", f"Bearer {token}")] if token else []
        try:
            if authorizer is not None:
                authorizer.check(DASHBOARD_PERMISSION, metadata)
            else:
                refuse_partner_keys(DASHBOARD_PERMISSION, metadata)  # as every gRPC API does
        except Unauthenticated as error:
            raise web.HTTPUnauthorized(text=error.message, headers={"WWW-Authenticate": _REALM}) from None
        except PermissionDenied as error:
            raise web.HTTPForbidden(text=error.message) from None
        return await handler(request)

    return check


def series(reports: list[Report], valuation: kpis.Valuation, currency: str) -> dict[str, object]:
    """The months' figures as the page's script reads them: one list per KPI, a value per month."""

    def each(value: Callable[[kpis.Kpis], object]) -> list[object]:
        return [value(r.total) for r in reports]

    def percent(rate: float | None) -> float | None:
        return None if rate is None else round(100 * rate, 4)

    unit = 10**valuation.currency_exponent
    tiers = sorted({tier for r in reports for tier in r.total.tier_distribution})
    return {
        "currency": currency,
        "cost_per_point": str(valuation.cost_per_point),
        "months": [r.window.start.strftime("%Y-%m") for r in reports],
        "members_active": each(lambda k: k.members_active),
        "members_enrolled": each(lambda k: k.members_enrolled),
        "repeat_purchase_rate": each(lambda k: percent(k.repeat_purchase_rate)),
        "customer_retention_rate": each(lambda k: percent(k.customer_retention_rate)),
        "net_revenue_retention": each(lambda k: percent(k.net_revenue_retention)),
        "redemption_rate": each(lambda k: percent(k.redemption_rate)),
        "breakage_rate": each(lambda k: percent(k.breakage_rate)),
        "points_earned": each(lambda k: k.points_earned),
        "points_redeemed": each(lambda k: k.points_redeemed),
        "points_expired": each(lambda k: k.points_expired),
        "points_outstanding": each(lambda k: k.points_outstanding),
        "liability": each(lambda k: k.liability_minor / unit),
        "tier_upgrades": each(lambda k: sum(m.members for m in k.tier_movements if m.upgrade)),
        "tier_downgrades": each(lambda k: sum(m.members for m in k.tier_movements if not m.upgrade)),
        "tiers": tiers,
        "tier_members": {tier: [r.total.tier_distribution.get(tier, 0) for r in reports] for tier in tiers},
        "nps": each(lambda k: k.service.nps),
        "ces": each(lambda k: k.service.ces),
        "csat": each(lambda k: k.service.csat),
        "surveys": each(lambda k: k.service.surveys),
    }


def render(figures: dict[str, object]) -> str:
    # "</" could close the script element that holds the JSON.
    data = json.dumps(figures).replace("</", "<\\/")
    return Template((HERE / "dashboard.html").read_text()).substitute(data=data)


class Dashboard:
    """The web server, on `host:port` once started (the runtime starts it as a service endpoint)."""

    name = "dashboard"

    def __init__(self, insights: InsightsApplication, host: str, port: int) -> None:
        self._insights = insights
        self._host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _page(self, request: web.Request) -> web.Response:
        """`?months=N` (default 12) calendar months ending with `?until=YYYY-MM` (default: this month)."""
        months, until = request.query.get("months", str(DEFAULT_MONTHS)), request.query.get("until")
        try:
            count = int(months)
        except ValueError:
            raise web.HTTPBadRequest(text=f"months: must be a whole number, got {months!r}") from None
        try:
            last = None if until is None else datetime.strptime(until, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise web.HTTPBadRequest(text=f"until: must be a month as YYYY-MM, got {until!r}") from None
        try:
            reports = await self._insights.monthly(count, last)
        except DomainError as error:
            raise web.HTTPBadRequest(text=error.message) from None
        figures = series(reports, self._insights.valuation, self._insights.currency)
        return web.Response(text=render(figures), content_type="text/html")

    async def start(self, authorizer: Authorizer | None) -> None:
        """Serve the page to the callers `authorizer` lets in with the admin role (any caller, without one)."""
        app = web.Application(middlewares=[_admin_only(authorizer)])
        app.router.add_get("/", self._page)
        app.router.add_static("/static/", STATIC)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self.port).start()
        except OSError:
            await runner.cleanup()  # the service goes on without the dashboard: nothing of it stays open
            raise
        self._runner = runner
        log.info("dashboard started", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
