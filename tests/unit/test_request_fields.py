"""Request fields every RPC refuses alike, and event fields every consumer dead-letters alike: NUL characters in
text, timestamps, durations and time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import commerce_pb2
from loyalty.notifications.v1 import notifications_pb2
from loyalty.points.v1 import partners_pb2, points_pb2
from loyalty.rewards.v1 import catalog_pb2

from services.common.errors import InvalidArgument, Violations
from services.common.proto_enums import enum_value, optional_enum_value, proto_enum
from services.common.proto_time import required_time, to_datetime, to_timedelta
from services.common.time_zones import time_zone
from services.common.unstorable import TIME_RANGE, refuse_unstorable, unstorable_field


def refused_field(request: object) -> str:
    with pytest.raises(InvalidArgument) as refused:
        refuse_unstorable(request)  # type: ignore[arg-type]
    (violation,) = refused.value.violations
    return violation.field


def test_a_nul_character_is_refused_with_the_path_of_its_field() -> None:
    purchase = points_pb2.RecordPurchaseRequest(purchase_id="p1", member_id="m1")
    purchase.line_items.add(sku="ok")
    purchase.line_items.add(sku="bad\x00sku")
    assert refused_field(purchase) == "line_items[1].sku"
    assert refused_field(points_pb2.RecordPurchaseRequest(member_id="m\x00")) == "member_id"


def test_map_keys_and_values_are_checked() -> None:
    preview = notifications_pb2.PreviewNotificationRequest()
    preview.variables["name"] = "A\x00"
    assert refused_field(preview) == "variables['name']"
    preview = notifications_pb2.PreviewNotificationRequest()
    preview.variables["na\x00me"] = "A"
    assert refused_field(preview) == "variables"


def test_a_partner_record_holding_a_nul_character_is_left_to_the_intake_to_answer() -> None:
    """Its intake answers each record (INVALID, naming the field): one bad record must not refuse the batch."""
    batch = partners_pb2.AccrualBatch()
    batch.records.add(partner_transaction_id="t1", member_last_name="Ob\x00erg")
    refuse_unstorable(batch)
    assert unstorable_field(batch) is None


def test_text_without_nul_passes() -> None:
    purchase = points_pb2.RecordPurchaseRequest(purchase_id="p1", member_id="m1", channel="web")
    purchase.line_items.add(sku="ok", category="shoes")
    refuse_unstorable(purchase)


def test_a_timestamp_out_of_range_at_any_depth_is_refused_with_its_path() -> None:
    purchase = points_pb2.RecordPurchaseRequest(member_id="m1")
    purchase.occurred_at.CopyFrom(Timestamp(seconds=253_402_300_800))
    assert refused_field(purchase) == "occurred_at"
    made = commerce_pb2.PurchaseMade()
    made.occurred_at.CopyFrom(Timestamp(seconds=0, nanos=-1))
    assert str(unstorable_field(made, "payload.")) == "payload.occurred_at: is not a valid timestamp"
    made.occurred_at.CopyFrom(Timestamp(seconds=253_402_300_799))
    assert unstorable_field(made) is None


def test_timestamps_out_of_range_name_their_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        to_datetime(Timestamp(seconds=-62_135_596_801), "rate.effective_from")
    assert refused.value.violations[0].field == "rate.effective_from"
    with pytest.raises(InvalidArgument):
        to_datetime(Timestamp(seconds=0, nanos=-1), "at")
    assert to_datetime(Timestamp(seconds=0), "at") == datetime(1970, 1, 1, tzinfo=UTC)


def test_required_time_collects_an_out_of_range_timestamp_with_the_other_violations() -> None:
    request = points_pb2.RecordPurchaseRequest()
    request.occurred_at.CopyFrom(Timestamp(seconds=0, nanos=-1))
    violations = Violations()
    required_time(violations, "occurred_at", request)
    with pytest.raises(InvalidArgument) as refused:
        violations.raise_if_any()
    assert [(v.field, v.description) for v in refused.value.violations] == [("occurred_at", "is not a valid timestamp")]


def test_durations_out_of_range_name_their_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        to_timedelta(Duration(seconds=10**15), "ttl")
    assert refused.value.violations[0].field == "ttl"


@pytest.mark.parametrize("name", ["x" * 300, "America", "../etc/passwd", "/etc/localtime", "", "Not/AZone", "a\x00"])
def test_names_that_are_no_time_zone_give_none_whatever_zoneinfo_raises(name: str) -> None:
    assert time_zone(name) is None


def test_a_time_zone_is_found_by_its_iana_name() -> None:
    zone = time_zone("Europe/Paris")
    assert zone is not None and zone.key == "Europe/Paris"


@pytest.mark.parametrize("number", [99, -1])
def test_an_enum_number_the_enum_lacks_is_refused_quoted_whether_the_field_is_optional_or_required(
    number: int,
) -> None:
    for read in (optional_enum_value, enum_value):
        violations = Violations()
        assert read(violations, "spec.limit_period", catalog_pb2.LimitPeriod, number) == ""
        with pytest.raises(InvalidArgument) as refused:
            violations.raise_if_any()
        (violation,) = refused.value.violations
        assert (violation.field, violation.value) == ("spec.limit_period", str(number))
        assert violation.description.startswith("must be one of LIMIT_PERIOD_LIFETIME, LIMIT_PERIOD_DAY")


def test_enum_values_read_as_domain_names_and_back() -> None:
    violations = Violations()
    assert optional_enum_value(violations, "f", catalog_pb2.LimitPeriod, 0) == ""
    assert optional_enum_value(violations, "f", catalog_pb2.LimitPeriod, catalog_pb2.LIMIT_PERIOD_MONTH) == "month"
    assert enum_value(violations, "f", catalog_pb2.RewardKind, catalog_pb2.REWARD_KIND_FREE_PRODUCT) == "free_product"
    assert not violations.about("f")
    assert proto_enum(catalog_pb2.LimitPeriod, "month") == "LIMIT_PERIOD_MONTH"
    # "" is how the domain says unspecified (no limit): the message says it as the zero value.
    assert proto_enum(catalog_pb2.LimitPeriod, "") == "LIMIT_PERIOD_UNSPECIFIED"
    with pytest.raises(ValueError):
        proto_enum(catalog_pb2.LimitPeriod, "fortnight")


# Valid Timestamps, but asyncpg writes exactly datetime.min and datetime.max as -infinity and infinity.
FIRST = Timestamp(seconds=-62_135_596_800)
LAST = Timestamp(seconds=253_402_300_799, nanos=999_999_999)


@pytest.mark.parametrize(
    "stamp",
    [FIRST, LAST, Timestamp(seconds=FIRST.seconds, nanos=999)],  # the last, read to the microsecond, is the first
    ids=["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00.000000999Z"],
)
def test_the_ends_of_timestamps_range_are_refused_saying_the_range_taken(stamp: Timestamp) -> None:
    request = points_pb2.RecordPurchaseRequest(member_id="m1", occurred_at=stamp)
    assert str(unstorable_field(request)) == f"occurred_at: {TIME_RANGE}"
    with pytest.raises(InvalidArgument) as refused:
        to_datetime(stamp, "at")
    assert refused.value.violations[0].description == TIME_RANGE
    violations = Violations()
    required_time(violations, "occurred_at", request)
    assert violations.about("occurred_at")


@pytest.mark.parametrize(
    ("stamp", "moment"),
    [
        (Timestamp(seconds=FIRST.seconds, nanos=1000), datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        (Timestamp(seconds=LAST.seconds, nanos=999_998_999), datetime(9999, 12, 31, 23, 59, 59, 999_998, tzinfo=UTC)),
    ],
)
def test_the_times_a_microsecond_inside_are_taken(stamp: Timestamp, moment: datetime) -> None:
    assert unstorable_field(points_pb2.RecordPurchaseRequest(occurred_at=stamp)) is None
    assert to_datetime(stamp, "at") == moment
