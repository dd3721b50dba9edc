"""Text a caller writes once and others read later (names, reasons, keys, email addresses), checked as such.

A control character or a line break in a name, a reason or a key is never
what a person typed: stored, it lets one caller forge lines and terminal
escapes in what others see (`loyalty balance` prints reasons one per line).
Fields meant to hold several lines (a ticket's description, a program's YAML)
are not checked here.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from services.common.errors import Violations

# Unicode's control characters (category Cc: C0, DEL and C1) but the tab, which breaks no line and drives no
# terminal (a folded email subject or a spreadsheet cell brings one), the line and paragraph separators, and the
# bidirectional embeddings, overrides and isolates: left open in a name, they reverse what a screen shows after
# it on the same line (a reason that reads as another amount; CVE-2021-42574). The left-to-right and
# right-to-left marks (U+200E, U+200F), which mixed Hebrew or Arabic text needs, only order what they touch.
NOT_IN_A_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same less tab and line feed (and carriage return, which Windows clients end lines with).
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Code points that show nothing and yet are no whitespace to str.strip(): besides the format characters (category
# Cf: zero-width space and joiners, word joiner, byte order mark, direction marks), Unicode's other default-ignorable
# ones (combining grapheme joiner, Hangul fillers, Khmer inherent vowels, variation selectors). A name made of them
# alone reads as no name at all, and is refused as a blank one is.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
SINGLE_LINE = "must be a single line of text, without control characters (a tab excepted) or bidirectional overrides"
NO_CONTROL = "must be text without control characters (tab and line breaks excepted)"


def clipped(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (an ellipsis the last) when longer."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def is_blank(value: str) -> bool:
    """Whether `value` shows nothing: empty, or only whitespace and invisible characters."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" or _INVISIBLE.match(char) for char in value)


def check_line(violations: Violations, field: str, value: str, *, max_length: int, required: bool = False) -> None:
    """Add a violation for `field` unless `value` is one line of at most `max_length` characters (not blank when
    `required`)."""
    _check_text(violations, field, value, max_length, required, NOT_IN_A_LINE, SINGLE_LINE)


def check_lines(violations: Violations, field: str, value: str, *, max_length: int, required: bool = False) -> None:
    """As check_line, for a field of several lines: tabs and line breaks are allowed, other controls are not."""
    _check_text(violations, field, value, max_length, required, _NOT_IN_TEXT, NO_CONTROL)


def _check_text(
    violations: Violations,
    field: str,
    value: str,
    max_length: int,
    required: bool,
    forbidden: re.Pattern[str],
    problem: str,
) -> None:
    if required and is_blank(value):
        violations.add(field, f"is required, at most {max_length} characters")
    elif len(value) > max_length:
        violations.add(field, f"must be at most {max_length} characters")
    elif forbidden.search(value):
        violations.add(field, problem)


def check_email(violations: Violations, field: str, value: str, *, max_length: int) -> None:
    """Add a violation for `field` unless `value` is an address mail can be sent to as email-validator reads
    one (RFC 5322's, less quoted local parts and special-use domains such as .test or localhost); its domain is
    not looked up."""
    if len(value) > max_length:
        violations.add(field, f"must be an email address of at most {max_length} characters")
        return
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        violations.add(field, f"must be an email address: {error}")
