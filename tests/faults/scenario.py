"""One fault scenario: steady load, a fault in the middle, recovery, then the books."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from services.common.runtime import task_stacks
from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.faults.audit import Findings, settled_audit
from tests.faults.books import REPORTS, Books, Report
from tests.faults.delivery import KafkaSender
from tests.faults.load import Load, Options
from tests.faults.scale import Scale
from tests.faults.world import Stubs, cast, stubs_for

Fault = Callable[[Load], Awaitable[str]]
# A scenario's own check once the books balance: more problems, if any.
Check = Callable[[Stubs, Load], Awaitable[list[str]]]
log = logging.getLogger(__name__)


def report_of(name: str, books: Books, findings: Findings, notes: str) -> Report:
    return Report(
        scenario=name,
        sent=sum(books.sent.values()),
        accepted=sum(books.accepted.values()),
        rejected=sum(books.rejected.values()),
        applied=findings.applied,
        duplicates_absorbed=sum(books.copies.values()) if not findings.problems else 0,
        discrepancies=findings.discrepancies,
        notes=notes,
    )


async def run_scenario(
    name: str,
    platform: Platform,
    scale: Scale,
    fault: Fault,
    options: Options | None = None,
    books: Books | None = None,
    check: Check | None = None,
) -> tuple[Report, Findings]:
    """Load for `load_before_s`, then `fault` (which returns a note), load for `load_after_s`, then audit.

    A scenario that has no result within the scale's limit fails, with where the
    harness and the services wait logged at the limit, rather than hang the run.
    """
    loop = asyncio.get_running_loop()
    overrun = loop.call_later(scale.scenario_limit_s, _log_overrun, platform, name, scale.scenario_limit_s)
    try:
        async with asyncio.timeout(scale.scenario_limit_s + 5):  # after the stacks were logged
            report, findings = await _run_scenario(name, platform, scale, fault, options, books, check)
    except TimeoutError:
        raise AssertionError(f"{name}: no result within {scale.scenario_limit_s:.0f}s (task stacks logged)") from None
    except BaseException:
        _signal_services(platform)
        raise
    finally:
        overrun.cancel()
    if findings.problems:
        _signal_services(platform)
    return report, findings


async def _run_scenario(
    name: str,
    platform: Platform,
    scale: Scale,
    fault: Fault,
    options: Options | None,
    books: Books | None,
    check: Check | None,
) -> tuple[Report, Findings]:
    books = books or Books()
    async with stubs_for(platform) as stubs:
        the_cast = await cast(stubs, books)
        sender = KafkaSender(platform.kafka_bootstrap, books)
        await sender.start()
        try:
            load = Load(stubs, the_cast, books, sender, options or Options())
            stop = asyncio.Event()
            running = asyncio.create_task(load.run(scale.rate, stop))
            await asyncio.sleep(scale.load_before_s)
            note = await fault(load)
            await asyncio.sleep(scale.load_after_s)
            stop.set()
            await running
            await sender.confirm(scale.settle_s)
        finally:
            await sender.stop()
        findings = await settled_audit(platform, stubs, books, scale.settle_s)
        if check is not None:
            findings.problems += await check(stubs, load)
    if sender.replays:
        note += f"; the harness replayed its Kafka messages {sender.replays}x"
    if sender.resent_unserved:
        note += f"; it sent again {sender.resent_unserved} the broker acknowledged but did not serve"
    return report_of(name, books, findings, note), findings


def _log_overrun(platform: Platform, name: str, limit_s: float) -> None:
    """At the limit, before anything is cancelled: where the harness's tasks and the services' tasks wait."""
    log.error("%s: no result within %.0fs; the harness's tasks wait at:", name, limit_s)
    for task, chain in task_stacks().items():
        log.error("  %s: %s", task, " <- ".join(chain))
    _signal_services(platform)


def _signal_services(platform: Platform) -> None:
    """Have every service log where its tasks wait (SIGUSR1), for whoever reads the failure in its log."""
    for service in SERVICE_NAMES:
        pid = platform.service_pid(service)
        if pid is not None:
            os.kill(pid, signal.SIGUSR1)


def record(report: Report, findings: Findings) -> None:
    """Put the scenario in the run's table, then fail on any discrepancy, listing them all."""
    REPORTS.append(report)
    assert findings.problems == [], f"{report.scenario}: {findings.discrepancies} discrepancies:\n" + "\n".join(
        findings.problems
    )
