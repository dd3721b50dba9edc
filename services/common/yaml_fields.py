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
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from services.common.errors import InvalidArgument, Violations
from services.common.text_fields import check_line

MAX_DOCUMENT_CHARS = 1_000_000
MAX_TEXT = 256
# Times a document may name: far from datetime's limits, so arithmetic on them cannot overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


# Far deeper than a program or a policy nests (six levels): composing a document recurses per level, and a few
# hundred raise RecursionError.
MAX_NESTING = 32
# Far longer than any number a document needs: int() raises ValueError past 4300 digits, and so does str() of such
# an int wherever a message names it.
MAX_NUMBER_LENGTH = 100
# The numbers a document may write (docs/program.md): decimal digits, with a sign, a decimal point and an exponent
# if wanted. YAML 1.1 also reads 1:30 (sexagesimal: 90), 0x10, 0b11 and 1_000 as numbers, which their author
# rarely means and YAML 1.2 readers read otherwise; and a whole number with a leading zero (010) as octal (8),
# where YAML 1.2 reads 10: it is no number here. Anchored: PyYAML's resolvers match(), not fullmatch().
WHOLE_NUMBER = re.compile(r"^[-+]?(0|[1-9][0-9]*)\Z")
FRACTION = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+)\Z")
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _StrictLoader(yaml.SafeLoader):
    """safe_load that also refuses duplicate keys (the last would silently win), aliases, deep nesting, overlong
    numbers and scalars their explicit tag cannot be built from, each as a YAMLError saying where.

    Aliases are refused because nested ones expand exponentially (the
    "billion laughs"), and a program never needs them. PyYAML raises
    ValueError, IndexError or KeyError, no YAMLError, for `!!int abc`,
    an empty `!!int` or `!!bool maybe`.

    It reads numbers as YAML 1.1 does (1:30 is 90): as definitions stored
    before _DecimalLoader were read, and must still be.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        mark: yaml.error.Mark | None = getattr(self.peek_event(), "start_mark", None)  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise yaml.MarkedYAMLError(None, None, "anchors and aliases (*name) are not supported", mark)
        if self._depth == MAX_NESTING:
            raise yaml.MarkedYAMLError(None, None, f"nested more than {MAX_NESTING} levels deep", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        # A scalar tagged !!map or !!set is no mapping: left to the base class to refuse as a YAMLError.
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.MarkedYAMLError(None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_impossible_dates_as_text(self, node: yaml.ScalarNode) -> object:
        """A timestamp, or its text when no such day or time exists (2026-02-30) or it is none (`!!timestamp
        abc`): the field then refuses it by name."""
        try:
            return self.construct_yaml_timestamp(node)
        except (ValueError, AttributeError):
            return self.construct_scalar(node)

    def construct_whole_number(self, node: yaml.ScalarNode) -> object:
        return self._number(node, self.whole_number, "a whole number")

    def construct_fraction(self, node: yaml.ScalarNode) -> object:
        return self._number(node, self.fraction, "a number")

    def construct_truth(self, node: yaml.ScalarNode) -> object:
        try:
            return self.construct_yaml_bool(node)
        except KeyError:
            raise _refusal(node, f"{node.value[:MAX_TEXT]!r} is not true or false") from None

    def whole_number(self, node: yaml.ScalarNode) -> int:
        return int(self.construct_yaml_int(node))

    def fraction(self, node: yaml.ScalarNode) -> float:
        return float(self.construct_yaml_float(node))

    def _number(self, node: yaml.ScalarNode, build: Callable[[yaml.ScalarNode], object], what: str) -> object:
        text = self.construct_scalar(node)
        if len(text) > MAX_NUMBER_LENGTH:
            raise _refusal(node, f"a number must be at most {MAX_NUMBER_LENGTH} characters")
        try:
            return build(node)
        except (ValueError, IndexError):  # YAML 1.1's constructors index an empty `!!int` (IndexError)
            raise _refusal(node, f"{text!r} is not {what}") from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_impossible_dates_as_text)
_StrictLoader.add_constructor(_INT_TAG, _StrictLoader.construct_whole_number)
_StrictLoader.add_constructor(_FLOAT_TAG, _StrictLoader.construct_fraction)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _StrictLoader.construct_truth)


class _DecimalLoader(_StrictLoader):
    """_StrictLoader reading as numbers only what WHOLE_NUMBER and FRACTION match, with or without a tag: any
    other plain scalar is text, which a number's field refuses."""

    def whole_number(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        if not WHOLE_NUMBER.fullmatch(text):
            raise ValueError(text)
        return int(text)

    def fraction(self, node: yaml.ScalarNode) -> float:
        text = self.construct_scalar(node)
        if not (WHOLE_NUMBER.fullmatch(text) or FRACTION.fullmatch(text)):
            raise ValueError(text)
        return float(text)


# Its own resolvers (by first character), less YAML 1.1's for numbers, plus WHOLE_NUMBER's and FRACTION's.
_DecimalLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in _StrictLoader.yaml_implicit_resolvers.items()
}
_DecimalLoader.add_implicit_resolver(_INT_TAG, WHOLE_NUMBER, list("-+0123456789"))
_DecimalLoader.add_implicit_resolver(_FLOAT_TAG, FRACTION, list("-+.0123456789"))


def _refusal(node: yaml.Node, problem: str) -> yaml.MarkedYAMLError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def load_document(
    text: str, field: str = "definition", what: str = "the program definition", *, lenient: bool = False
) -> object:
    """The YAML document in `text`, or InvalidArgument on `field` saying where it is malformed (or, when empty,
    that it must hold `what`). Numbers are those of docs/program.md; `lenient` (a stored document), YAML 1.1's."""
    if not text.strip():
        raise InvalidArgument.single(field, f"is required: {what} as YAML text")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidArgument.single(field, f"must be at most {MAX_DOCUMENT_CHARS} characters")
    try:
        # A SafeLoader subclass: builds plain data only, never arbitrary objects.
        return yaml.load(text, Loader=_StrictLoader if lenient else _DecimalLoader)
    except yaml.YAMLError as error:
        raise InvalidArgument.single(field, f"is not valid YAML: {_yaml_problem(error)}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{error.problem or error.context}{where}"
    return str(error)


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
            self.refuse(key, f"must be between {EARLIEST.year} and {LATEST.year}")
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
    if value is None:
        return default
    if isinstance(value, str) and WHOLE_NUMBER.fullmatch(value):
        value = int(value)  # quoted, as numeric text: docs/program.md takes numbers quoted or not
    # YAML reads yes/no as booleans, which Python counts as integers.
    if not isinstance(value, int) or isinstance(value, bool):
        violations.add(field, "must be a whole number")
        return default
    if not minimum <= value <= maximum:
        violations.add(field, f"must be between {minimum} and {maximum}")
        return default
    return value


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
    if isinstance(value, bool) or not isinstance(value, int | float | str):
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
