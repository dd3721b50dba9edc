"""The embedded broker tells an exit of its own from a stop or kill through it (what `loyalty dev` restarts)."""

from __future__ import annotations

import asyncio
import os
import signal

from services.common.embedded import EmbeddedBroker


async def test_a_broker_that_exits_by_itself_reports_its_exit_and_starts_again(own_broker: EmbeddedBroker) -> None:
    await own_broker.start()
    assert own_broker.exit_code() is None
    process = own_broker._process
    assert process is not None
    os.kill(process.pid, signal.SIGTERM)  # as an operator's kill or a crash would end it
    await asyncio.to_thread(process.wait, 20)
    assert own_broker.exit_code() is not None
    await own_broker.start()
    assert own_broker.running and own_broker.exit_code() is None


async def test_a_broker_stopped_or_killed_through_it_has_not_exited_by_itself(own_broker: EmbeddedBroker) -> None:
    await own_broker.start()
    await own_broker.kill()
    assert own_broker.exit_code() is None
    await own_broker.start()
    await own_broker.stop()
    assert own_broker.exit_code() is None and not own_broker.running
