"""How large an amount of points or money may be: the same bounds at the RPCs that make the facts and in the
events that carry them to the other services (services/common/event_fields.py).

The databases keep amounts as bigint and sum them (a balance, a report's revenue or liability). Under these
bounds no stream of amounts a member or a report could gather overflows such a sum; an amount past them, taken
once, makes every later sum that includes it fail.
"""

from __future__ import annotations

from services.common.errors import Violations

# Largest amount accepted, in minor units: far above any real basket and far
# below the int64 points overflow at any sane earn rate.
MAX_AMOUNT_MINOR = 10**13
# The most points one entry may move (a credit, a debit, a hold). A member's balance and lifetime total
# are bigint sums: under this bound no stream of credits a member could get overflows them.
MAX_POINTS = 10**12
# The most points a figure that adds up many entries may hold, in an event (what an expiry run or a closure takes
# from all of a member's lots, what a reminder announces): a member may gather far more than one entry's
# MAX_POINTS, and the platform's own events of such a member must pass. 1000 entries of MAX_POINTS each; still
# 9,000 times below int64, so a report summing such totals over many members stays far from overflow. The points
# service caps no balance (members.balance is bigint, its CHECK only keeps it from going below what is overdrawn):
# a member past this many points has their closure and expiry events dead-lettered (README, Events).
MAX_POINTS_TOTAL = 10**15
# The longest name the rewards catalog gives a reward; events carry it into members' messages.
MAX_REWARD_NAME = 200

_SIGN_RULES = {
    (False, False): "must be positive",
    (False, True): "must not be negative",
    (True, False): "must not be zero",
}


def check_points(
    violations: Violations,
    field: str,
    points: int,
    *,
    signed: bool = False,
    zero: bool = False,
    most: int = MAX_POINTS,
) -> None:
    """Points one entry moves: positive, or of either sign when `signed`; zero only when `zero` (a part of a
    movement, a free reward); at most `most` in size: MAX_POINTS, or MAX_POINTS_TOTAL for a total of many."""
    if (points == 0 and not zero) or (points < 0 and not signed):
        violations.add(field, _SIGN_RULES[signed, zero])
    elif abs(points) > most:
        violations.add(field, f"must be at most {most}" + (" in size" if signed else ""))


def check_amount_minor(violations: Violations, field: str, amount_minor: int) -> None:
    """An amount of money in minor units: 0 to MAX_AMOUNT_MINOR."""
    if amount_minor < 0:
        violations.add(field, "must not be negative")
    elif amount_minor > MAX_AMOUNT_MINOR:
        violations.add(field, f"must be at most {MAX_AMOUNT_MINOR}")
