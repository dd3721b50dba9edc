"""Codes, pure: generation from an unambiguous alphabet, normalization, and whether a code can be used."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.rewards import codes
from services.rewards.codes import CodeRow
from services.rewards.domain import Value

NOW = datetime(2026, 7, 15, tzinfo=UTC)
CODE = CodeRow(
    code="ABCDEFGHJKMN",
    source="generated",
    status="active",
    max_uses=1,
    uses=0,
    valid_from=None,
    expires_at=NOW + timedelta(days=1),
    value=Value("upgrade", sku="suite"),
    name="Suite upgrade",
    member_id="m-1",
    redemption_id="r-1",
    campaign_id="",
    redemption_step=None,
)


def test_generated_codes_are_distinct_and_use_no_look_alike_characters() -> None:
    batch = codes.new_codes(20_000)
    assert len(batch) == len(set(batch)) == 20_000
    assert all(len(code) == codes.LENGTH for code in batch)
    used = set("".join(batch))
    assert used <= set(codes.ALPHABET)
    assert not used & set("0O1IL")
    assert len(used) == len(codes.ALPHABET)  # every symbol turns up: no part of the alphabet is starved


def test_codes_are_matched_without_case_or_spaces() -> None:
    assert codes.normalize("  abcd-efgh ") == "ABCD-EFGH"


def test_partner_codes_must_be_printable_upper_case_without_spaces() -> None:
    assert codes.partner_code_problem("PARTNER-0001") is None
    assert codes.partner_code_problem("abc") is not None
    assert codes.partner_code_problem("PART NER") is not None
    assert codes.partner_code_problem("partner-0001") is not None


def test_why_a_code_cannot_be_used() -> None:
    assert codes.refusal(CODE, NOW) is None
    assert codes.refusal(replace(CODE, uses=1), NOW) == "used up"
    assert codes.refusal(replace(CODE, expires_at=NOW), NOW) == "expired"
    assert codes.refusal(replace(CODE, valid_from=NOW + timedelta(hours=1)), NOW) == "not valid yet"
    assert codes.refusal(replace(CODE, status="void"), NOW) == "cancelled"
    assert codes.refusal(replace(CODE, redemption_step="cancelled"), NOW) == "cancelled"
    assert codes.refusal(replace(CODE, redemption_step="reserved"), NOW) is not None
