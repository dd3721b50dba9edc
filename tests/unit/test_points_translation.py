"""Points edges that need no database: page tokens and protobuf-to-domain translation."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1.common_pb2 import LineItem, Money
from loyalty.events.v1 import commerce_pb2
from loyalty.points.v1 import points_pb2 as pb

from services.common.errors import InvalidArgument
from services.points import domain, store
from services.points.api import entry_message, member_message, purchase_from

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


def test_record_purchase_request_translates_to_the_domain() -> None:
    stamp = Timestamp()
    stamp.FromDatetime(WHEN)
    request = pb.RecordPurchaseRequest(
        purchase_id="p-1",
        member_id="m-1",
        amount=Money(amount_minor=1250, currency_code="GBP"),
        line_items=[
            LineItem(sku="sku-9", category="books", quantity=3, unit_price=Money(amount_minor=250, currency_code="GBP"))
        ],
        occurred_at=stamp,
        channel="store",
    )
    purchase = purchase_from(request)
    assert purchase == domain.Purchase(
        purchase_id="p-1",
        member_id="m-1",
        amount=domain.Money(1250, "GBP"),
        line_items=(domain.LineItem("sku-9", "books", 3, domain.Money(250, "GBP")),),
        occurred_at=WHEN,
        channel="store",
    )


def test_missing_occurred_at_is_named_by_validation() -> None:
    event = commerce_pb2.PurchaseMade(
        purchase_id="p-2", member_id="m-1", amount=Money(amount_minor=100, currency_code="USD")
    )
    purchase = purchase_from(event)
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_purchase(purchase, WHEN)
    assert [v.field for v in caught.value.violations] == ["occurred_at"]


def test_out_of_range_timestamp_is_named_not_crashed() -> None:
    event = commerce_pb2.PurchaseMade(
        purchase_id="p-3",
        member_id="m-1",
        amount=Money(amount_minor=100, currency_code="USD"),
        occurred_at=Timestamp(seconds=2**60),
    )
    purchase = purchase_from(event)
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_purchase(purchase, WHEN)
    assert [v.field for v in caught.value.violations] == ["occurred_at"]


def test_member_and_entry_messages() -> None:
    member = store.MemberRow("m-1", "a@b.c", "Ada", "Lovelace", "base", "active", WHEN, 10, 12, 0)
    message = member_message(member)
    assert (message.member_id, message.email, message.tier) == ("m-1", "a@b.c", "base")
    assert message.status == pb.MEMBER_STATUS_ACTIVE
    assert message.enrolled_at.ToDatetime(tzinfo=UTC) == WHEN
    entry_id = uuid.uuid4()
    entry = store.EntryRow(7, entry_id, "m-1", "purchase_earn", 84, "purchase:p-1", "why", WHEN)
    entry_pb = entry_message(entry)
    assert entry_pb.entry_id == str(entry_id)
    assert entry_pb.kind == pb.ENTRY_KIND_PURCHASE_EARN
    assert (entry_pb.points, entry_pb.idempotency_key) == (84, "purchase:p-1")


def _kinds_allowed_by_the_schema() -> set[str]:
    """The ledger entry kinds the CHECK constraint of the newest migration adding it allows (a later one may only
    validate it)."""
    migrations = sorted((Path(store.__file__).parent / "migrations").glob("*.sql"))
    added = "ADD CONSTRAINT ledger_entries_kind_check"
    checks = [m.read_text() for m in migrations if added in m.read_text()]
    constraint = checks[-1][checks[-1].rindex(added) :]
    allowed = re.findall(r"kind IN \(([^)]*)\)", constraint)[0]
    return set(re.findall(r"'([a-z_]+)'", allowed))


def test_every_entry_kind_the_schema_allows_has_a_protobuf_kind() -> None:
    kinds = _kinds_allowed_by_the_schema()
    assert {"purchase_earn", "expiry", "bonus"} <= kinds
    for kind in kinds:
        entry = store.EntryRow(1, uuid.uuid4(), "m-1", kind, -5, f"{kind}:1", "why", WHEN)
        assert entry_message(entry).kind != pb.ENTRY_KIND_UNSPECIFIED
