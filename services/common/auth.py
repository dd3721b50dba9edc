"""Who may call what: bearer tokens for internal callers, an admin role for administrative RPCs.

Tokens come from `LOYALTY_AUTH_TOKENS` (comma-separated `principal:role:token`)
and/or `LOYALTY_AUTH_TOKENS_FILE` (one `principal:role:token` per line, `#`
comments). With neither set, a service accepts every caller: that is how
`loyalty dev` runs on one machine. Either set but holding no entry (empty, only
commas, a file of comments) stops the service at start: accepting every caller
is never what setting it meant. With tokens configured, every call needs
`authorization: Bearer <token>`: none or an unknown one is UNAUTHENTICATED, a
`service` token on an administrative RPC is PERMISSION_DENIED. Only SHA-256
hashes of the tokens are kept in memory.

Two kinds of call are outside this scheme: health checks (load balancers
probe them) and partner intake (`PartnerAccrualService`), which checks the
partner's own key. A partner key is no token here, so it opens nothing else;
and where no tokens are configured, a call presenting one outside partner
intake is refused all the same (PERMISSION_DENIED): a partner never reaches
another API, on `loyalty dev` either. Outgoing calls carry
`LOYALTY_CALLER_TOKEN`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from services.common.errors import PermissionDenied, Unauthenticated
from services.common.settings import SettingsError
from services.common.text_files import read_utf8

ROLES = ("service", "admin")
# Administrative RPCs: configuration of the program, partners, catalog and agents (UpsertAgent; an agent's
# availability, SetAgentStatus, is the agent desk's, a service's); program KPIs; closing members.
ADMIN_METHODS = frozenset(
    {
        "/loyalty.points.v1.ProgramService/ApplyProgram",
        # Forfeits all of a member's points and ends the account: never an internal service's call to make,
        # where AdjustPoints (goodwill, corrections within an account) is.
        "/loyalty.points.v1.PointsService/CloseMember",
        *(
            f"/loyalty.points.v1.PartnerService/{name}"
            for name in (
                "RegisterPartner",
                "GetPartner",
                "SetConversionRate",
                "IssuePartnerCredential",
                "RevokePartnerCredential",
                "GetReconciliation",
            )
        ),
        *(
            f"/loyalty.rewards.v1.CatalogService/{name}"
            for name in ("CreateReward", "UpdateReward", "ArchiveReward", "AddPartnerCodes", "SetTierLadder")
        ),
        "/loyalty.rewards.v1.CodesService/CreatePromoCampaign",
        "/loyalty.rewards.v1.CodesService/ListPromoCodes",
        "/loyalty.tickets.v1.AgentService/UpsertAgent",
        # Program KPIs (and the insights dashboard, which shows them).
        "/loyalty.insights.v1.InsightsService/GetKpis",
    }
)
# Authenticated by other means (see the module docstring).
UNGUARDED_PREFIXES = ("/grpc.health.v1.Health/", "/loyalty.points.v1.PartnerAccrualService/")
# How every partner key starts (services/points/partner_application.py issues them).
PARTNER_KEY_PREFIX = "lpk_"


@dataclass(frozen=True)
class Caller:
    principal: str
    role: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(authorization: str) -> str:
    """The token of an authorization value `Bearer <token>`, or "" when it holds none.

    The scheme's name is case-insensitive (RFC 9110): `bearer` works as `Bearer` does.
    """
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The bearer token of a call's `authorization` metadata, or "" when there is none."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            return bearer_token(value)
    return ""


class Authorizer:
    def __init__(self, callers: Mapping[str, Caller]) -> None:
        """`callers` maps each token to who presents it."""
        self._callers = {_digest(token): caller for token, caller in callers.items()}

    def check(self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller | None:
        """The caller of `method`; raises Unauthenticated or PermissionDenied. None for unguarded methods."""
        if method.startswith(UNGUARDED_PREFIXES):
            return None
        token = bearer(metadata)
        if not token:
            raise Unauthenticated("authorization: a bearer token is required (authorization: Bearer <token>)")
        caller = self._callers.get(_digest(token))
        if caller is None:
            raise Unauthenticated("authorization: the token is not one this service knows")
        if method in ADMIN_METHODS and caller.role != "admin":
            raise PermissionDenied(f"{method} needs the admin role; {caller.principal} has the {caller.role} role")
        return caller


def refuse_partner_keys(method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
    """PermissionDenied for a call presenting a partner key outside partner intake (and health checks)."""
    if not method.startswith(UNGUARDED_PREFIXES) and bearer(metadata).startswith(PARTNER_KEY_PREFIX):
        raise PermissionDenied(f"authorization: a partner key opens partner intake only, not {method}")


@dataclass(frozen=True)
class _Entry:
    caller: Caller
    where: str  # `LOYALTY_AUTH_TOKENS entry 2`: named in messages, where the token never is


def _add_entries(entries: dict[str, _Entry], lines: Sequence[str], where: str) -> None:
    """Adds `where`'s entries to `entries` (by token); a SettingsError for a wrong entry, for a token another
    principal or role has already (one would silently replace the other), or for no entry at all: `where` is
    set, and a service that quietly accepted every caller would be one the operator meant to close."""
    found = 0
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        principal, _, rest = entry.partition(":")
        role, _, token = rest.partition(":")
        if not principal or role not in ROLES or len(token) < 16:
            raise SettingsError(
                f"{where} entry {number}: expected principal:role:token with role one of {', '.join(ROLES)}"
                " and a token of at least 16 characters"
            )
        found += 1
        new = _Entry(Caller(principal, role), f"{where} entry {number}")
        first = entries.setdefault(token, new)
        if first.caller != new.caller:
            raise SettingsError(
                f"{new.where} ({principal}:{role}) has the token of {first.where}"
                f" ({first.caller.principal}:{first.caller.role}); each token must be one caller's"
            )
    if not found:
        raise SettingsError(f"{where}: holds no token entries; unset it to accept every caller")


def parse_tokens(lines: Sequence[str], where: str) -> dict[str, Caller]:
    """The callers of `where`'s entries, by token; a SettingsError as `_add_entries` says."""
    entries: dict[str, _Entry] = {}
    _add_entries(entries, lines, where)
    return {token: entry.caller for token, entry in entries.items()}


def authorizer_from(env: Mapping[str, str]) -> Authorizer | None:
    """The authorizer the environment configures; None when it sets neither variable, a SettingsError when one
    is set but holds no entry."""
    entries: dict[str, _Entry] = {}
    if (inline := env.get("LOYALTY_AUTH_TOKENS")) is not None:
        _add_entries(entries, inline.split(","), "LOYALTY_AUTH_TOKENS")
    if (path := env.get("LOYALTY_AUTH_TOKENS_FILE")) is not None:
        text = read_utf8(Path(path), f"LOYALTY_AUTH_TOKENS_FILE={path}", SettingsError) if path else ""
        _add_entries(entries, text.splitlines(), "LOYALTY_AUTH_TOKENS_FILE")
    return Authorizer({token: entry.caller for token, entry in entries.items()}) if entries else None


class _CallerToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every outgoing call."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._metadata)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._with_token(client_call_details), request)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(self._with_token(client_call_details), request_iterator)


def caller_interceptors(env: Mapping[str, str]) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors sending `LOYALTY_CALLER_TOKEN`, if set."""
    token = env.get("LOYALTY_CALLER_TOKEN", "")
    return [_CallerToken(token)] if token else []
