"""Ids of high-rate rows sort in the order they were made (so their indexes grow at one edge)."""

from __future__ import annotations

from services.common.ids import new_id, new_ids


def test_ids_made_one_after_another_sort_in_that_order() -> None:
    made = [new_id() for _ in range(1_000)] + new_ids(1_000)
    assert sorted(made) == made
    assert len(set(made)) == len(made)


def test_ids_are_version_7() -> None:
    assert {i.version for i in new_ids(10)} == {7}
