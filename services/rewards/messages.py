"""Protobuf <-> domain translation shared by the rewards servicers.

Enum values map to domain names by their suffix (REWARD_KIND_FREE_PRODUCT is
`free_product`); UNSPECIFIED and unknown numbers become the empty name, which
validation then reports as a required field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.rewards.v1 import catalog_pb2, codes_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.events import timestamp
from services.common.proto_time import optional_time, to_timedelta
from services.rewards.domain import DEFAULT_CODE_VALIDITY, STATUS_OF_STEP, Reward, RewardSpec, Value
from services.rewards.redemption_store import RedemptionRow


def name_of(enum_type: Any, prefix: str, number: int) -> str:
    if number == 0:
        return ""
    try:
        return str(enum_type.Name(number)).removeprefix(prefix).lower()
    except ValueError:
        return ""


def label_of(prefix: str, name: str) -> str:
    """The enum value's name, which protobuf constructors accept in place of its number."""
    return prefix + (name.upper() or "UNSPECIFIED")


def set_time(message: Message, field: str, moment: datetime | None) -> None:
    if moment is not None:
        getattr(message, field).CopyFrom(timestamp(moment))


def value_from(kind: int, amount: Money, percent_off: int, sku: str, partner: str) -> Value:
    return Value(
        kind=name_of(catalog_pb2.RewardKind, "REWARD_KIND_", kind),
        amount_minor=amount.amount_minor,
        currency_code=amount.currency_code,
        percent_off=percent_off,
        sku=sku,
        partner=partner,
    )


def amount_of(value: Value) -> Money | None:
    return Money(amount_minor=value.amount_minor, currency_code=value.currency_code) if value.currency_code else None


def spec_from(message: catalog_pb2.RewardSpec) -> RewardSpec:
    validity = (
        to_timedelta(message.code_validity, "spec.code_validity")
        if message.HasField("code_validity")
        else DEFAULT_CODE_VALIDITY
    )
    return RewardSpec(
        name=message.name,
        description=message.description,
        value=value_from(message.kind, message.amount, message.percent_off, message.sku, message.partner),
        cost_points=message.cost_points,
        min_tier=message.min_tier,
        stock_total=message.stock_total if message.HasField("stock_total") else None,
        valid_from=optional_time(message, "valid_from", "spec.valid_from"),
        valid_until=optional_time(message, "valid_until", "spec.valid_until"),
        per_member_limit=message.per_member_limit,
        limit_period=name_of(catalog_pb2.LimitPeriod, "LIMIT_PERIOD_", message.limit_period),
        code_source=name_of(catalog_pb2.CodeSource, "CODE_SOURCE_", message.code_source),
        code_validity=validity,
        trigger=name_of(catalog_pb2.RewardTrigger, "REWARD_TRIGGER_", message.trigger),
        trigger_tier=message.trigger_tier,
    )


def _spec_message(spec: RewardSpec) -> catalog_pb2.RewardSpec:
    message = catalog_pb2.RewardSpec(
        name=spec.name,
        description=spec.description,
        kind=label_of("REWARD_KIND_", spec.value.kind),
        amount=amount_of(spec.value),
        percent_off=spec.value.percent_off,
        sku=spec.value.sku,
        partner=spec.value.partner,
        cost_points=spec.cost_points,
        min_tier=spec.min_tier,
        stock_total=spec.stock_total,
        per_member_limit=spec.per_member_limit,
        limit_period=label_of("LIMIT_PERIOD_", spec.limit_period),
        code_source=label_of("CODE_SOURCE_", spec.code_source),
        trigger=label_of("REWARD_TRIGGER_", spec.trigger),
        trigger_tier=spec.trigger_tier,
    )
    message.code_validity.FromTimedelta(spec.code_validity)
    set_time(message, "valid_from", spec.valid_from)
    set_time(message, "valid_until", spec.valid_until)
    return message


def reward_message(reward: Reward) -> catalog_pb2.Reward:
    message = catalog_pb2.Reward(
        reward_id=reward.reward_id,
        spec=_spec_message(reward.spec),
        stock_available=reward.stock_available,
        status=label_of("REWARD_STATUS_", reward.status),
        partner_codes_available=reward.partner_codes_available,
    )
    set_time(message, "created_at", reward.created_at)
    set_time(message, "updated_at", reward.updated_at)
    return message


def code_value_message(value: Value, name: str) -> codes_pb2.CodeValue:
    return codes_pb2.CodeValue(
        kind=label_of("REWARD_KIND_", value.kind),
        amount=amount_of(value),
        percent_off=value.percent_off,
        sku=value.sku,
        partner=value.partner,
        name=name,
    )


def redemption_message(row: RedemptionRow) -> pb.Redemption:
    status = STATUS_OF_STEP[row.step]
    message = pb.Redemption(
        redemption_id=row.redemption_id,
        member_id=row.member_id,
        reward_id=row.reward_id,
        points=row.points,
        status=label_of("REDEMPTION_STATUS_", status),
        code=row.code if status != "pending" and row.code else "",
        code_used_by_order_id=row.code_used_by_order_id or "",
        idempotency_key=row.idempotency_key or "",
        occasion=label_of("OCCASION_", row.occasion),
    )
    if status != "pending":
        set_time(message, "code_expires_at", row.code_expires_at)
    for field in ("code_used_at", "created_at", "completed_at", "cancelled_at"):
        set_time(message, field, getattr(row, field))
    return message
