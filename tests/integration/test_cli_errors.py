"""The command line reports a broker it cannot publish to in a line, not a traceback."""

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


def test_a_purchase_via_the_embedded_broker_with_the_idempotent_producer_names_the_setting_to_turn_it_off(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As after `loyalty dev --kafka-port`: a bootstrap set turns the idempotent producer on, which the broker refuses.
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.delenv("LOYALTY_KAFKA_IDEMPOTENCE", raising=False)
    assert main(["purchase", "alice", "10.00", "--via", "kafka"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("loyalty: the Kafka broker did not take it")
    assert "LOYALTY_KAFKA_IDEMPOTENCE=false" in error
