"""Reading a YAML document field by field, naming each wrong field by its path. Pure, no I/O.

A `Section` wraps one mapping of the document. Its getters record a violation
naming the field's path (`earning.rules[2].multiplier`) and return a
placeholder instead of raising, so one pass reports every problem of a
definition at once; the caller raises when anything was recorded and only
then uses what it read.

A key written with no value (`rounding:`), an empty mapping (`limit: {}`) or
blank text (`timezone: ''`) is refused, never read as the key left out: that
would silently take a default the author did not write (`limit: {}` as once
per lifetime, `match: {}` as every purchase, `timezone: ''` as UTC). So is
free text that is not one line (text_fields.check_line).

Numbers are written in decimal (WHOLE_NUMBER, FRACTION), and any other form
YAML 1.1 reads as a number (1:30, 0x10, 1_000) is text, which a number's field
refuses.

Those rules came after definitions were stored that break them, and a stored
definition must stay readable: read `lenient`, a document is read as it was
when those were accepted (the key with no value left out, the empty mapping a
section of defaults, the text as written, numbers as YAML 1.1 reads them).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from services.common.decimals import decimal_text
from services.common.errors import Violations
from services.common.text_fields import check_line
from services.common.yaml_loading import FRACTION, WHOLE_NUMBER

MAX_TEXT = 256
# Times a document may name: far from datetime's limits, so arithmetic on them cannot overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Section:
    """One mapping of the document, with only its known keys."""

    def __init__(self, violations: Violations, path: str, data: Mapping[str, object], *, lenient: bool) -> None:
        self.violations = violations
        self.path = path
        self._data = data
        self.lenient = lenient

    @classmethod
    def of(
        cls, violations: Violations, path: str, value: object, known: Collection[str], *, lenient: bool = False
    ) -> Section | None:
        """The mapping at `path`, recording a violation per unknown key; None if it is no mapping. `lenient` for a
        stored definition (the module's docstring)."""
        if not isinstance(value, dict):
            violations.add(path or "definition", f"must be a mapping with keys {', '.join(known)}")
            return None
        data: dict[str, object] = {}
        for key, item in value.items():
            if isinstance(key, str) and key in known:
                data[key] = item
            else:
                # YAML 1.1 reads unquoted on/off/yes/no as booleans.
                quote = " (quote on/off/yes/no keys)" if isinstance(key, bool) else ""
                violations.add(join(path, str(key)), f"unknown key{quote}; expected one of {', '.join(known)}")
        return cls(violations, path, data, lenient=lenient)

    def field(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        """Whether `key` is given a value: a key written with none is not, and the getters refuse it."""
        return self._data.get(key) is not None

    def written(self, key: str) -> bool:
        """Whether `key` is in the document, with a value or not (read leniently: with a value)."""
        return self.has(key) if self.lenient else key in self._data

    def raw(self, key: str, wanted: str = "a value") -> object | None:
        """The value at `key` as written, None when absent (a key written with no value is refused, asking for
        `wanted`)."""
        return self._get(key, False, wanted)

    def refuse(self, key: str, description: str) -> None:
        self.violations.add(self.field(key), description)

    def _get(self, key: str, required: bool, wanted: str) -> object | None:
        """The value at `key`; None, refused, when it is required or written with no value (`wanted` says what
        it takes)."""
        value = self._data.get(key)
        if value is None and required:
            self.refuse(key, "is required")
        elif value is None and key in self._data:
            self._refuse_blank(self.field(key), "has no value", wanted)
        return value

    def _refuse_blank(self, field: str, problem: str, wanted: str) -> None:
        if not self.lenient:
            self.violations.add(field, f"{problem}: give it {wanted}, or leave it out")

    def section(self, key: str, known: Collection[str], *, required: bool = False) -> Section | None:
        """The mapping at `key`, None when absent, written with no value (`expiry:`) or empty (`expiry: {}`).

        An empty required section is read, so that the keys it lacks are named."""
        keys = ", ".join(known)
        value = self._get(key, required, keys)
        if value == {} and not required and not self.lenient:
            self._refuse_blank(self.field(key), "is empty", keys)
            return None
        return None if value is None else self._child(self.field(key), value, known)

    def _child(self, path: str, value: object, known: Collection[str]) -> Section | None:
        return Section.of(self.violations, path, value, known, lenient=self.lenient)

    def sections(self, key: str, known: Collection[str], *, max_items: int) -> Iterator[Section]:
        """Each mapping of the list at `key`, as its own section (`key[2]`)."""
        for path, value in self.items(key, max_items=max_items):
            section = self._child(path, value, known)
            if section is not None:
                yield section

    def items(self, key: str, *, max_items: int) -> list[tuple[str, object]]:
        """The list at `key` as (path, value) pairs; empty when absent or not a list."""
        value = self._get(key, False, "a list")
        if value is None:
            return []
        if not isinstance(value, list):
            self.refuse(key, "must be a list")
            return []
        if len(value) > max_items:
            self.refuse(key, f"must have at most {max_items} items")
            return []
        return [(f"{self.field(key)}[{index}]", item) for index, item in enumerate(value)]

    def mapping(self, key: str, wanted: str, *, required: bool = False) -> dict[str, object]:
        """A mapping with free-form keys (currency codes, say), `wanted` saying what; the caller checks the keys,
        and what an empty required one lacks."""
        value = self._get(key, required, wanted)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.refuse(key, "must be a mapping")
            return {}
        if not value and not required:
            self._refuse_blank(self.field(key), "is empty", wanted)
        if self.lenient:
            return dict(value)
        for name in [name for name, item in value.items() if item is None]:
            self._refuse_blank(join(self.field(key), name), "has no value", "one")
        return {name: item for name, item in value.items() if item is not None}

    def text(self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        """One line of text: a name, a description or an id (with `pattern`, described by `hint`); "" when absent,
        blank or not a line.

        Free text reaches members and terminals (a rule's description is the ledger text of its points), so it
        is held to the rule the RPCs' text fields are: no line breaks, control characters or bidi overrides.
        """
        value = self._get(key, required, hint or "text")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.refuse(key, "must be text")
            return ""
        if self.lenient:
            return self._text_as_stored(key, value, pattern, hint)
        if not value.strip() and required:
            self.refuse(key, "is required")
            return ""
        if not value.strip():
            self._refuse_blank(self.field(key), "is blank", hint or "text")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            self.refuse(key, f"{value!r} is not {hint or 'valid'}")
            return value
        check_line(self.violations, self.field(key), value, max_length=MAX_TEXT)
        return "" if self.violations.about(self.field(key)) else value

    def _text_as_stored(self, key: str, value: str, pattern: re.Pattern[str] | None, hint: str) -> str:
        """Text as read before one line was the rule: blank or not, at most MAX_TEXT characters."""
        if pattern is not None and not pattern.fullmatch(value):
            self.refuse(key, f"{value!r} is not {hint or 'valid'}")
        elif len(value) > MAX_TEXT:
            self.refuse(key, f"must be at most {MAX_TEXT} characters")
        return value

    def choice(self, key: str, choices: Collection[str], default: str) -> str:
        value = self._get(key, False, f"one of {', '.join(choices)}")
        if value is None:
            return default
        if value not in choices:
            self.refuse(key, f"must be one of {', '.join(choices)}")
            return default
        return str(value)

    def integer(self, key: str, *, minimum: int, maximum: int, required: bool = False, default: int = 0) -> int:
        value = self._get(key, required, "a whole number")
        return check_integer(self.violations, self.field(key), value, minimum, maximum, default)

    def optional_integer(self, key: str, *, minimum: int, maximum: int) -> int | None:
        """The whole number at `key`, None when left out."""
        return self.integer(key, minimum=minimum, maximum=maximum) if self.written(key) else None

    def decimal(self, key: str, *, minimum: Decimal, maximum: Decimal, required: bool = False) -> Decimal:
        value = self._get(key, required, "a number")
        return check_decimal(self.violations, self.field(key), value, minimum, maximum, places=4, lenient=self.lenient)

    def moment(self, key: str, zone: ZoneInfo, *, required: bool = False, end_of_day: bool = False) -> datetime | None:
        """A point in time (None when absent or refused); a date or a time without offset is local time in `zone`.

        A date means the start of that day, or with `end_of_day` the start of
        the next (so a window ending on a date includes that whole day).
        """
        value = self._get(key, required, "a date or a time")
        if value is None:
            return None
        try:
            moment = _utc_moment(value, zone, end_of_day=end_of_day)
        except OverflowError:
            moment = LATEST
        if moment is None:
            self.refuse(key, "must be a date (2025-07-04) or a time (2025-07-04T09:00:00-04:00)")
        elif not EARLIEST <= moment < LATEST:
            self.refuse(key, f"must be from {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and before {LATEST:%Y-%m-%dT%H:%M:%SZ}")
            return None
        return moment


def _utc_moment(value: object, zone: ZoneInfo, *, end_of_day: bool) -> datetime | None:
    if isinstance(value, str):
        value = _iso_moment(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=zone).astimezone(UTC)
    if isinstance(value, date):
        day = value + timedelta(days=1) if end_of_day else value
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    return None


def _iso_moment(text: str) -> datetime | date | None:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def check_integer(violations: Violations, field: str, value: object, minimum: int, maximum: int, default: int) -> int:
    """A whole number within bounds: any number a document may write (check_decimal's, quoted or not) whose
    fraction is zero, so 1000.0 and 1.0e+3, which YAML reads as floats, are 1000."""
    if value is None:
        return default
    number = _as_decimal(value, lenient=False)
    if number is None:
        violations.add(field, "must be a whole number")
        return default
    if number != number.to_integral_value():
        violations.add(field, f"must be a whole number, not {decimal_text(number)}")
        return default
    if not minimum <= number <= maximum:
        violations.add(field, f"must be between {minimum} and {maximum}")
        return default
    return int(number)


def check_decimal(
    violations: Violations,
    field: str,
    value: object,
    minimum: Decimal,
    maximum: Decimal,
    *,
    places: int | None,
    lenient: bool = False,
) -> Decimal:
    """A number (YAML integer, float or numeric text) as an exact Decimal within bounds.

    `places` bounds the decimal places, which keeps every product in pricing exact. Numeric text is written as
    a number is (WHOLE_NUMBER, FRACTION); `lenient` (a stored document), as Decimal() reads it, as it once was.
    """
    if value is None:
        return minimum
    number = _as_decimal(value, lenient)
    if number is None:
        violations.add(field, "must be a number")
        return minimum
    if not minimum <= number <= maximum:
        violations.add(field, f"must be between {minimum} and {maximum}")
        return minimum
    if places is not None and number != number.quantize(Decimal(1).scaleb(-places)):
        violations.add(field, f"must have at most {places} decimal places")
        return minimum
    return number


def _as_decimal(value: object, lenient: bool) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    # Decimal() also reads 1_000, surrounding spaces and digits of any script (١٢).
    if isinstance(value, str) and not lenient and not (WHOLE_NUMBER.fullmatch(value) or FRACTION.fullmatch(value)):
        return None
    try:
        # Through str so the YAML 1.5 becomes Decimal("1.5"), not the float's binary expansion.
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
