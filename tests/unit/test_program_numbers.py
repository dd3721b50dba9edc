"""Numbers in a program definition: the decimal notation docs/program.md gives, and no other; and YAML no field
could take refused naming the definition, never raising an error that is no refusal. Pure, no I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.common.errors import InvalidArgument
from services.points.program_schema import parse_program

RATE = "earning.base_rates.USD"
CAP = "earning.caps.per_purchase"


def program(rate: str = "2", *, cap: str = "5", min_spend: str = "10", threshold: str = "100") -> str:
    return f"""id: shop
effective_from: 2025-01-01T00:00:00Z
currency: USD
earning:
  base_rates: {{USD: {rate}}}
  rules: [{{id: big, multiplier: 2, match: {{min_spend: {min_spend}}}}}]
  caps: {{per_purchase: {cap}}}
tiers:
  basis: points
  window: calendar_year
  levels: [{{name: base, threshold: 0}}, {{name: gold, threshold: {threshold}}}]
"""


def refused(text: str, *, stored: bool = False) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse_program(text, stored=stored)
    return {v.field: v.description for v in caught.value.violations}


@pytest.mark.parametrize(
    ("rate", "read"),
    [
        ("2", Decimal(2)),
        ("+2", Decimal(2)),
        ("0.25", Decimal("0.25")),
        (".5", Decimal("0.5")),
        ("2.", Decimal(2)),
        ("1e2", Decimal(100)),
        ("1.5E+2", Decimal(150)),
        ("'2.5'", Decimal("2.5")),  # quoted, as numeric text
    ],
)
def test_numbers_in_decimal_notation_are_read(rate: str, read: Decimal) -> None:
    assert parse_program(program(rate)).earning.base_rates["USD"] == read


@pytest.mark.parametrize(
    "rate",
    [
        "1:30",  # YAML 1.1: sexagesimal, 90
        "0x10",  # 16
        "0b11",  # 3
        "0o17",
        "010",  # YAML 1.1: octal, 8; YAML 1.2: 10
        "1_000",  # 1000
        "1_0.5",
        "190:20:30.15",
        ".nan",
        ".inf",
        "'1,000'",
        "'1_000'",  # Decimal() reads these three
        "' 12'",
        "'\u0661\u0662'",  # Arabic-Indic 12
        "'0x10'",
    ],
)
def test_other_number_forms_are_refused_not_read_as_yaml_1_1_does(rate: str) -> None:
    assert refused(program(rate)) == {RATE: "must be a number"}


@pytest.mark.parametrize("cap", ["1:30", "0x10", "0b11", "010", "1_000", "'010'", "' 5'", ".inf"])
def test_whole_numbers_are_held_to_decimal_digits_too(cap: str) -> None:
    assert refused(program(cap=cap)) == {CAP: "must be a whole number"}


@pytest.mark.parametrize("cap", ["3.0000000000000001", "1000.00000000000000000001", "300.0000000000000001e-2"])
def test_a_fraction_too_small_for_a_float_is_still_a_fraction(cap: str) -> None:
    # Read as floats these were whole numbers: the number is read as written.
    assert refused(program(cap=cap))[CAP].startswith("must be a whole number, not ")


def test_a_whole_number_past_what_a_float_holds_is_refused_for_its_size() -> None:
    assert refused(program(cap="1e400"))[CAP].startswith("must be between ")


@pytest.mark.parametrize("cap", ["1000.0", "1000.", "1.0e+3", "1e3", "10E2", "'1e3'", "'1000.00'", "+1.000e3"])
def test_a_whole_number_may_be_written_with_a_zero_fraction_or_an_exponent(cap: str) -> None:
    # YAML reads these as floats (1e3 too, by the decimal notation of docs/program.md): each is 1000. Stored, the
    # text is read as YAML 1.1 reads it, 1e3 as text, and still means 1000.
    for stored in (False, True):
        per_purchase = parse_program(program(cap=cap), stored=stored).earning.caps.per_purchase
        assert (per_purchase, type(per_purchase)) == (1000, int)


@pytest.mark.parametrize(
    ("cap", "shown"), [("1.5", "1.5"), ("'1.5'", "1.5"), ("1.0005e3", "1000.5"), ("25e-2", "0.25")]
)
def test_a_number_with_a_fraction_is_refused_as_no_whole_number_naming_it(cap: str, shown: str) -> None:
    assert refused(program(cap=cap)) == {CAP: f"must be a whole number, not {shown}"}


@pytest.mark.parametrize("cap", ["'5'", '"5"', "'+5'"])
def test_a_quoted_whole_number_is_a_whole_number_as_a_quoted_number_is_a_number(cap: str) -> None:
    assert parse_program(program(cap=cap)).earning.caps.per_purchase == 5


@pytest.mark.parametrize(
    ("rate", "cap", "read"),
    [
        ("1:30", "0x10", (Decimal(90), 16)),
        ("'1_000'", "010", (Decimal(1000), 8)),
        ("1_0.5", "0b11", (Decimal("10.5"), 3)),
    ],
)
def test_a_definition_stored_with_yaml_1_1_numbers_is_still_read_as_it_was(
    rate: str, cap: str, read: tuple[Decimal, int]
) -> None:
    # A rate of 1:30 or 1_000 exceeds MAX_RATE: the stored document is read, bounds aside, as it was applied.
    text = program("10", cap=cap).replace("{USD: 10}", f"{{USD: 10, EUR: {rate}}}")
    stored = parse_program(text, stored=True)
    assert (stored.earning.base_rates["EUR"], stored.earning.caps.per_purchase) == read


DEEP = "a: " + "[" * 500 + "]" * 500


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(DEEP, "definition", id="nested 500 deep"),  # RecursionError
        pytest.param(program("1" * 4301), "definition", id="4301-digit rate"),  # int() raised ValueError
        pytest.param(program(threshold="1" * 4400), "definition", id="4400-digit threshold"),
        pytest.param(program(min_spend="1" * 4500), "definition", id="4500-digit min_spend"),
        pytest.param(program("!!int abc"), "definition", id="!!int abc"),  # ValueError
        pytest.param(program("!!float abc"), "definition", id="!!float abc"),
        pytest.param(program("!!bool maybe"), "definition", id="!!bool maybe"),  # KeyError
        pytest.param("id: !!int\n", "definition", id="empty !!int"),  # IndexError, read as YAML 1.1 reads
        pytest.param(program("!!map x"), "definition", id="!!map x"),  # the duplicate-key check unpacked "x"
        pytest.param(program("!!set x"), "definition", id="!!set x"),
        pytest.param(program("!!timestamp abc"), RATE, id="!!timestamp abc"),  # AttributeError
    ],
)
@pytest.mark.parametrize("stored", [False, True], ids=["applied", "stored"])
def test_yaml_no_field_could_take_is_refused_naming_where(text: str, field: str, stored: bool) -> None:
    assert field in refused(text, stored=stored)


def test_nesting_is_refused_past_the_limit_only() -> None:
    assert "nested more than 32 levels deep" in refused("a: " + "[" * 33 + "]" * 33)["definition"]
    assert "nested" not in refused("a: " + "[" * 31 + "]" * 31).get("definition", "")


def test_a_multiplier_past_four_decimal_places_is_refused_however_small_the_fraction() -> None:
    fine = program().replace("multiplier: 2", "multiplier: 1.0000000000000000001")
    assert refused(fine) == {"earning.rules[0].multiplier": "must have at most 4 decimal places"}
