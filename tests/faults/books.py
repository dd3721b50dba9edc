"""The harness's own record of what it sent and what was answered, and the per-scenario report.

Every operation the load makes is written here as it happens: what was sent,
how many copies (retries after an unknown outcome, duplicate deliveries,
resent batches, replays), whether it was accepted or refused, and what the
ledger must therefore hold. The audit compares this record, never the
services' own numbers, with what the services answer afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Credit:
    """A ledger entry the books expect: one entry with `points` under `key` for `member_id`."""

    member_id: str
    key: str
    points: int
    # The same key may be learnt twice (a retry answered "duplicate"); the points must agree.
    via: str


@dataclass
class Redeemed:
    redemption_id: str
    member_id: str
    points: int
    code: str


@dataclass
class Books:
    """What was sent and answered, per operation kind, and the credits and redemptions that follow."""

    sent: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    # Copies beyond the first: retries of an unknown outcome, duplicate deliveries, resends, replays.
    copies: Counter[str] = field(default_factory=Counter)
    # Answers that said "already done" (gRPC duplicate flags, partner DUPLICATE results).
    duplicate_answers: Counter[str] = field(default_factory=Counter)
    # Answers that must never happen (INTERNAL, UNKNOWN), by RPC.
    internal_errors: Counter[str] = field(default_factory=Counter)
    credits: dict[str, Credit] = field(default_factory=dict)
    # Keys that were refused: the ledger must not have them.
    refused_keys: dict[str, str] = field(default_factory=dict)
    redemptions: dict[str, Redeemed] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def expect(self, member_id: str, key: str, points: int, via: str) -> None:
        known = self.credits.get(key)
        if known is not None and (known.points, known.member_id) != (points, member_id):
            self.conflicts.append(f"{key}: answered {points} for {member_id}, earlier {known.points}")
            return
        self.credits[key] = Credit(member_id, key, points, via)

    def refuse(self, member_id: str, key: str) -> None:
        self.refused_keys[key] = member_id

    def redeemed(self, redemption: Redeemed) -> None:
        self.redemptions[redemption.redemption_id] = redemption

    def members(self) -> set[str]:
        return {c.member_id for c in self.credits.values()} | {r.member_id for r in self.redemptions.values()}


@dataclass(frozen=True)
class Report:
    scenario: str
    sent: int
    accepted: int
    rejected: int
    applied: int
    duplicates_absorbed: int
    discrepancies: int
    notes: str = ""


# Every scenario of the run, for the table printed at its end.
REPORTS: list[Report] = []

HEADER = ("scenario", "sent", "accepted", "rejected", "applied", "dup. absorbed", "discrepancies", "notes")


def table(reports: list[Report]) -> str:
    """A Markdown table, one row per scenario."""
    rows = [HEADER, tuple("---" for _ in HEADER)]
    rows += [
        (
            r.scenario,
            str(r.sent),
            str(r.accepted),
            str(r.rejected),
            str(r.applied),
            str(r.duplicates_absorbed),
            str(r.discrepancies),
            r.notes,
        )
        for r in reports
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
