"""What never reaches a log line: secrets and the full personal data of members.

Redaction applies to the whole record as it is about to be written (message,
extra fields, exception text): passwords in connection URLs and DSNs, the
literal secrets the service was configured with, the credentials after
`Bearer` or `Basic` (tokens and partner keys, of which the services keep
only hashes), e-mail addresses (only the
first letter of the local part and the domain stay; a URL's user name, right
after `://`, is not one), and any field named like
personal data or a secret. Text longer than MAX_TEXT is cut once redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

REDACTED = "[redacted]"
# Fields whose whole value is personal data or a secret, whatever it looks like.
SENSITIVE_FIELDS = frozenset(
    {
        "email",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "birth_date",
        "date_of_birth",
        "phone",
        "address",
        "password",
        "sasl_password",
        "secret",
        "token",
        "api_key",
        "authorization",
        "database_url",
    }
)


def is_sensitive_field(name: str) -> bool:
    """Whether a field, or a request field's path (`member.birth_date`, `records[2].email`), is named so."""
    last = name.rsplit(".", 1)[-1].split("[", 1)[0]
    return last.lower() in SENSITIVE_FIELDS


# Every repetition that could run along a long word is bounded (schemes, an address's local part and
# labels are short by their standards): unbounded, a value of 300,000 letters took each pattern minutes,
# and the whole service with it, since lines are written on its event loop.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/:@]*):[^\s/@]*@")
_PASSWORD_PARAMETER = re.compile(r"(?P<key>password\s*=\s*)(?P<value>'[^']*'|[^\s&;']+)", re.IGNORECASE)
_EMAIL = re.compile(
    r"(?P<first>[A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{0,63}@(?P<domain>[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8})"
)
# Credentials as an Authorization header carries them, wherever they are quoted: the services keep only hashes of
# their tokens and none of partners' keys, so these are not among the literal secrets (an HTTP server's parse error
# quotes the raw header line).
_AUTHORIZATION_CREDENTIALS = re.compile(r"(?P<scheme>\b(?:Bearer|Basic))\s+[A-Za-z0-9._~+/=-]{1,4096}", re.IGNORECASE)
# What precedes a URL's user name (`postgresql://postgres@db.internal/points`): it is no e-mail address, and only
# a password next to it is a secret.
_URL_AUTHORITY_START = "://"
# Longer text (a huge field of a refused request or event, quoted in its reason) is cut after redaction.
MAX_TEXT = 2_000


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        value = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}:{REDACTED}@", value)
        value = _PASSWORD_PARAMETER.sub(lambda m: f"{m['key']}{REDACTED}", value)
        value = _AUTHORIZATION_CREDENTIALS.sub(lambda m: f"{m['scheme']} {REDACTED}", value)
        value = _EMAIL.sub(_masked_email, value)
        if len(value) > MAX_TEXT:
            return f"{value[:MAX_TEXT]}... ({len(value) - MAX_TEXT} more characters)"
        return value

    def value(self, value: object) -> object:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return self.fields(value)
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def fields(self, fields: Mapping[str, object]) -> dict[str, object]:
        return {key: REDACTED if key.lower() in SENSITIVE_FIELDS else self.value(item) for key, item in fields.items()}


def _masked_email(match: re.Match[str]) -> str:
    before = match.start() - len(_URL_AUTHORITY_START)
    if before >= 0 and match.string.startswith(_URL_AUTHORITY_START, before):
        return match[0]
    return f"{match['first']}***@{match['domain']}"


def redacted_url(url: str) -> str:
    """`url` as it may be shown: its password, in the authority or the query string, redacted."""
    try:
        password = url_password(url)
    except ValueError:  # not a URL urlsplit reads (an unbalanced [): the patterns still find a password in it
        password = None
    return Redactor([password] if password else []).text(url)


def url_password(url: str) -> str | None:
    """The password a database URL carries, in its authority or its query string."""
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    return next(iter(parse_qs(parts.query).get("password", [])), None)
