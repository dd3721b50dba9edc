"""Protobuf <-> domain translation shared by the rewards servicers.

Enum values map to domain names by their suffix (REWARD_KIND_FREE_PRODUCT is
`free_product`, services.common.proto_enums); UNSPECIFIED becomes the empty
name, which validation then reports where the field is required, and a number
the enum lacks is refused here, naming the field.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.rewards.v1 import catalog_pb2, codes_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.errors import Violations
from services.common.events import timestamp
from services.common.proto_enums import optional_enum_value, proto_enum
from services.common.proto_time import optional_time, to_timedelta
from services.rewards.domain import DEFAULT_CODE_VALIDITY, STATUS_OF_STEP, Reward, RewardSpec, Value
from services.rewards.redemption_store import RedemptionRow


def set_time(message: Message, field: str, moment: datetime | None) -> None:
    if moment is not None:
        getattr(message, field).CopyFrom(timestamp(moment))


def value_from(violations: Violations, prefix: str, message: catalog_pb2.RewardSpec | codes_pb2.CodeValue) -> Value:
    """What a reward spec or a promo code value gives; a kind number RewardKind lacks is a violation of
    `prefix`kind (the domain says whether a kind is required)."""
    return Value(
        kind=optional_enum_value(violations, f"{prefix}kind", catalog_pb2.RewardKind, message.kind),
        amount_minor=message.amount.amount_minor,
        currency_code=message.amount.currency_code,
        percent_off=message.percent_off,
        sku=message.sku,
        partner=message.partner,
    )


def amount_of(value: Value) -> Money | None:
    return Money(amount_minor=value.amount_minor, currency_code=value.currency_code) if value.currency_code else None


def spec_from(message: catalog_pb2.RewardSpec) -> RewardSpec:
    """The spec a request gives; InvalidArgument naming each enum field that holds a number its enum lacks.

    Those are refused before the domain's checks, which see names only: a number no name stands for would reach
    them as unspecified, and for limit_period be stored as no limit at all.
    """
    violations = Violations()
    value = value_from(violations, "spec.", message)
    limit_period = optional_enum_value(violations, "spec.limit_period", catalog_pb2.LimitPeriod, message.limit_period)
    code_source = optional_enum_value(violations, "spec.code_source", catalog_pb2.CodeSource, message.code_source)
    trigger = optional_enum_value(violations, "spec.trigger", catalog_pb2.RewardTrigger, message.trigger)
    violations.raise_if_any()
    validity = (
        to_timedelta(message.code_validity, "spec.code_validity")
        if message.HasField("code_validity")
        else DEFAULT_CODE_VALIDITY
    )
    return RewardSpec(
        name=message.name,
        description=message.description,
        value=value,
        cost_points=message.cost_points,
        min_tier=message.min_tier,
        stock_total=message.stock_total if message.HasField("stock_total") else None,
        valid_from=optional_time(message, "valid_from", "spec.valid_from"),
        valid_until=optional_time(message, "valid_until", "spec.valid_until"),
        per_member_limit=message.per_member_limit,
        limit_period=limit_period,
        code_source=code_source,
        code_validity=validity,
        trigger=trigger,
        trigger_tier=message.trigger_tier,
    )


def _spec_message(spec: RewardSpec) -> catalog_pb2.RewardSpec:
    message = catalog_pb2.RewardSpec(
        name=spec.name,
        description=spec.description,
        kind=proto_enum(catalog_pb2.RewardKind, spec.value.kind),
        amount=amount_of(spec.value),
        percent_off=spec.value.percent_off,
        sku=spec.value.sku,
        partner=spec.value.partner,
        cost_points=spec.cost_points,
        min_tier=spec.min_tier,
        stock_total=spec.stock_total,
        per_member_limit=spec.per_member_limit,
        limit_period=proto_enum(catalog_pb2.LimitPeriod, spec.limit_period),
        code_source=proto_enum(catalog_pb2.CodeSource, spec.code_source),
        trigger=proto_enum(catalog_pb2.RewardTrigger, spec.trigger),
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
        status=proto_enum(catalog_pb2.RewardStatus, reward.status),
        partner_codes_available=reward.partner_codes_available,
    )
    set_time(message, "created_at", reward.created_at)
    set_time(message, "updated_at", reward.updated_at)
    return message


def code_value_message(value: Value, name: str) -> codes_pb2.CodeValue:
    return codes_pb2.CodeValue(
        kind=proto_enum(catalog_pb2.RewardKind, value.kind),
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
        status=proto_enum(pb.RedemptionStatus, status),
        code=row.code if status != "pending" and row.code else "",
        code_used_by_order_id=row.code_used_by_order_id or "",
        idempotency_key=row.idempotency_key or "",
        occasion=proto_enum(pb.Occasion, row.occasion),
    )
    if status != "pending":
        set_time(message, "code_expires_at", row.code_expires_at)
    for field in ("code_used_at", "created_at", "completed_at", "cancelled_at"):
        set_time(message, field, getattr(row, field))
    return message
