"""Use cases of the preferences API: read and replace a member's preferences, preview a message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.db import unit_of_work
from services.common.errors import NotFound, Violations
from services.notifications import domain, store
from services.notifications.application import Notifier
from services.notifications.domain import Category, Channel, Preferences
from services.notifications.templates import Rendered

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Preview:
    template_id: str
    category: Category
    variables: Mapping[str, str]
    renderings: list[Rendered]
    # Channels it would go to now; empty when the member would get nothing.
    channels: list[Channel]
    send_at: datetime


class PreferencesApplication:
    def __init__(self, pool: asyncpg.Pool, notifier: Notifier, now: Clock) -> None:
        self._pool = pool
        self._notifier = notifier
        self._now = now

    async def get(self, member_id: str) -> Preferences:
        _require_member_id(member_id)
        async with self._pool.acquire() as connection:
            found = await store.preferences(connection, member_id, self._notifier.defaults)
        if found is None:
            raise NotFound(f"member_id: member {member_id!r} is not known to the notifications service")
        return found

    async def set(self, chosen: Preferences) -> Preferences:
        """Replace the member's preferences (validated by the API's translation)."""
        async with unit_of_work(self._pool) as connection:
            await store.save_preferences(connection, chosen, self._now())
        return Preferences(
            chosen.member_id, chosen.channels, chosen.opted_out, chosen.time_zone, chosen.quiet_hours, customized=True
        )

    async def preview(self, template_id: str, member_id: str, given: Mapping[str, str]) -> Preview:
        violations = Violations()
        domain.validate_member_id(violations, member_id)
        if template_id not in self._notifier.catalog:
            known = ", ".join(self._notifier.catalog.ids())
            violations.add("template_id", f"unknown template {template_id!r}; templates: {known}")
        violations.raise_if_any()
        template = self._notifier.catalog.get(template_id)
        unknown = sorted(set(given) - set(template.examples))
        if unknown:
            violations.add("variables", f"{unknown} are not variables of {template_id} ({sorted(template.examples)})")
        violations.raise_if_any()
        preferences = await self.get(member_id)
        async with self._pool.acquire() as connection:
            member = await store.member(connection, member_id)
        facts = {"given_name": member.given_name, "tier": member.tier} if member else {}
        variables = {**template.examples, **{k: v for k, v in facts.items() if k in template.examples}, **given}
        now = self._now()
        refused = domain.refusal(preferences, template.category)
        return Preview(
            template_id,
            template.category,
            variables,
            [template.render(channel, variables) for channel in Channel],
            [] if refused else sorted(preferences.channels),
            domain.send_at(now, preferences.zone, preferences.quiet_hours),
        )


def _require_member_id(member_id: str) -> None:
    violations = Violations()
    domain.validate_member_id(violations, member_id)
    violations.raise_if_any()
