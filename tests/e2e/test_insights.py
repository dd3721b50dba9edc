"""Insights in the running platform: the fixture history through the topics, live purchases, and the dashboard
opened in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser is downloaded).

The platform runs with tokens configured, so the dashboard asks for the admin credential.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.insights.v1 import insights_pb2 as pb
from loyalty.insights.v1 import insights_pb2_grpc
from loyalty.points.v1 import points_pb2, points_pb2_grpc

from services.common.events import kafka_headers, timestamp
from services.dev import Platform
from services.insights.consumers import Topics
from tests.e2e.conftest import running_platform
from tests.e2e.support import eventually, usd
from tests.insights_history import COST_PER_POINT, WINDOW, history

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "ops-admin-token-" + uuid.uuid4().hex
SERVICE_TOKEN = "svc-service-token-" + uuid.uuid4().hex
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Where to also save the screenshot (the README's docs/insights-dashboard.png is made so).
SCREENSHOT_TO = os.environ.get("LOYALTY_DASHBOARD_SCREENSHOT")


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Platform]:
    """A platform of its own (the fixture's member ids and months must not meet other tests' events)."""
    env = {
        "LOYALTY_INSIGHTS_COST_PER_POINT": str(COST_PER_POINT),
        "LOYALTY_AUTH_TOKENS": f"ops:admin:{ADMIN_TOKEN},svc:service:{SERVICE_TOKEN}",
        "LOYALTY_CALLER_TOKEN": SERVICE_TOKEN,
    }
    async with running_platform(tmp_path_factory, postgres_admin_url, env, seed=False) as running:
        yield running


def _as(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
async def insights(platform: Platform) -> AsyncIterator[insights_pb2_grpc.InsightsServiceStub]:
    """InsightsService once the whole fixture history is in the read model."""
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for kind, envelope in history():
            await producer.send_and_wait(
                getattr(Topics(), kind),
                envelope.SerializeToString(),
                key=envelope.subject.encode(),
                headers=kafka_headers(envelope),
            )
    finally:
        await producer.stop()
    async with grpc.aio.insecure_channel(platform.grpc_address("insights")) as channel:
        stub = insights_pb2_grpc.InsightsServiceStub(channel)
        march = pb.GetKpisRequest(from_time=timestamp(WINDOW[0]), to_time=timestamp(WINDOW[1]))

        async def outstanding() -> tuple[int, int]:
            total = (await stub.GetKpis(march, metadata=_as(ADMIN_TOKEN))).total
            return total.points_outstanding, total.service.surveys

        await eventually(outstanding, lambda seen: seen == (1890, 4), "March's outstanding points and surveys")
        yield stub


async def test_kpis_need_the_admin_role(insights: insights_pb2_grpc.InsightsServiceStub) -> None:
    request = pb.GetKpisRequest(from_time=timestamp(WINDOW[0]), to_time=timestamp(WINDOW[1]))
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await insights.GetKpis(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as service:
        await insights.GetKpis(request, metadata=_as(SERVICE_TOKEN))
    assert service.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_purchase_recorded_over_grpc_reaches_the_kpis(
    platform: Platform, insights: insights_pb2_grpc.InsightsServiceStub
) -> None:
    """The points service tells insights about it with PointsEarned (no commerce event exists for it)."""
    member_id = f"live-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        await points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id), metadata=_as(SERVICE_TOKEN))
        purchase = points_pb2.RecordPurchaseRequest(
            purchase_id=f"order-{member_id}", member_id=member_id, amount=usd(4250), occurred_at=timestamp(now)
        )
        await points.RecordPurchase(purchase, metadata=_as(SERVICE_TOKEN))
    month = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now.replace(year=now.year + 1))
    request = pb.GetKpisRequest(from_time=timestamp(month[0]), to_time=timestamp(month[1]))

    async def this_month() -> tuple[int, int, int, int]:
        total = (await insights.GetKpis(request, metadata=_as(ADMIN_TOKEN))).total
        return total.members_enrolled, total.purchasing_members, total.revenue.amount_minor, total.points_earned

    assert await eventually(this_month, lambda k: k == (1, 1, 4250, 84), "the live member's month") == (1, 1, 4250, 84)


def _get(url: str, authorization: str | None = None, method: str = "GET") -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method=method)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


async def test_the_dashboard_is_read_only_and_for_admins(
    platform: Platform, insights: insights_pb2_grpc.InsightsServiceStub
) -> None:
    url = platform.dashboard_url
    status, headers = _get(url)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert _get(url, f"Bearer {SERVICE_TOKEN}")[0] == 403
    assert _get(url, f"Bearer {ADMIN_TOKEN}")[0] == 200
    assert _get(url, f"Bearer {ADMIN_TOKEN}", method="POST")[0] == 405
    assert _get(url + "?months=0", f"Bearer {ADMIN_TOKEN}")[0] == 400


def _chromium_or_skip() -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium); CI installs it")
    return CHROMIUM


async def test_the_dashboard_draws_the_fixture_months_in_chromium(
    platform: Platform, insights: insights_pb2_grpc.InsightsServiceStub, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    executable = _chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                http_credentials={"username": "ops", "password": ADMIN_TOKEN}, viewport={"width": 1400, "height": 1300}
            )
            page = await context.new_page()
            await page.goto(platform.dashboard_url + "?until=2026-04&months=6")
            await page.wait_for_selector("body[data-rendered=true]", timeout=30_000)
            charts: dict[str, Any] = await page.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('canvas')].map(canvas => {
                       const chart = Chart.getChart(canvas);
                       const blank = document.createElement('canvas');
                       blank.width = canvas.width; blank.height = canvas.height;
                       return [canvas.id, {
                           labels: chart.data.labels,
                           data: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data])),
                           drawn: canvas.dataset.rendered === 'true' && canvas.toDataURL() !== blank.toDataURL(),
                       }];
                   }))"""
            )
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            if SCREENSHOT_TO:
                await page.screenshot(path=SCREENSHOT_TO, full_page=True)
        finally:
            await browser.close()
    assert all(chart["drawn"] for chart in charts.values()), charts
    months = ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]
    assert all(chart["labels"] == months for chart in charts.values())
    feb, mar = months.index("2026-02"), months.index("2026-03")

    def at(chart: str, label: str, month: int) -> Any:
        return charts[chart]["data"][label][month]

    # March, as in tests/integration/test_insights_kpis.py.
    assert (at("chart-members", "Active members", mar), at("chart-members", "Enrolled in the month", mar)) == (4, 2)
    assert at("chart-rates", "Customer retention", mar) == pytest.approx(75.0)
    assert at("chart-rates", "Repeat purchase", mar) == pytest.approx(200 / 3, abs=1e-3)
    assert at("chart-rates", "Net revenue retention", mar) == pytest.approx(2300 / 29.5, abs=1e-3)
    assert [at("chart-points", label, mar) for label in ("Earned", "Redeemed", "Expired")] == [1600, 450, 60]
    assert at("chart-liability", "Liability (USD)", mar) == pytest.approx(23.63)
    assert at("chart-liability", "Outstanding points", mar) == 1890
    assert (at("chart-tier-movements", "Upgrades", mar), at("chart-tier-movements", "Downgrades", mar)) == (1, 1)
    assert {tier: at("chart-tiers", tier, mar) for tier in ("base", "gold", "silver")} == {
        "base": 5,
        "gold": 1,
        "silver": 1,
    }
    assert [at("chart-service", label, mar) for label in ("NPS", "CSAT (%)", "CES (1-7)")] == [25, 50, 3.25]
    # February: 690 points earned; at its end 650 outstanding (fay's 60 expire at 00:00 on 1 March), 8.125 -> 8.13.
    assert at("chart-points", "Earned", feb) == 690
    assert at("chart-liability", "Liability (USD)", feb) == pytest.approx(8.13)
    assert at("chart-service", "NPS", feb) == -100  # hal's 0
