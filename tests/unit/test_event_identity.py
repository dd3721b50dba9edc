"""Headers, key, envelope and payload of a message must name the same event and member. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import symbol_database
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2

from services.common.event_identity import SUBJECT_FIELDS, check_subject_agrees
from services.common.events import TOPIC_EVENT_TYPES, MalformedEvent, new_envelope

WHEN = datetime(2025, 3, 4, tzinfo=UTC)
CARRIED = sorted(event_type for carried in TOPIC_EVENT_TYPES.values() for event_type in carried)


@pytest.mark.parametrize("event_type", CARRIED)
def test_every_event_type_a_topic_carries_names_its_subject_in_text_fields_of_its_payload(event_type: str) -> None:
    fields = symbol_database.Default().GetSymbol(event_type).DESCRIPTOR.fields_by_name
    assert SUBJECT_FIELDS[event_type]
    for name in SUBJECT_FIELDS[event_type]:
        assert fields[name].type == FieldDescriptor.TYPE_STRING


def agrees(payload: Message, subject: str, key: bytes | None) -> bool:
    envelope = new_envelope(payload, subject=subject, source="tests", occurred_at=WHEN)
    try:
        check_subject_agrees(key, envelope, payload)
    except MalformedEvent:
        return False
    return True


def test_a_promo_code_use_is_about_its_campaign_and_a_redemption_code_use_about_its_member() -> None:
    promo = rewards_pb2.CodeUsed(code="SPRING", order_id="o-1", campaign_id="spring-sale")
    redeemed = rewards_pb2.CodeUsed(code="R-1", order_id="o-2", member_id="ann", redemption_id="r-1")
    assert agrees(promo, "spring-sale", b"spring-sale")
    assert agrees(redeemed, "ann", b"ann")
    assert not agrees(promo, "ann", b"ann")
    assert not agrees(redeemed, "spring-sale", b"spring-sale")


def test_an_enrolment_is_about_the_new_member_not_the_referrer() -> None:
    enrolled = points_pb2.MemberEnrolled(member_id="bob", referrer_member_id="ann")
    assert agrees(enrolled, "bob", b"bob")
    assert not agrees(enrolled, "ann", b"ann")


def test_the_key_is_optional_but_when_present_must_be_the_subject() -> None:
    earned = points_pb2.PointsEarned(member_id="ann", points=5)
    assert agrees(earned, "ann", None)
    assert not agrees(earned, "ann", b"")
    assert not agrees(earned, "ann", b"bob")


def test_the_refusal_names_the_subject_and_the_payload_fields() -> None:
    promo = rewards_pb2.CodeUsed(code="SPRING", order_id="o-1", campaign_id="spring-sale")
    envelope = new_envelope(promo, subject="ann", source="tests", occurred_at=WHEN)
    with pytest.raises(MalformedEvent) as refused:
        check_subject_agrees(b"ann", envelope, promo)
    assert str(refused.value) == (
        "the envelope's subject 'ann' is not its payload.member_id or payload.campaign_id 'spring-sale'"
    )


def test_a_payload_naming_no_member_contradicts_no_subject() -> None:
    # A refund may leave its member to the purchase it names; its key and subject still keep it in order.
    refund = commerce_pb2.PurchaseRefunded(refund_id="rf-1", purchase_id="p-1")
    assert agrees(refund, "ann", b"ann")
    assert not agrees(refund, "ann", b"bob")
