"""ProgramService in-process on real PostgreSQL, and the `loyalty program` commands against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import program_pb2 as pb
from loyalty.points.v1 import program_pb2_grpc

from services.common.events import timestamp
from services.common.unstorable import TIME_RANGE
from tests.integration.support import field_violations, run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "programs"
HOTEL = (EXAMPLES / "hotel.yaml").read_text()


@pytest.fixture
async def programs(points_address: str) -> AsyncIterator[program_pb2_grpc.ProgramServiceStub]:
    async with grpc.aio.insecure_channel(points_address) as channel:
        yield program_pb2_grpc.ProgramServiceStub(channel)


async def program_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM programs")
    return count


async def test_apply_then_get_returns_the_version_with_its_fields(
    programs: program_pb2_grpc.ProgramServiceStub,
) -> None:
    applied = await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL))
    assert applied.outcome == pb.APPLY_OUTCOME_CREATED
    assert (applied.program.program_id, applied.program.version) == ("grand-hotels", 1)
    assert applied.program.effective_from.ToDatetime(tzinfo=UTC) == datetime(2025, 1, 1, 5, tzinfo=UTC)

    got = (await programs.GetProgram(pb.GetProgramRequest(program_id="grand-hotels"))).program
    assert got.definition == HOTEL
    assert got.created_at.seconds > 0
    fields = got.program
    assert (fields.currency, fields.timezone, fields.base_rates["USD"]) == ("USD", "America/New_York", "10")
    assert fields.rounding == pb.PROGRAM_ROUNDING_DOWN
    assert [rule.id for rule in fields.rules] == ["no-points-on-taxes", "extended-stay", "app-booking"]
    assert fields.rules[2].min_spend[0].amount_minor == 10000
    assert fields.campaigns[1].bonus_per_unit
    assert fields.tiers.window == pb.PROGRAM_TIER_WINDOW_CALENDAR_YEAR
    assert [(t.name, t.earn_bonus_percent) for t in fields.tiers.levels][2] == ("gold", "25")
    assert (fields.pending_days, fields.expiry_inactivity_months) == (3, 24)

    assert (fields.expiry_reminder_days, fields.refund_spent_points) == (30, pb.PROGRAM_SPENT_POINTS_DEBT)
    hotel_bonuses = fields.bonuses
    assert (hotel_bonuses.signup_points, hotel_bonuses.HasField("birthday"), len(hotel_bonuses.activities)) == (
        0,
        False,
        0,
    )

    again = await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL))
    assert (again.outcome, again.program.version) == (pb.APPLY_OUTCOME_UNCHANGED, 1)
    only = await programs.GetProgram(pb.GetProgramRequest())
    assert only.program.program_id == "grand-hotels"


async def test_dry_run_stores_nothing(programs: program_pb2_grpc.ProgramServiceStub, pool: asyncpg.Pool) -> None:
    response = await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL, dry_run=True))
    assert (response.outcome, response.program.version) == (pb.APPLY_OUTCOME_VALIDATED, 1)
    assert not response.program.HasField("created_at")
    assert await program_count(pool) == 0


@pytest.mark.parametrize(
    ("definition", "fields"),
    [
        ("", {"definition"}),
        ("id: [", {"definition"}),
        (HOTEL.replace("multiplier: 0.5", "multiplier: lots"), {"earning.rules[1].multiplier"}),
        (HOTEL.replace("  rounding: down", "  rounding: down\n  colour: red"), {"earning.colour"}),
        (HOTEL.replace("id: grand-hotels", "id: Grand Hotels").replace("threshold: 50000", "threshold: 5"), {
            "id", "tiers.levels[2].threshold"}),
    ],
)  # fmt: skip
async def test_bad_definitions_are_invalid_argument_naming_each_field_and_store_nothing(
    programs: program_pb2_grpc.ProgramServiceStub, pool: asyncpg.Pool, definition: str, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.ApplyProgram(pb.ApplyProgramRequest(definition=definition))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == fields
    assert await program_count(pool) == 0


def _rate(written: str) -> str:
    return HOTEL.replace("    USD: 10    ", f"    USD: {written}    ")


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        pytest.param("a: " + "[" * 500 + "]" * 500, "definition", id="nested 500 deep"),
        pytest.param(_rate("1" * 4301), "definition", id="4301-digit rate"),
        pytest.param(HOTEL.replace("threshold: 20000", "threshold: " + "1" * 4400), "definition", id="threshold"),
        pytest.param(HOTEL.replace("min_spend: 100", "min_spend: " + "1" * 4500), "definition", id="min_spend"),
        pytest.param(_rate("!!int abc"), "definition", id="!!int abc"),
        pytest.param(_rate("!!float abc"), "definition", id="!!float abc"),
        pytest.param(_rate("!!bool maybe"), "definition", id="!!bool maybe"),
        pytest.param(_rate("1:30"), "earning.base_rates.USD", id="1:30"),  # was read as 90
        pytest.param(_rate("0x10"), "earning.base_rates.USD", id="0x10"),
        pytest.param(_rate("0b11"), "earning.base_rates.USD", id="0b11"),
        pytest.param(_rate("1_000"), "earning.base_rates.USD", id="1_000"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry run"])
async def test_yaml_no_field_takes_is_invalid_argument_naming_where_not_an_internal_error(
    programs: program_pb2_grpc.ProgramServiceStub, pool: asyncpg.Pool, definition: str, field: str, dry_run: bool
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.ApplyProgram(pb.ApplyProgramRequest(definition=definition, dry_run=dry_run))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert set(field_violations(caught.value)) == {field}
    assert await program_count(pool) == 0


async def test_cli_reports_yaml_no_field_takes_in_a_line_without_a_traceback(
    points_address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 500 + "]" * 500)
    assert await run_cli("program", "apply", str(deep)) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.splitlines() == [
        f"loyalty: {deep} is not a valid program definition:",
        "  definition: is not valid YAML: nested more than 32 levels deep at line 1, column 35",
    ]


async def test_conflicting_versions_get_clear_statuses(programs: program_pb2_grpc.ProgramServiceStub) -> None:
    await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL))
    reworded = HOTEL.replace("name: Grand Hotels Rewards", "name: Grand Rewards")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.ApplyProgram(pb.ApplyProgramRequest(definition=reworded))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    earlier = reworded.replace("effective_from: 2025-01-01", "effective_from: 2024-12-01")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.ApplyProgram(pb.ApplyProgramRequest(definition=earlier))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (caught.value.details() or "").startswith("effective_from:")


async def test_get_program_errors(programs: program_pb2_grpc.ProgramServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.GetProgram(pb.GetProgramRequest())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.GetProgram(pb.GetProgramRequest(program_id="grand-hotels", at=timestamp(datetime(2024, 1, 1))))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (caught.value.details() or "").startswith("at:")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.GetProgram(pb.GetProgramRequest(program_id="BAD ID"))
    assert set(field_violations(caught.value)) == {"program_id"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.GetProgram(pb.GetProgramRequest(program_id="grand-hotels", at=Timestamp(seconds=-(10**12))))
    assert set(field_violations(caught.value)) == {"at"}


async def test_get_program_at_the_ends_of_timestamps_range_says_the_range_it_takes(
    programs: program_pb2_grpc.ProgramServiceStub,
) -> None:
    """Valid Timestamps, refused as "not a valid timestamp": asyncpg would write them as -infinity and infinity."""
    await programs.ApplyProgram(pb.ApplyProgramRequest(definition=HOTEL))
    first, last = Timestamp(seconds=-62_135_596_800), Timestamp(seconds=253_402_300_799, nanos=999_999_999)
    for at in (first, last):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await programs.GetProgram(pb.GetProgramRequest(program_id="grand-hotels", at=at))
        assert field_violations(caught.value) == {"at": TIME_RANGE}

    # A microsecond inside, each is taken: before the program, and in its latest version.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await programs.GetProgram(pb.GetProgramRequest(at=Timestamp(seconds=first.seconds, nanos=1000)))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    latest = await programs.GetProgram(pb.GetProgramRequest(at=Timestamp(seconds=last.seconds, nanos=999_998_999)))
    assert latest.program.version == 1


async def test_cli_applies_and_shows_programs(
    points_address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    hotel = str(EXAMPLES / "hotel.yaml")
    assert await run_cli("program", "apply", hotel, "--dry-run") == 0
    assert "valid (dry run: nothing stored)" in capsys.readouterr().out
    assert await run_cli("program", "apply", hotel) == 0
    assert capsys.readouterr().out.startswith("program grand-hotels version 1, effective from 2025-01-01T05:00:00")
    assert await run_cli("program", "apply", hotel) == 0
    assert "nothing changed" in capsys.readouterr().out

    assert await run_cli("program", "show") == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# program grand-hotels version 1: effective from")
    assert HOTEL in shown

    bad = tmp_path / "bad.yaml"
    bad.write_text(HOTEL.replace("multiplier: 0.5", "multiplier: -3"))
    assert await run_cli("program", "apply", str(bad)) == 1
    assert "  earning.rules[1].multiplier: must be between 0 and 100" in capsys.readouterr().err

    assert await run_cli("program", "show", "nothing-here") == 1
    assert "NOT_FOUND" in capsys.readouterr().err


BONUSES = """
id: actions
name: Actions
effective_from: 2020-01-01
currency: EUR
earning: {base_rates: {EUR: 1}}
refunds: {spent_points: negative_balance}
bonuses:
  signup: {points: 500}
  birthday: {points: 1000, when: day}
  referral: {referrer_points: 1500, referee_points: 500, minimum_spend: 25.00}
  activities:
    - {id: newsletter-optin, description: Newsletter opt-in, points: 100}
    - {id: review, points: 50, limit: {count: 2, per: month}}
