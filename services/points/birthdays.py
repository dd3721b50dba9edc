"""The birthday job: credits the program's birthday bonus once a year, in the birth month or on the birthday.

It runs periodically in the points service; `run_once(now)` is one pass at a
chosen time. The bonus is a bonus entry keyed by member and the birthday's
year, so runs that overlap, repeat or restart credit it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.common.db import unit_of_work
from services.points import domain, store
from services.points.bonuses import Bonus, credit_bonuses
from services.points.program import BirthdayBonus, Program
from services.points.program_application import ProgramApplication


@dataclass(frozen=True)
class BirthdayReport:
    members_credited: int
    points_credited: int


def _key(member_id: str, occurrence: date) -> str:
    return f"birthday:{member_id}:{occurrence.year}"


class BirthdayJob:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication, *, batch: int = 500) -> None:
        self._pool = pool
        self._programs = programs
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> BirthdayReport:
        """Credit every member whose bonus is due, a page of members per transaction.

        A member another transaction holds is left for the next run: the job never waits on a purchase.
        """
        now = now or domain.utc_now()
        async with self._pool.acquire() as connection:
            version = await self._programs.in_force_in(connection, None, now)
        birthday = version.program.bonuses.birthday if version else None
        if version is None or birthday is None:
            return BirthdayReport(0, 0)
        today = version.program.local_date(now)
        credited = 0
        after = ""
        while candidates := await self._born_around(today, after):
            after = candidates[-1][0]
            due = {
                member_id: _key(member_id, day)
                for member_id, born, enrolled_at in candidates
                if (day := birthday.occurrence_due(born, today, version.program.local_date(enrolled_at)))
            }
            credited += await self._credit(await self._not_yet_credited(due), birthday, version.program, now)
        return BirthdayReport(credited, credited * birthday.points)

    async def _born_around(self, today: date, after_member_id: str) -> list[tuple[str, date, datetime]]:
        """Active members born in this month or the last one (for the grace days), a page after `after_member_id`."""
        months = [today.month, (today.month - 2) % 12 + 1]
        records = await self._pool.fetch(
            """SELECT member_id, birth_date, enrolled_at FROM members
                WHERE birth_date IS NOT NULL AND date_part('month', birth_date) = ANY($1::int[])
                  AND status = 'active' AND member_id > $2
                ORDER BY member_id LIMIT $3""",
            months,
            after_member_id,
            self._batch,
        )
        return [(r["member_id"], r["birth_date"], r["enrolled_at"]) for r in records]

    async def _not_yet_credited(self, due: dict[str, str]) -> dict[str, str]:
        """The members of `due` (member id: bonus key) whose bonus has no entry yet; read without locking."""
        async with self._pool.acquire() as connection:
            credited = await store.entries_with_keys(connection, list(due.values()))
        return {member_id: key for member_id, key in due.items() if key not in credited}

    async def _credit(self, due: dict[str, str], birthday: BirthdayBonus, program: Program, now: datetime) -> int:
        if not due:
            return 0
        async with unit_of_work(self._pool) as connection:
            members = await store.lock_members(connection, list(due), skip_locked=True)
            # Checked again under the locks: a concurrent run may have credited some meanwhile.
            credited = await store.entries_with_keys(connection, [due[member_id] for member_id in members])
            bonuses = [
                Bonus(
                    member_id=member.member_id,
                    points=birthday.points,
                    key=due[member.member_id],
                    source="birthday",
                    description=f"birthday bonus of program {program.id}",
                    earned_at=now,
                    balance_after=member.balance + birthday.points,
                )
                for member in members.values()
                if member.status == "active" and due[member.member_id] not in credited
            ]
            await credit_bonuses(connection, program, bonuses)
            return len(bonuses)
