"""The demo `loyalty dev` seeds: two members and a purchase, recorded through the points API as a client would.

It calls as the `loyalty` client commands do: over TLS trusting LOYALTY_GRPC_TLS_CA_FILE when set, and with
LOYALTY_CALLER_TOKEN when set, so it works on a platform that requires tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1 import common_pb2
from loyalty.points.v1 import points_pb2, points_pb2_grpc

from services.common.embedded import StartupError
from services.common.settings import grpc_tls_settings
from services.common.tls import grpc_channel

DEMO_MEMBERS = (
    ("demo-alice", "alice@example.com", "Alice", "Demo"),
    ("demo-bob", "bob@example.com", "Bob", "Demo"),
)
# Fixed, so re-running `loyalty dev` on the same data repeats the purchase and earns nothing twice.
DEMO_PURCHASE_ID = "demo-purchase-0001"
DEMO_AMOUNT = common_pb2.Money(amount_minor=4250, currency_code="USD")


_REFUSALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class SeedingRefused(StartupError):
    """The points service refused the demo's calls for want of a (good) caller token: nothing else is wrong,
    so `loyalty dev` runs on without the demo and says why."""


async def seed_demo(points_address: str, env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Enroll the demo members and record one purchase; returns each member's balance.

    TLS and the caller token come from `env` (the process's environment by default), as for the client commands.
    """
    env = os.environ if env is None else env
    async with grpc_channel(points_address, grpc_tls_settings(env), env=env) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        try:
            for member_id, email, given_name, family_name in DEMO_MEMBERS:
                await _enroll(points, member_id, email, given_name, family_name)
            await points.RecordPurchase(_demo_purchase(DEMO_MEMBERS[0][0]), timeout=10)
            return {m[0]: await _balance(points, m[0]) for m in DEMO_MEMBERS}
        except grpc.aio.AioRpcError as error:
            if error.code() in _REFUSALS:
                raise SeedingRefused(_refused(error, env)) from error
            raise StartupError(f"seeding the demo failed: {error.code().name}: {error.details()}") from error


def _refused(error: grpc.aio.AioRpcError, env: Mapping[str, str]) -> str:
    said = f"{error.code().name}: {error.details()}"
    if not env.get("LOYALTY_CALLER_TOKEN"):
        return (
            f"the points service requires a token ({said}) and LOYALTY_CALLER_TOKEN is not set; set it to a"
            " `service` or `admin` token of LOYALTY_AUTH_TOKENS to seed the demo (or pass --no-seed)"
        )
    return (
        f"the points service refused LOYALTY_CALLER_TOKEN ({said}); it must be a `service` or `admin` token"
        " of LOYALTY_AUTH_TOKENS (or LOYALTY_AUTH_TOKENS_FILE) to seed the demo (or pass --no-seed)"
    )


async def _enroll(
    points: points_pb2_grpc.PointsServiceStub, member_id: str, email: str, given_name: str, family_name: str
) -> None:
    request = points_pb2.EnrollMemberRequest(
        member_id=member_id, email=email, given_name=given_name, family_name=family_name
    )
    try:
        await points.EnrollMember(request, timeout=10)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:  # enrolled by an earlier run: fine
            raise


def _demo_purchase(member_id: str) -> points_pb2.RecordPurchaseRequest:
    occurred_at = Timestamp()
    occurred_at.GetCurrentTime()
    item = common_pb2.LineItem(sku="COFFEE-BEANS-1KG", category="grocery", quantity=1, unit_price=DEMO_AMOUNT)
    return points_pb2.RecordPurchaseRequest(
        purchase_id=DEMO_PURCHASE_ID,
        member_id=member_id,
        amount=DEMO_AMOUNT,
        line_items=[item],
        occurred_at=occurred_at,
        channel="demo",
    )


async def _balance(points: points_pb2_grpc.PointsServiceStub, member_id: str) -> int:
    reply = await points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id), timeout=10)
    balance: int = reply.balance
    return balance
