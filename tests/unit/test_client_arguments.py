"""The client commands refuse an amount or currency they cannot send before calling, as `loyalty: ...` like every
other CLI error."""

from __future__ import annotations

import pytest

from services.cli import main


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["abc"], "loyalty: amount 'abc' is not a number"),
        (["1.001"], "loyalty: amount 1.001 has more decimals than USD allows"),
        (["1.00", "--currency", "usd"], "loyalty: currency 'usd' must be upper case, as ISO 4217 writes it: 'USD'"),
    ],
)
def test_a_purchase_amount_the_command_cannot_send_is_refused_as_loyalty_errors_are(
    arguments: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["purchase", "alice", *arguments])
    assert exited.value.code == said
