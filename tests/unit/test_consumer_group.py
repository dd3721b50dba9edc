"""A commit the group refuses because it rebalanced is told as that, not in aiokafka's words, which blame a setting.

The consumer here stands in for aiokafka's only to raise what its commit raises when the group has moved on;
tests/integration/test_consumer_lag_rebalance.py runs real rebalances on the broker."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError, KafkaError

from services.common.consumer_group import commit


class _RefusingCommit:
    def __init__(self, error: KafkaError) -> None:
        self.error = error

    async def commit(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [CommitFailedError("Commit cannot be completed ... max_poll_interval_ms"), IllegalStateError()]
)
async def test_a_commit_refused_by_a_rebalance_is_told_as_one(
    error: KafkaError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="services.common.consumer_group"):
        await commit(_RefusingCommit(error))  # type: ignore[arg-type]
    (record,) = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.INFO, "offset commit refused: the group rebalanced")
    assert "max_poll_interval_ms" not in str(record.__dict__)


async def test_any_other_failed_commit_is_a_warning_with_the_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="services.common.consumer_group"):
        await commit(_RefusingCommit(KafkaConnectionError("broker away")))  # type: ignore[arg-type]
    (record,) = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "offset commit failed")
    assert "broker away" in record.__dict__["error"]
