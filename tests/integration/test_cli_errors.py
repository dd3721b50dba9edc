"""The command line reports an unreachable broker in a line, not a traceback."""

from __future__ import annotations

import pytest

from services.cli import main
from services.common.embedded import free_port


def test_a_purchase_via_kafka_with_no_broker_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port('127.0.0.1')}")  # nothing listens there
    assert main(["purchase", "alice", "10.00", "--via", "kafka"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("loyalty: the Kafka broker did not take it") and "Traceback" not in error
