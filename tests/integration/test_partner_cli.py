"""Partners administered and reported from the command line, against a real points service."""

from __future__ import annotations

from datetime import date, timedelta

import grpc
import pytest
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc

from services.common import page_tokens
from services.points import partner_application
from tests.integration.partner_support import TODAY, airline, auth, enroll, intake
from tests.integration.points_ledger_support import new_id
from tests.integration.support import field_violations, run_cli

__all__ = ["intake"]


async def registered_with_key(capsys: pytest.CaptureFixture[str], partner_id: str, name: str, kind: str) -> str:
    """Register a partner and issue its key with the CLI; returns the key it printed."""
    assert await run_cli("partner", "register", partner_id, name, "--kind", kind) == 0
    assert await run_cli("partner", "key", partner_id) == 0
    return capsys.readouterr().out.rsplit(" ", 1)[-1].strip()


async def test_partners_are_administered_and_reported_from_the_command_line(
    points_address: str,
    channel: grpc.aio.Channel,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    partner_id = new_id("car").lower()
    key = await registered_with_key(capsys, partner_id, "Rent-a-Car", "car")
    rate = ("partner", "rate", partner_id, "USD", "2.5", "--from", "2020-01-01", "--rounding", "half_up")
    assert await run_cli(*rate) == 0
    capsys.readouterr()
    member = await enroll(channel)
    rental = pb.AccrualRecord(
        partner_transaction_id="r1",
        member_id=member,
        activity_type=pb.ACTIVITY_TYPE_RENTAL,
        activity_date=TODAY,
        unit="USD",
        amount="99.90",
    )
    await intake.SubmitAccruals(pb.AccrualBatch(records=[rental, rental]), metadata=auth(key))
    assert await run_cli("partner", "report", partner_id, TODAY, "--csv") == 0
    assert capsys.readouterr().out.splitlines() == [
        "status,unit,records,amount,points",
        "accepted,USD,1,99.90,250",
        "duplicate,USD,1,99.90,250",
    ]
    assert await run_cli("partner", "report", "no-such-partner", TODAY) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


async def test_a_day_of_many_units_is_reported_page_by_page(
    points_address: str,
    channel: grpc.aio.Channel,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A feed with a column shifted names a unit per record: each INVALID unit is a line of the day's report."""
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    monkeypatch.setattr(partner_application, "MAX_RECONCILIATION_PAGE", 10)
    partner_id = new_id("air").lower()
    key = await registered_with_key(capsys, partner_id, "Sky Air", "airline")
    member = await enroll(channel)
    shifted = [
        pb.AccrualRecord(
            partner_transaction_id=f"t{index}",
            member_id=member,
            activity_type=pb.ACTIVITY_TYPE_FLIGHT,
            activity_date=TODAY,
            unit=f"U{index:02d}",
            amount="JFK",
        )
        for index in range(25)
    ]
    await intake.SubmitAccruals(pb.AccrualBatch(records=shifted), metadata=auth(key))

    admin = partners_pb2_grpc.PartnerServiceStub(channel)
    pages, token = [], ""
    while True:
        request = pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY, page_size=10, page_token=token)
        page = await admin.GetReconciliation(request)
        pages.append([line.unit for line in page.lines])
        token = page.next_page_token
        if not token:
            break
    assert [len(units) for units in pages] == [10, 10, 5]
    assert [unit for units in pages for unit in units] == [f"U{index:02d}" for index in range(25)]

    assert await run_cli("partner", "report", partner_id, TODAY, "--csv") == 0
    assert capsys.readouterr().out.splitlines()[1:] == [f"invalid,U{index:02d},1,0,0" for index in range(25)]
    first = pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY, page_size=10)
    first_page = await admin.GetReconciliation(first)
    # A token of today's listing names no line of another day's: refused, not read part-way.
    yesterday = (date.fromisoformat(TODAY) - timedelta(days=1)).isoformat()
    for day, token in [(TODAY, "x"), (yesterday, first_page.next_page_token)]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day=day, page_token=token))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(refused.value)) == {"page_token"}


@pytest.mark.parametrize("unit", ["MILE\x00", "\ud800"], ids=["NUL", "lone surrogate"])
async def test_a_forged_page_token_holding_text_postgresql_cannot_take_is_invalid_argument(
    channel: grpc.aio.Channel, unit: str
) -> None:
    """Once answered FAILED_PRECONDITION "a value cannot be stored", from the database, naming no field."""
    admin = partners_pb2_grpc.PartnerServiceStub(channel)
    partner_id, _ = await airline(admin)
    token = page_tokens.issue([partner_id, TODAY], ["invalid", unit])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY, page_token=token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == {"page_token": page_tokens.NOT_A_TOKEN}