"""


async def test_get_program_shows_the_bonuses_and_the_refund_policy(
    programs: program_pb2_grpc.ProgramServiceStub,
) -> None:
    await programs.ApplyProgram(pb.ApplyProgramRequest(definition=BONUSES))
    fields = (await programs.GetProgram(pb.GetProgramRequest(program_id="actions"))).program.program
    bonuses = fields.bonuses
    assert bonuses.signup_points == 500
    assert (bonuses.birthday.points, bonuses.birthday.when) == (1000, pb.PROGRAM_BIRTHDAY_WHEN_DAY)
    referral = bonuses.referral
    assert (referral.referrer_points, referral.referee_points) == (1500, 500)
    assert (referral.minimum_spend.amount_minor, referral.minimum_spend.currency_code) == (2500, "EUR")
    assert [(a.id, a.description, a.points, a.limit_count, a.limit_per) for a in bonuses.activities] == [
        ("newsletter-optin", "Newsletter opt-in", 100, 1, pb.PROGRAM_LIMIT_PER_EVER),
        ("review", "", 50, 2, pb.PROGRAM_LIMIT_PER_MONTH),
    ]
    assert fields.refund_spent_points == pb.PROGRAM_SPENT_POINTS_NEGATIVE_BALANCE
    assert not fields.HasField("expiry_reminder_days")
