"""The audit can fail: books that disagree with the platform give one discrepancy per disagreement."""

from __future__ import annotations

import pytest

from services.dev import Platform
from tests.faults.audit import audit, settled_audit
from tests.faults.books import Books, Redeemed
from tests.faults.world import cast, stubs_for

pytestmark = pytest.mark.faults


async def test_the_audit_counts_what_the_books_and_the_platform_disagree_on(fault_platform: Platform) -> None:
    books = Books()
    async with stubs_for(fault_platform) as stubs:
        member, other = (await cast(stubs, books, members=2)).members
        # Once every consumer has read the cast's events (tickets has when cast returns; rewards may not yet).
        assert (await settled_audit(fault_platform, stubs, books, within_s=30)).problems == []

        books.expect(member, "purchase:never-sent", 10, "grpc purchase")  # accepted, never applied
        books.refuse(other, f"adjust:{other}")  # refused, yet in the ledger
        books.redeemed(Redeemed("00000000-0000-0000-0000-000000000000", member, 25, "NOCODE"))
        findings = await audit(fault_platform, stubs, books)

    problems = "\n".join(findings.problems)
    assert "purchase:never-sent (10 points) was accepted but never applied" in problems
    assert f"adjust:{other} was refused but written" in problems
    assert "00000000-0000-0000-0000-000000000000" in problems
    assert findings.discrepancies >= 3
