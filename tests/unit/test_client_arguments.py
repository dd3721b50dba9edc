"""The client commands refuse an amount or currency they cannot send before calling: a line `loyalty: ...` naming
the argument, and exit status 2, as argparse and the settings refuse arguments."""

from __future__ import annotations

import pytest

from services.cli import main

# Each command taking an amount: the words before it.
AMOUNT_COMMANDS = [["purchase", "alice"], ["refund", "order-1"]]


@pytest.mark.parametrize("command", AMOUNT_COMMANDS)
@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["abc"], "loyalty: amount 'abc' is not a plain decimal amount like 42.50"),
        (["1.001"], "loyalty: amount 1.001 has more decimals than USD allows"),
        # 29 digits: rounded to Decimal's default 28, it was sent as 1.00.
        (
            ["1.0000000000000000000000000001"],
            "loyalty: amount 1.0000000000000000000000000001 has more decimals than USD allows",
        ),
        (["1.00", "--currency", "usd"], "loyalty: currency 'usd' must be upper case, as ISO 4217 writes it: 'USD'"),
    ],
)
def test_an_amount_the_command_cannot_send_is_refused_in_a_line(
    command: list[str], arguments: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, *arguments]) == 2
    assert capsys.readouterr().err == f"{said}\n"


@pytest.mark.parametrize("command", AMOUNT_COMMANDS)
@pytest.mark.parametrize("amount", ["inf", "-inf", "Infinity", "nan", "NaN", "snan", "1e3", "1E3", "4.25e1", "1_000"])
def test_an_amount_that_is_not_plain_decimal_notation_is_refused_not_read_as_a_number(
    command: list[str], amount: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decimal() reads all of these: "inf" crashed the command with OverflowError, "nan" was said to have too
    many decimals, "1e3" was sent as 1000.00. None is how anyone writes an amount."""
    assert main([*command, "--", amount]) == 2  # "--": argparse would take "-inf" for an option
    assert capsys.readouterr().err == f"loyalty: amount {amount!r} is not a plain decimal amount like 42.50\n"


@pytest.mark.parametrize("command", AMOUNT_COMMANDS)
def test_an_amount_no_message_can_carry_is_refused_in_a_line(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "92233720368547758.08"]) == 2
    assert (
        capsys.readouterr().err
        == "loyalty: amount 92233720368547758.08 is out of range: at most 92233720368547758.07 USD either way\n"
    )
