"""Event envelopes: building, Kafka headers, encoding and decoding. Pure, no I/O."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from loyalty.common.v1.common_pb2 import LineItem, Money
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2, tickets_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.notifications.v1 import notifications_pb2
from loyalty.points.v1 import partners_pb2

from services.common.events import (
    JSON,
    PROTOBUF,
    TOPIC_EVENT_TYPES,
    MalformedEvent,
    decode,
    event_types_of,
    header,
    kafka_headers,
    new_envelope,
    occurred_at,
    parse_message,
    timestamp,
    unknown_enum_names,
)
from services.common.kafka import (
    EVENT_TOPICS,
    NOTIFICATIONS_REQUESTS_TOPIC,
    PARTNER_ACCRUALS_TOPIC,
    POINTS_EVENTS_TOPIC,
    PURCHASES_TOPIC,
    REWARDS_EVENTS_TOPIC,
    TICKETS_EVENTS_TOPIC,
)

WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def purchase_made() -> commerce_pb2.PurchaseMade:
    return commerce_pb2.PurchaseMade(
        purchase_id="order-7",
        member_id="m-7",
        amount=Money(amount_minor=1999, currency_code="EUR"),
        line_items=[LineItem(sku="s", category="c", quantity=2, unit_price=Money())],
        channel="app",
    )


def envelope_of(payload: commerce_pb2.PurchaseMade | points_pb2.PointsEarned) -> EventEnvelope:
    return new_envelope(payload, subject="m-7", source="tests", occurred_at=WHEN)


def test_new_envelope_fills_every_field() -> None:
    event_id = uuid.uuid4()
    envelope = new_envelope(purchase_made(), subject="m-7", source="shop", occurred_at=WHEN, event_id=event_id)
    assert envelope.event_id == str(event_id)
    assert envelope.type == "loyalty.events.v1.PurchaseMade"
    assert envelope.source == "shop"
    assert envelope.subject == "m-7"
    assert envelope.payload.type_url == "type.googleapis.com/loyalty.events.v1.PurchaseMade"
    assert occurred_at(envelope) == WHEN


def test_new_envelope_ids_are_unique() -> None:
    assert envelope_of(purchase_made()).event_id != envelope_of(purchase_made()).event_id


def test_kafka_headers_repeat_the_envelope() -> None:
    envelope = envelope_of(purchase_made())
    envelope.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = kafka_headers(envelope)
    assert header(headers, "ce_id") == envelope.event_id
    assert header(headers, "ce_type") == "loyalty.events.v1.PurchaseMade"
    assert header(headers, "ce_source") == "tests"
    assert header(headers, "content-type") == PROTOBUF
    assert header(headers, "traceparent") == envelope.traceparent


def test_no_traceparent_header_without_a_trace() -> None:
    envelope = envelope_of(purchase_made())
    envelope.traceparent = ""
    assert header(kafka_headers(envelope), "traceparent") is None


def test_header_lookup_ignores_case() -> None:
    assert header([("Content-Type", b"application/json")], "content-type") == "application/json"


def test_protobuf_round_trip() -> None:
    envelope = envelope_of(purchase_made())
    decoded, payload = decode(envelope.SerializeToString(), kafka_headers(envelope))
    assert decoded == envelope
    assert payload == purchase_made()
    assert isinstance(payload, commerce_pb2.PurchaseMade)


def test_protobuf_is_assumed_without_a_content_type() -> None:
    envelope = envelope_of(purchase_made())
    _, payload = decode(envelope.SerializeToString(), [])
    assert payload == purchase_made()


def test_json_content_type_is_accepted() -> None:
    envelope = envelope_of(purchase_made())
    body = json_format.MessageToJson(envelope).encode()
    decoded, payload = decode(body, [("content-type", b"application/json; charset=utf-8")])
    assert decoded.event_id == envelope.event_id
    assert occurred_at(decoded) == WHEN
    assert payload == purchase_made()


def test_hand_written_partner_json_is_accepted() -> None:
    body = b"""{
      "eventId": "4b8e3a0e-4f3c-4d43-9d0e-3f5f7c1b9a11",
      "type": "loyalty.events.v1.PurchaseMade",
      "source": "partner-x",
      "occurredAt": "2025-03-04T05:06:07Z",
      "subject": "m-7",
      "payload": {
        "@type": "type.googleapis.com/loyalty.events.v1.PurchaseMade",
        "purchaseId": "p-1", "memberId": "m-7",
        "amount": {"amountMinor": "500", "currencyCode": "USD"}
      }
    }"""
    envelope, payload = decode(body, [("content-type", JSON.encode())])
    assert envelope.source == "partner-x"
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    assert (payload.purchase_id, payload.amount.amount_minor) == ("p-1", 500)


def test_json_fields_unknown_to_this_version_are_skipped_as_in_binary() -> None:
    body = b"""{
      "eventId": "4b8e3a0e-4f3c-4d43-9d0e-3f5f7c1b9a11", "type": "loyalty.events.v1.PurchaseMade",
      "addedInV2": {"x": 1},
      "payload": {
        "@type": "type.googleapis.com/loyalty.events.v1.PurchaseMade",
        "purchaseId": "p-1", "memberId": "m-7", "loyaltyTierAtCheckout": "gold"
      }
    }"""
    _, payload = decode(body, [("content-type", JSON.encode())])
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    assert (payload.purchase_id, payload.member_id) == ("p-1", "m-7")


def test_json_enum_names_unknown_to_this_version_are_found_by_field_as_either_name_spells_it() -> None:
    body = b'{"activityType": "TELEPORT", "partner_transaction_id": "t-1"}'
    record = parse_message(body, [("content-type", JSON.encode())], partners_pb2.AccrualRecord(), "AccrualRecord")
    assert record.activity_type == 0  # dropped, as an unknown field is
    assert unknown_enum_names(body, record) == {"activity_type": "TELEPORT"}
    assert unknown_enum_names(b'{"activity_type": "TELEPORT"}', record) == {"activity_type": "TELEPORT"}
    assert unknown_enum_names(b'{"activityType": "ACTIVITY_TYPE_STAY", "unit": "USD"}', record) == {}
    assert unknown_enum_names(b'{"activityType": 7}', record) == {}  # kept as a number, as in binary


def test_json_timestamps_with_a_lower_case_t_and_z_are_read_as_rfc_3339_allows() -> None:
    body = b"""{
      "eventId": "4b8e3a0e-4f3c-4d43-9d0e-3f5f7c1b9a11",
      "type": "loyalty.events.v1.PurchaseMade",
      "occurredAt": "2025-03-04t05:06:07.123456z",
      "payload": {
        "@type": "type.googleapis.com/loyalty.events.v1.PurchaseMade",
        "purchaseId": "2025-03-04t05:06:07z", "memberId": "m-7",
        "occurred_at": "2025-03-04t05:06:07+01:00"
      }
    }"""
    envelope, payload = decode(body, [("content-type", JSON.encode())])
    assert occurred_at(envelope) == WHEN
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    assert payload.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2025, 3, 4, 4, 6, 7, tzinfo=UTC)
    assert payload.purchase_id == "2025-03-04t05:06:07z"  # text, not a Timestamp: kept as written


def test_json_timestamps_in_lower_case_are_read_in_repeated_messages_and_in_an_any_of_a_timestamp() -> None:
    headers = [("content-type", JSON.encode())]
    body = b'{"rates": [{"unit": "MILE"}, {"unit": "USD", "effectiveFrom": "2025-03-04\\u007405:06:07.123456Z"}]}'
    partner = parse_message(body, headers, partners_pb2.Partner(), "Partner")
    assert partner.rates[1].effective_from.ToDatetime(tzinfo=UTC) == WHEN
    body = b'{"payload": {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "2025-03-04T05:06:07z"}}'
    envelope = parse_message(body, headers, EventEnvelope(), "envelope")
    moment = Timestamp()
    assert envelope.payload.Unpack(moment)
    assert moment.ToDatetime(tzinfo=UTC) == WHEN.replace(microsecond=0)


def test_json_with_a_key_given_twice_is_malformed_whatever_its_timestamps() -> None:
    body = b'{"occurredAt": "2025-03-04t05:06:07z", "type": "a", "type": "b"}'
    with pytest.raises(MalformedEvent, match="duplicate key type"):
        decode(body, [("content-type", JSON.encode())])


@pytest.mark.parametrize("value", [None, b""])
def test_empty_value_is_malformed(value: bytes | None) -> None:
    with pytest.raises(MalformedEvent, match="empty message value"):
        decode(value, [])


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xff\xff\xff", b"not a protobuf at all", b"\x0a\x05ab", bytes(range(256))],
)
def test_garbage_bytes_are_malformed(garbage: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(garbage, [("content-type", PROTOBUF.encode())])


@pytest.mark.parametrize("body", [b"{not json", b'{"eventId": 5, "bogus": true}', b"\xff\xfe"])
def test_bad_json_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedEvent, match="cannot parse envelope"):
        decode(body, [("content-type", JSON.encode())])


@pytest.mark.parametrize("content_type", [b"application/x-protobuf", b"application/protobuf", b"Application/Protobuf"])
def test_the_binary_format_goes_by_its_common_names(content_type: bytes) -> None:
    envelope = envelope_of(purchase_made())
    decoded, _ = decode(envelope.SerializeToString(), [("content-type", content_type)])
    assert decoded.event_id == envelope.event_id


def test_unsupported_content_type_is_malformed() -> None:
    envelope = envelope_of(purchase_made())
    with pytest.raises(MalformedEvent, match="unsupported content-type 'text/plain'"):
        decode(envelope.SerializeToString(), [("content-type", b"text/plain")])


def test_unknown_event_type_is_malformed() -> None:
    envelope = envelope_of(purchase_made())
    envelope.type = "loyalty.events.v1.NoSuchEvent"
    envelope.payload.type_url = "type.googleapis.com/loyalty.events.v1.NoSuchEvent"
    with pytest.raises(MalformedEvent, match=re.escape("unknown event type 'loyalty.events.v1.NoSuchEvent'")):
        decode(envelope.SerializeToString(), [])


def test_type_and_payload_mismatch_is_malformed() -> None:
    envelope = envelope_of(purchase_made())
    envelope.type = points_pb2.PointsEarned.DESCRIPTOR.full_name
    with pytest.raises(MalformedEvent, match=re.escape("not envelope.type")):
        decode(envelope.SerializeToString(), [])


def test_payload_bytes_that_do_not_decode_are_malformed() -> None:
    envelope = envelope_of(purchase_made())
    envelope.payload.value = b"\xff\xff\xff"
    with pytest.raises(MalformedEvent, match="does not decode"):
        decode(envelope.SerializeToString(), [])


@pytest.mark.parametrize("missing", ["event_id", "type"])
def test_envelope_without_id_or_type_is_malformed(missing: str) -> None:
    envelope = envelope_of(purchase_made())
    envelope.ClearField(missing)
    with pytest.raises(MalformedEvent, match=f"envelope.{missing} is empty"):
        decode(envelope.SerializeToString(), [])


@pytest.mark.parametrize("event_id", ["evt-1", "x" * 5000, str(uuid.uuid4()) + "0", "{" + str(uuid.uuid4()) + "}"])
def test_an_event_id_that_is_not_a_uuid_is_malformed_and_not_quoted(event_id: str) -> None:
    # The inbox keys applied events by their id: 5,000 characters would not fit its index entry.
    envelope = envelope_of(purchase_made())
    envelope.event_id = event_id
    with pytest.raises(MalformedEvent) as refused:
        decode(envelope.SerializeToString(), [])
    assert str(refused.value) == "envelope.event_id must be a UUID (32 hexadecimal digits in groups of 8-4-4-4-12)"


def test_an_event_id_in_capitals_is_a_uuid_still() -> None:
    envelope = envelope_of(purchase_made())
    envelope.event_id = str(uuid.uuid4()).upper()
    assert decode(envelope.SerializeToString(), [])[0].event_id == envelope.event_id


def test_occurred_at_defaults_to_now_when_absent() -> None:
    envelope = envelope_of(purchase_made())
    envelope.ClearField("occurred_at")
    before = datetime.now(UTC)
    assert before <= occurred_at(envelope) <= datetime.now(UTC)


@given(st.datetimes(timezones=st.timezones()) | st.datetimes())
def test_timestamp_is_the_moment_protobuf_itself_makes(moment: datetime) -> None:
    expected = Timestamp()
    try:
        expected.FromDatetime(moment.astimezone(UTC))
    except (ValueError, OverflowError):  # local time beyond year 1..9999 in UTC: nothing to compare with
        return
    assert timestamp(moment) == expected


@pytest.mark.parametrize("body", [b"[]", b'""', b'"abc"', b" [1]", b"0", b"null", b"true"])
def test_json_that_is_not_an_object_is_no_message(body: bytes) -> None:
    """The protobuf parser alone reads `[]` and strings as an empty message, which would be answered as one."""
    with pytest.raises(MalformedEvent, match="cannot parse"):
        parse_message(body, [("content-type", JSON.encode())], commerce_pb2.PurchaseMade(), "PurchaseMade")


def test_json_of_an_empty_object_is_an_empty_message() -> None:
    parsed = parse_message(b" \n{}", [("content-type", JSON.encode())], commerce_pb2.PurchaseMade(), "PurchaseMade")
    assert parsed == commerce_pb2.PurchaseMade()


def test_each_event_topic_carries_the_events_of_its_contract() -> None:
    """Every event of a topic's proto file: one missing would be dead-lettered by every consumer of the topic."""
    contracts = {
        PURCHASES_TOPIC: commerce_pb2,
        POINTS_EVENTS_TOPIC: points_pb2,
        REWARDS_EVENTS_TOPIC: rewards_pb2,
        TICKETS_EVENTS_TOPIC: tickets_pb2,
    }
    for topic, contract in contracts.items():
        declared = {message.full_name for message in contract.DESCRIPTOR.message_types_by_name.values()}
        assert event_types_of(topic) == declared, topic
    assert event_types_of(NOTIFICATIONS_REQUESTS_TOPIC) == {
        notifications_pb2.NotificationRequested.DESCRIPTOR.full_name
    }
    # Partners send records, not envelopes: their topic has no event types.
    assert set(TOPIC_EVENT_TYPES) == set(EVENT_TOPICS) - {PARTNER_ACCRUALS_TOPIC}


def test_a_topic_of_no_registered_event_types_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=re.escape("'made.up.v1'")):
        event_types_of("made.up.v1")
