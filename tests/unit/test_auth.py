"""Who may call what: tokens, roles and the unguarded methods. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.common.auth import (
    Authorizer,
    Caller,
    authorizer_from,
    bearer,
    bearer_token,
    parse_tokens,
    refuse_partner_keys,
)
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.settings import SettingsError
from services.insights.dashboard import _admin_only

SERVICE_TOKEN, ADMIN_TOKEN = "s" * 32, "a" * 32
AUTHORIZER = Authorizer({SERVICE_TOKEN: Caller("rewards", "service"), ADMIN_TOKEN: Caller("ops", "admin")})
APPLY = "/loyalty.points.v1.ProgramService/ApplyProgram"
BALANCE = "/loyalty.points.v1.PointsService/GetBalance"


def token(value: str) -> list[tuple[str, str | bytes]]:
    return [("authorization", f"Bearer {value}")]


def test_a_service_token_calls_member_rpcs_but_not_administrative_ones() -> None:
    assert AUTHORIZER.check(BALANCE, token(SERVICE_TOKEN)) == Caller("rewards", "service")
    with pytest.raises(PermissionDenied, match="needs the admin role; rewards has the service role"):
        AUTHORIZER.check(APPLY, token(SERVICE_TOKEN))
    assert AUTHORIZER.check(APPLY, token(ADMIN_TOKEN)) == Caller("ops", "admin")


def test_closing_a_member_takes_the_admin_role_where_adjusting_points_does_not() -> None:
    close, adjust = "/loyalty.points.v1.PointsService/CloseMember", "/loyalty.points.v1.PointsService/AdjustPoints"
    with pytest.raises(PermissionDenied, match="CloseMember needs the admin role"):
        AUTHORIZER.check(close, token(SERVICE_TOKEN))
    assert AUTHORIZER.check(close, token(ADMIN_TOKEN)) == Caller("ops", "admin")
    assert AUTHORIZER.check(adjust, token(SERVICE_TOKEN)) == Caller("rewards", "service")


@pytest.mark.parametrize(
    "metadata", [[], [("authorization", SERVICE_TOKEN)], token("lpk_a-partner-key-opens-nothing-here"), token("")]
)
def test_no_token_or_an_unknown_one_is_unauthenticated(metadata: list[tuple[str, str | bytes]]) -> None:
    with pytest.raises(Unauthenticated, match="authorization"):
        AUTHORIZER.check(BALANCE, metadata)


def test_health_and_partner_intake_are_checked_elsewhere() -> None:
    assert AUTHORIZER.check("/grpc.health.v1.Health/Check", []) is None
    assert AUTHORIZER.check("/loyalty.points.v1.PartnerAccrualService/StreamAccruals", []) is None


def test_tokens_come_from_the_environment_and_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# who may call\nops:admin:{ADMIN_TOKEN}\n\n")
    authorizer = authorizer_from(
        {"LOYALTY_AUTH_TOKENS": f"rewards:service:{SERVICE_TOKEN}", "LOYALTY_AUTH_TOKENS_FILE": str(path)}
    )
    assert authorizer is not None
    assert authorizer.check(APPLY, token(ADMIN_TOKEN)) == Caller("ops", "admin")
    assert authorizer.check(BALANCE, token(SERVICE_TOKEN)) == Caller("rewards", "service")
    assert authorizer_from({}) is None


@pytest.mark.parametrize("entry", ["ops:root:" + "x" * 32, "ops:admin:short", ":admin:" + "x" * 32, "nonsense"])
def test_a_wrong_token_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="LOYALTY_AUTH_TOKENS entry 1"):
        parse_tokens([entry], "LOYALTY_AUTH_TOKENS")


@pytest.mark.parametrize("value", ["", " , ", ","])
def test_a_token_variable_set_without_entries_is_refused_not_taken_as_accepting_every_caller(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^LOYALTY_AUTH_TOKENS: holds no token entries; unset it to accept every"):
        authorizer_from({"LOYALTY_AUTH_TOKENS": value})


@pytest.mark.parametrize("text", ["", "# who may call: nobody yet\n\n   # still nobody\n"])
def test_a_token_file_without_entries_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(SettingsError, match=r"^LOYALTY_AUTH_TOKENS_FILE: holds no token entries"):
        authorizer_from({"LOYALTY_AUTH_TOKENS_FILE": str(path)})
    with pytest.raises(SettingsError, match=r"^LOYALTY_AUTH_TOKENS_FILE: holds no token entries"):
        authorizer_from({"LOYALTY_AUTH_TOKENS_FILE": ""})


def test_a_token_given_to_two_callers_is_refused_naming_both_entries_not_the_token(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_tokens([f"a:admin:{ADMIN_TOKEN}", f"b:service:{ADMIN_TOKEN}"], "LOYALTY_AUTH_TOKENS")
    said = str(refused.value)
    assert said.startswith("LOYALTY_AUTH_TOKENS entry 2 (b:service) has the token of LOYALTY_AUTH_TOKENS entry 1")
    assert "(a:admin)" in said and ADMIN_TOKEN not in said
    path = tmp_path / "tokens"
    path.write_text(f"# ops\nops:service:{SERVICE_TOKEN}\n")
    env = {"LOYALTY_AUTH_TOKENS": f"rewards:service:{SERVICE_TOKEN}", "LOYALTY_AUTH_TOKENS_FILE": str(path)}
    with pytest.raises(
        SettingsError, match=r"FILE entry 2 \(ops:service\) has the token of LOYALTY_AUTH_TOKENS entry 1"
    ):
        authorizer_from(env)


def test_the_same_entry_twice_is_no_conflict(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"ops:admin:{ADMIN_TOKEN}\n")
    authorizer = authorizer_from(
        {"LOYALTY_AUTH_TOKENS": f"ops:admin:{ADMIN_TOKEN}", "LOYALTY_AUTH_TOKENS_FILE": str(path)}
    )
    assert authorizer is not None and authorizer.check(APPLY, token(ADMIN_TOKEN)) == Caller("ops", "admin")


def test_a_token_file_that_cannot_be_read_or_is_not_utf8_is_refused_naming_the_setting(tmp_path: Path) -> None:
    missing, latin1 = tmp_path / "missing", tmp_path / "latin1"
    latin1.write_bytes(b"caf\xe9:admin:" + b"a" * 32)
    with pytest.raises(SettingsError) as refused:
        authorizer_from({"LOYALTY_AUTH_TOKENS_FILE": str(missing)})
    assert str(refused.value) == f"LOYALTY_AUTH_TOKENS_FILE={missing}: cannot be read: No such file or directory"
    with pytest.raises(SettingsError) as refused:
        authorizer_from({"LOYALTY_AUTH_TOKENS_FILE": str(latin1)})
    assert str(refused.value) == f"LOYALTY_AUTH_TOKENS_FILE={latin1}: is not UTF-8 text"


def test_bearer_reads_only_the_authorization_header() -> None:
    assert bearer([("x-other", "Bearer no"), ("authorization", "Bearer  abc ")]) == "abc"
    assert bearer(None) == ""


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer lpk_1", "lpk_1"),
        ("bearer lpk_1", "lpk_1"),  # the scheme is case-insensitive
        ("BEARER   lpk_1 ", "lpk_1"),
        ("Basic dXNlcjpwdw==", ""),
        ("lpk_1", ""),
        ("", ""),
    ],
)
def test_bearer_token_reads_the_scheme_in_any_case(authorization: str, token: str) -> None:
    assert bearer_token(authorization) == token


def test_a_partner_key_opens_partner_intake_and_health_only_even_without_tokens() -> None:
    key: list[tuple[str, str | bytes]] = [("authorization", "Bearer lpk_" + "k" * 43)]
    refuse_partner_keys("/loyalty.points.v1.PartnerAccrualService/SubmitAccruals", key)
    refuse_partner_keys("/grpc.health.v1.Health/Check", key)
    refuse_partner_keys("/loyalty.points.v1.PartnerService/IssuePartnerCredential", [])  # no key: open, as configured
    with pytest.raises(PermissionDenied, match="partner intake only"):
        refuse_partner_keys("/loyalty.points.v1.PartnerService/IssuePartnerCredential", key)


async def test_without_tokens_the_dashboard_refuses_a_partner_key_as_the_grpc_apis_do() -> None:
    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(text="the program's KPIs")

    middleware = _admin_only(None)
    assert (await middleware(make_mocked_request("GET", "/"), page)).status == 200
    with pytest.raises(web.HTTPForbidden):
        partner = make_mocked_request("GET", "/", headers={"Authorization": "Bearer lpk_" + "k" * 43})
        await middleware(partner, page)
