"""How long the fault scenarios run: a short version for every test run (CI), a full one on demand.

`python -m pytest tests/faults --faults=full` (or LOYALTY_FAULTS=full) runs the
lengths the issue asks for; the default is the short version, which exercises
the same code paths in a few seconds per scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.faults.delivery import GIVE_UP_AFTER_S


@dataclass(frozen=True)
class Scale:
    name: str
    # Operations per second of the mixed load, and how long it runs before and after a fault.
    rate: float
    load_before_s: float
    load_after_s: float
    # How long the broker stays down, a consumer stays stalled, PostgreSQL stays down.
    broker_down_s: float
    consumer_pause_s: float
    postgres_down_s: float
    # The soak: its length and how many samples of memory and connections it takes.
    soak_s: float
    soak_samples: int
    # Hypothesis examples per RPC, and malformed messages per topic.
    fuzz_examples: int
    malformed_per_topic: int
    # How long the books may take to balance once the load stopped.
    settle_s: float

    @property
    def scenario_limit_s(self) -> float:
        """Past this a scenario has hung: its phases, the settle time, and the harness's give-up time for a call."""
        phases = self.load_before_s + self.load_after_s + max(self.broker_down_s, self.consumer_pause_s, self.soak_s)
        return phases + self.settle_s + GIVE_UP_AFTER_S + 120


SHORT = Scale(
    name="short",
    rate=12,
    load_before_s=3,
    load_after_s=3,
    broker_down_s=4,
    consumer_pause_s=5,
    postgres_down_s=2,
    soak_s=20,
    soak_samples=2,
    fuzz_examples=12,
    malformed_per_topic=6,
    settle_s=90,
)

FULL = Scale(
    name="full",
    rate=25,
    load_before_s=20,
    load_after_s=30,
    broker_down_s=30,
    consumer_pause_s=60,
    postgres_down_s=10,
    soak_s=600,
    soak_samples=10,
    fuzz_examples=150,
    malformed_per_topic=40,
    settle_s=240,
)

SCALES = {scale.name: scale for scale in (SHORT, FULL)}
