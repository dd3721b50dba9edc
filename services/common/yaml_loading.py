"""Loading a YAML document (a program, a tickets policy) as plain data, refusing what no field could take: nesting
past MAX_NESTING, numbers past MAX_NUMBER_LENGTH, tags that cannot build their value. Pure, no I/O.

Numbers are written in decimal (WHOLE_NUMBER, FRACTION), and any other form YAML 1.1 reads as a number (1:30,
0x10, 1_000) is text, which a number's field refuses. A stored definition is read `lenient`, numbers as YAML 1.1
reads them, as it was when it was accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml

from services.common.errors import InvalidArgument

MAX_DOCUMENT_CHARS = 1_000_000
# Of a refused value, quoted in the message.
_SHOWN = 256

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
            raise _refusal(node, f"{node.value[:_SHOWN]!r} is not true or false") from None

    def whole_number(self, node: yaml.ScalarNode) -> int:
        return int(self.construct_yaml_int(node))

    def fraction(self, node: yaml.ScalarNode) -> float | Decimal:
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

    def fraction(self, node: yaml.ScalarNode) -> Decimal:
        """The number exactly as written: as a float, 3.0000000000000001 would be 3 and 1.00000000000000001 have
        no more decimals than 1."""
        text = self.construct_scalar(node)
        if not (WHOLE_NUMBER.fullmatch(text) or FRACTION.fullmatch(text)):
            raise ValueError(text)
        return Decimal(text)


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
