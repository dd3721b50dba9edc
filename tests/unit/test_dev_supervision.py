"""`loyalty dev` starts again a service that exited, pausing longer while it keeps exiting. No I/O."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from services.common.embedded import StartupError
from services.dev_supervision import supervise


class Services:
    """Services that exit as scripted: `exits[name]` is how many more times the name exits on (re)start."""

    def __init__(self, exits: dict[str, int]) -> None:
        self.exits = exits
        self.down = set(exits)
        self.starts: list[str] = []

    def exited_services(self) -> dict[str, int]:
        return {name: 1 for name in sorted(self.down)}

    def log_path(self, name: str) -> Path:
        return Path(f"/logs/{name}.log")

    async def start_service(self, name: str) -> None:
        self.starts.append(name)
        self.exits[name] -= 1
        if self.exits[name] > 0:
            raise StartupError(f"{name} exited with code 1 while starting")
        self.down.discard(name)


async def test_an_exited_service_is_reported_and_started_again_with_growing_pauses() -> None:
    services = Services({"points": 3, "rewards": 1})
    out = io.StringIO()
    supervising = asyncio.create_task(supervise(services, check_every_s=0.001, pauses_s=(0.001, 0.002), out=out))
    for _ in range(1000):
        if not services.down:
            break
        await asyncio.sleep(0.001)
    supervising.cancel()

    assert services.down == set()
    assert services.starts == ["points", "rewards", "points", "points"]
    lines = out.getvalue().splitlines()
    assert lines[0] == "loyalty dev: points exited with code 1 (log: /logs/points.log); starting it again in 0.001 s"
    assert "points exited with code 1 while starting" in lines[1]
    assert [line.endswith("again in 0.002 s") for line in lines if "points exited with code 1 (log" in line] == [
        False,
        True,
        True,
    ]


async def test_a_service_that_ran_for_a_while_before_exiting_again_pauses_as_little_as_the_first_time() -> None:
    services = Services({"broker": 1})
    out = io.StringIO()
    supervising = asyncio.create_task(
        supervise(services, check_every_s=0.001, pauses_s=(0.001, 0.5), stable_after_s=0.05, out=out)
    )
    for crash in range(3):
        for _ in range(1000):
            if not services.down:
                break
            await asyncio.sleep(0.001)
        assert not services.down, f"not started again after exit {crash}"
        await asyncio.sleep(0.1)  # up longer than stable_after_s
        services.exits["broker"] = 1
        services.down.add("broker")
    supervising.cancel()

    pauses = [line.rsplit(" in ", 1)[1] for line in out.getvalue().splitlines()]
    assert pauses == ["0.001 s"] * 3


async def test_a_service_that_ran_for_a_while_then_keeps_failing_to_start_pauses_longer_each_time() -> None:
    services = Services({"points": 1})
    out = io.StringIO()
    supervising = asyncio.create_task(
        supervise(services, check_every_s=0.001, pauses_s=(0.001, 0.01, 0.02), stable_after_s=0.05, out=out)
    )
    for _ in range(1000):
        if not services.down:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.1)  # up longer than stable_after_s
    services.exits["points"] = 4  # then three starts in a row fail
    services.down.add("points")
    for _ in range(2000):
        if not services.down:
            break
        await asyncio.sleep(0.001)
    supervising.cancel()

    pauses = [line.rsplit(" in ", 1)[1] for line in out.getvalue().splitlines() if "(log:" in line]
    # The first exit after a stable run pauses as little as the first; the failed starts after it back off.
    assert pauses[-4:] == ["0.001 s", "0.01 s", "0.02 s", "0.02 s"]
