"""`loyalty dev` keeps the services up: one that exits on its own is reported and started again.

What an orchestrator's restart policy does in production (Kubernetes, or
`restart: unless-stopped` in deploy/compose.yaml): a crashed service comes
back by itself, and the pause before each new start grows while it keeps
crashing, so a service that cannot start does not spin. A service that then
ran for a while was not crashing in a loop: its next exit pauses as little as
the first (Kubernetes resets its back-off the same way).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TextIO

from services.common.embedded import StartupError

# Seconds before the first, second, ... new start of a service that exited; the last repeats.
RESTART_PAUSES_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# A service up this long since its last start exited after running, not while starting: the pauses start over.
STABLE_AFTER_S = 60.0


class Supervised(Protocol):
    def exited_services(self) -> Mapping[str, int]: ...

    def log_path(self, name: str) -> Path: ...

    async def start_service(self, name: str) -> None: ...


async def supervise(
    platform: Supervised,
    *,
    check_every_s: float = 1.0,
    pauses_s: tuple[float, ...] = RESTART_PAUSES_S,
    stable_after_s: float = STABLE_AFTER_S,
    out: TextIO = sys.stderr,
) -> None:
    """Until cancelled: start again every service that exited, saying so with where its log is."""
    restarts: dict[str, int] = {}
    started_at: dict[str, float] = {}
    while True:
        await asyncio.sleep(check_every_s)
        for name, code in platform.exited_services().items():
            # Popped: a start that then fails is no stable run to reset the pauses by.
            if time.monotonic() - started_at.pop(name, time.monotonic()) >= stable_after_s:
                restarts.pop(name, None)
            count = restarts.get(name, 0)
            pause = pauses_s[min(count, len(pauses_s) - 1)]
            print(
                f"loyalty dev: {name} exited with code {code} (log: {platform.log_path(name)});"
                f" starting it again in {pause:g} s",
                file=out,
                flush=True,
            )
            await asyncio.sleep(pause)
            restarts[name] = count + 1
            try:
                await platform.start_service(name)
                started_at[name] = time.monotonic()
            except StartupError as error:
                print(f"loyalty dev: {error}", file=out, flush=True)
