"""The JSON log lines a service writes carry no secrets and no full personal data of members."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.common.redaction import REDACTED, Redactor, url_password
from services.common.settings import service_settings
from services.common.telemetry import configure_logging

DATABASE_URL = "postgresql://loyalty:hunter2-db@db.internal:5432/loyalty_points"
SASL_PASSWORD = "sasl-s3cret-value"

Lines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Logging as a service configures it (its secrets from its settings); the JSON lines it wrote."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    settings = service_settings(
        "points", {"LOYALTY_POINTS_DATABASE_URL": DATABASE_URL, "LOYALTY_KAFKA_SASL_PASSWORD": SASL_PASSWORD}
    )
    stream = io.StringIO()
    configure_logging("points", "INFO", settings.secrets(), stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_passwords_in_urls_dsns_and_configured_secrets_are_redacted(log_lines: Lines) -> None:
    log = logging.getLogger("tests.redaction")
    log.warning("cannot connect to %s", DATABASE_URL)
    log.warning("dsn", extra={"dsn": "host=db user=loyalty password=hunter2-db dbname=points"})
    log.warning("broker refused", extra={"error": f"SaslAuthenticationFailed('bad {SASL_PASSWORD}')"})
    try:
        raise ConnectionError(f"could not reach {DATABASE_URL}")
    except ConnectionError:
        log.exception("outage")
    text = json.dumps(lines := log_lines())
    assert "hunter2-db" not in text and SASL_PASSWORD not in text
    assert lines[0]["message"] == f"cannot connect to postgresql://loyalty:{REDACTED}@db.internal:5432/loyalty_points"
    assert lines[1]["dsn"] == f"host=db user=loyalty password={REDACTED} dbname=points"
    assert lines[2]["error"] == f"SaslAuthenticationFailed('bad {REDACTED}')"
    assert "ConnectionError" in str(lines[3]["exc_info"])


def test_credentials_after_bearer_or_basic_are_redacted_wherever_quoted(log_lines: Lines) -> None:
    # aiohttp's parse error of an oversized header line quotes the raw line, admin token and all; the services keep
    # only hashes of their tokens, so only the header's form can tell them.
    log = logging.getLogger("tests.redaction")
    try:
        raise ValueError("Got more than 8190 bytes when reading: b'Bearer ADMINTOKEN-0123456789abcdef     x'")
    except ValueError:
        log.exception("Error handling request")
    log.warning("refused", extra={"header": "basic dXNlcjpwYXNzd29yZA=="})
    text = json.dumps(lines := log_lines())
    assert "ADMINTOKEN" not in text and "dXNlcjpwYXNzd29yZA" not in text
    assert f"Bearer {REDACTED}" in str(lines[0]["exc_info"]) and lines[1]["header"] == f"basic {REDACTED}"


def test_member_personal_data_is_masked_or_dropped(log_lines: Lines) -> None:
    log = logging.getLogger("tests.redaction")
    log.info("welcome mail sent to jane.doe@example.com", extra={"member_id": "m-1"})
    log.info(
        "enrolled",
        extra={"email": "jane.doe@example.com", "birth_date": "1990-04-01", "member": {"first_name": "Jane"}},
    )
    welcome, enrolled = log_lines()
    assert welcome["message"] == "welcome mail sent to j***@example.com"
    assert welcome["member_id"] == "m-1"
    assert (enrolled["email"], enrolled["birth_date"]) == (REDACTED, REDACTED)
    assert enrolled["member"] == {"first_name": REDACTED}
    assert enrolled["logger"] == "tests.redaction" and enrolled["service"] == "points"


def test_a_urls_user_name_is_no_email_address_and_stays() -> None:
    redact = Redactor()
    for url in ("postgresql://postgres@127.0.0.1:5432/points", "postgresql://loyalty@db.internal:5432/points"):
        assert redact.text(f"cannot connect to {url}: refused") == f"cannot connect to {url}: refused"
    assert redact.text("postgresql://loyalty@db.internal/p, by jane.doe@example.com") == (
        "postgresql://loyalty@db.internal/p, by j***@example.com"
    )


def test_trace_ids_stay_in_the_lines(log_lines: Lines) -> None:
    with TracerProvider().get_tracer("tests").start_as_current_span("work") as span:
        logging.getLogger("tests.redaction").info("inside a span")
    (line,) = log_lines()
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_url_password_finds_the_password_where_libpq_accepts_it() -> None:
    assert url_password(DATABASE_URL) == "hunter2-db"
    assert url_password("postgresql://loyalty@db/points?password=q-pass&sslmode=require") == "q-pass"
    assert url_password("postgresql://postgres@/loyalty_points?host=%2Ftmp") is None


def test_a_short_secret_is_not_used_to_rewrite_every_line() -> None:
    # A one-letter "password" would otherwise blank that letter everywhere.
    assert Redactor(["a"]).text("a plain line") == "a plain line"


def test_a_huge_value_is_redacted_then_cut_and_never_holds_up_the_line(log_lines: Lines) -> None:
    # Unbounded patterns took minutes over one long word (the test's own timeout would catch a return of that).
    huge = "jane.doe@example.com " + "x" * 300_000 + f" {SASL_PASSWORD} " + "y" * 1_990 + SASL_PASSWORD
    logging.getLogger("test").warning("refused", extra={"reason": huge, "member_id": "m" * 300_000})
    [line] = log_lines()
    reason = str(line["reason"])
    assert re.fullmatch(r"j\*\*\*@example\.com x{1983}\.\.\. \(\d+ more characters\)", reason)
    assert len(str(line["member_id"])) < 2_100


def test_a_secret_straddling_the_cut_is_redacted_whole() -> None:
    secret = "s3cret-straddling"
    text = "x" * 1_990 + secret + "y" * 100
    cut = Redactor([secret]).text(text)
    assert "s3cret" not in cut and REDACTED[:10] in cut


def test_the_time_is_iso_8601_in_utc_to_the_millisecond(log_lines: Lines) -> None:
    before = datetime.now(UTC)
    logging.getLogger("tests.redaction").info("now")
    (line,) = log_lines()
    written = str(line["time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", written), written
    assert abs(datetime.fromisoformat(written) - before) < timedelta(seconds=5)
