"""A program's history from October 2025 to April 2026 as the events the services emit, for the insights tests.

The KPIs of March 2026 (the window [2026-03-01, 2026-04-01), whose previous
window is [2026-01-29, 2026-03-01)) are computed by hand in
tests/integration/test_insights_kpis.py; the comments here give what each
event contributes. Purchases earn 2 points per USD. Seven members are enrolled
by the end of March (gus enrols in April); zed never enrols.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, rewards_pb2, tickets_pb2
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.events import new_envelope, timestamp

WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
COST_PER_POINT = Decimal("0.0125")
CURRENCY = "USD"

# (topic kind, envelope): kinds are "points", "purchases", "rewards", "tickets".
History = list[tuple[str, EventEnvelope]]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _event(kind: str, payload: Message, member_id: str, when: str) -> tuple[str, EventEnvelope]:
    return kind, new_envelope(payload, subject=member_id, source="fixture", occurred_at=at(when))


def _enrolled(member_id: str, when: str) -> tuple[str, EventEnvelope]:
    event = points_events.MemberEnrolled(member_id=member_id, tier="base", enrolled_at=timestamp(at(when)))
    return _event("points", event, member_id, when)


def _tier(member_id: str, tier: str, previous: str, when: str, *, up: bool) -> tuple[str, EventEnvelope]:
    kind = points_events.TierReached if up else points_events.TierLost
    return _event("points", kind(member_id=member_id, tier=tier, previous_tier=previous), member_id, when)


def _purchase(purchase_id: str, member_id: str, minor: int, when: str, *, paths: str, currency: str = "USD") -> History:
    """A purchase by `paths`: "commerce" (PurchaseMade), "points" (PointsEarned at 2 per whole unit), or both."""
    amount = Money(amount_minor=minor, currency_code=currency)
    events: History = []
    if "commerce" in paths:
        made = commerce_pb2.PurchaseMade(
            purchase_id=purchase_id, member_id=member_id, amount=amount, occurred_at=timestamp(at(when))
        )
        events.append(_event("purchases", made, member_id, when))
    if "points" in paths:
        earned = points_events.PointsEarned(
            member_id=member_id,
            points=2 * (minor // 100),
            reason="purchase",
            source_reference=purchase_id,
            purchase_amount=amount,
            purchase_occurred_at=timestamp(at(when)),
        )
        credited = (at(when) + timedelta(minutes=1)).isoformat()[:19]
        events.append(_event("points", earned, member_id, credited))
    return events


def _accrual(member_id: str, partner_id: str, points: int, when: str) -> tuple[str, EventEnvelope]:
    earned = points_events.PointsEarned(
        member_id=member_id, points=points, reason=f"partner:{partner_id}", partner_id=partner_id
    )
    return _event("points", earned, member_id, when)


def _points(kind: type[Message], member_id: str, points: int, when: str) -> tuple[str, EventEnvelope]:
    return _event("points", kind(member_id=member_id, points=points), member_id, when)


def _survey(ticket_id: str, member_id: str, effort: int, satisfaction: int, recommend: int, when: str) -> History:
    answer = tickets_pb2.SurveySubmitted(
        ticket_id=ticket_id, member_id=member_id, effort=effort, satisfaction=satisfaction, recommend=recommend
    )
    return [_event("tickets", answer, member_id, when)]


def history() -> History:
    redeemed, expired, adjusted = (
        points_events.PointsRedeemed,
        points_events.PointsExpired,
        points_events.PointsAdjusted,
    )
    return [
        _enrolled("hal", "2025-10-01T09:00:00"),
        _tier("hal", "silver", "base", "2025-12-01T09:00:00", up=True),
        _enrolled("fay", "2025-11-01T09:00:00"),
        _enrolled("ann", "2025-12-01T09:00:00"),
        _tier("ann", "silver", "base", "2026-02-10T12:00:00", up=True),
        _tier("ann", "gold", "silver", "2026-03-15T12:00:00", up=True),  # an upgrade in March
        _enrolled("bob", "2026-01-05T09:00:00"),
        _enrolled("cat", "2026-02-01T09:00:00"),
        _tier("cat", "silver", "base", "2026-02-20T12:00:00", up=True),
        _tier("cat", "base", "silver", "2026-03-31T23:59:00", up=False),  # a downgrade in March
        _enrolled("dan", "2026-03-05T09:00:00"),  # new in March
        _enrolled("eve", "2026-03-20T09:00:00"),  # new in March, never active
        _enrolled("gus", "2026-04-10T09:00:00"),  # after March
        # Before the previous window: fay is not active in it.
        *_purchase("p0", "fay", 3000, "2026-01-10T10:00:00", paths="points"),  # 60 points
        # The previous window (February): hal, ann, bob and cat are the members at March's start.
        *_purchase("h1", "hal", 2500, "2026-02-02T10:00:00", paths="commerce+points"),  # 50 points
        *_purchase("p1", "ann", 10000, "2026-02-05T10:00:00", paths="commerce+points"),  # 200 points
        *_purchase("p2", "ann", 5000, "2026-02-20T10:00:00", paths="points"),  # 100 points
        *_purchase("p3", "bob", 8000, "2026-02-10T10:00:00", paths="commerce+points"),  # 160 points
        *_purchase("p4", "cat", 4000, "2026-02-15T10:00:00", paths="points"),  # 80 points
        _accrual("bob", "sky-air", 100, "2026-02-12T10:00:00"),
        _points(redeemed, "ann", 100, "2026-02-25T10:00:00"),
        # March.
        _points(expired, "fay", 60, "2026-03-01T00:00:00"),  # the window's first instant
        *_purchase("p5", "ann", 12000, "2026-03-03T10:00:00", paths="commerce+points"),  # 240 points
        *_purchase("p6", "ann", 6000, "2026-03-18T10:00:00", paths="points"),  # 120 points
        *_purchase("p7", "bob", 5000, "2026-03-10T10:00:00", paths="points"),  # 100 points
        *_purchase("p8", "bob", 40, "2026-03-12T10:00:00", paths="commerce", currency="EUR"),  # no points, not USD
        *_purchase("p9", "dan", 7000, "2026-03-08T10:00:00", paths="commerce+points"),  # 140 points
        *_purchase("z1", "zed", 9900, "2026-03-09T10:00:00", paths="commerce"),  # not a member
        _accrual("fay", "sky-air", 500, "2026-03-12T10:00:00"),
        _accrual("fay", "sky-air", 300, "2026-03-25T10:00:00"),
        _accrual("ann", "hotel-co", 200, "2026-03-20T10:00:00"),
        _points(adjusted, "cat", 50, "2026-03-05T10:00:00"),  # goodwill
        _event(
            "points",
            points_events.PointsReversed(member_id="bob", purchase_id="p7", refund_id="r-p7", points_taken=20),
            "bob",
            "2026-03-14T10:00:00",
        ),
        _event(
            "points",
            points_events.PointsReversed(
                member_id="hal", purchase_id="h1", refund_id="r-h1", points_taken=20, points_owed=10
            ),
            "hal",
            "2026-03-06T10:00:00",
        ),
        _points(redeemed, "ann", 300, "2026-03-22T10:00:00"),
        _event(
            "rewards",
            rewards_pb2.RewardRedeemed(redemption_id="r1", member_id="ann", points=300),
            "ann",
            "2026-03-22T10:00:01",
        ),
        _points(redeemed, "bob", 150, "2026-03-28T10:00:00"),
        _event(
            "rewards",
            rewards_pb2.RewardRedeemed(redemption_id="r2", member_id="bob", points=150),
            "bob",
            "2026-03-28T10:00:01",
        ),
        _event(
            "rewards",
            rewards_pb2.RedemptionCancelled(redemption_id="r2", member_id="bob", points_returned=150),
            "bob",
            "2026-03-29T10:00:00",
        ),
        _points(adjusted, "bob", 150, "2026-03-29T10:00:00"),  # the cancelled redemption's points back
        *_survey("t0", "hal", 7, 1, 0, "2026-02-10T10:00:00"),  # February
        *_survey("t1", "ann", 2, 5, 10, "2026-03-10T10:00:00"),
        *_survey("t2", "bob", 4, 3, 7, "2026-03-12T10:00:00"),
        *_survey("t3", "dan", 6, 2, 3, "2026-03-20T10:00:00"),
        *_survey("t4", "fay", 1, 4, 9, "2026-03-28T10:00:00"),
        *_survey("tz", "zed", 1, 5, 10, "2026-03-15T10:00:00"),  # not a member
        # April.
        *_purchase("g1", "gus", 1000, "2026-04-12T10:00:00", paths="commerce+points"),
    ]
