import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RewardKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REWARD_KIND_UNSPECIFIED: _ClassVar[RewardKind]
    REWARD_KIND_DISCOUNT_FIXED: _ClassVar[RewardKind]
    REWARD_KIND_DISCOUNT_PERCENT: _ClassVar[RewardKind]
    REWARD_KIND_FREE_PRODUCT: _ClassVar[RewardKind]
    REWARD_KIND_UPGRADE: _ClassVar[RewardKind]
    REWARD_KIND_CASHBACK: _ClassVar[RewardKind]
    REWARD_KIND_PARTNER: _ClassVar[RewardKind]

class RewardTrigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REWARD_TRIGGER_UNSPECIFIED: _ClassVar[RewardTrigger]
    REWARD_TRIGGER_REDEEM: _ClassVar[RewardTrigger]
    REWARD_TRIGGER_TIER_WELCOME: _ClassVar[RewardTrigger]
    REWARD_TRIGGER_BIRTHDAY: _ClassVar[RewardTrigger]

class CodeSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODE_SOURCE_UNSPECIFIED: _ClassVar[CodeSource]
    CODE_SOURCE_GENERATED: _ClassVar[CodeSource]
    CODE_SOURCE_PARTNER_POOL: _ClassVar[CodeSource]

class LimitPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIMIT_PERIOD_UNSPECIFIED: _ClassVar[LimitPeriod]
    LIMIT_PERIOD_LIFETIME: _ClassVar[LimitPeriod]
    LIMIT_PERIOD_DAY: _ClassVar[LimitPeriod]
    LIMIT_PERIOD_MONTH: _ClassVar[LimitPeriod]
    LIMIT_PERIOD_YEAR: _ClassVar[LimitPeriod]

class RewardStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REWARD_STATUS_UNSPECIFIED: _ClassVar[RewardStatus]
    REWARD_STATUS_ACTIVE: _ClassVar[RewardStatus]
    REWARD_STATUS_ARCHIVED: _ClassVar[RewardStatus]
REWARD_KIND_UNSPECIFIED: RewardKind
REWARD_KIND_DISCOUNT_FIXED: RewardKind
REWARD_KIND_DISCOUNT_PERCENT: RewardKind
REWARD_KIND_FREE_PRODUCT: RewardKind
REWARD_KIND_UPGRADE: RewardKind
REWARD_KIND_CASHBACK: RewardKind
REWARD_KIND_PARTNER: RewardKind
REWARD_TRIGGER_UNSPECIFIED: RewardTrigger
REWARD_TRIGGER_REDEEM: RewardTrigger
REWARD_TRIGGER_TIER_WELCOME: RewardTrigger
REWARD_TRIGGER_BIRTHDAY: RewardTrigger
CODE_SOURCE_UNSPECIFIED: CodeSource
CODE_SOURCE_GENERATED: CodeSource
CODE_SOURCE_PARTNER_POOL: CodeSource
LIMIT_PERIOD_UNSPECIFIED: LimitPeriod
LIMIT_PERIOD_LIFETIME: LimitPeriod
LIMIT_PERIOD_DAY: LimitPeriod
LIMIT_PERIOD_MONTH: LimitPeriod
LIMIT_PERIOD_YEAR: LimitPeriod
REWARD_STATUS_UNSPECIFIED: RewardStatus
REWARD_STATUS_ACTIVE: RewardStatus
REWARD_STATUS_ARCHIVED: RewardStatus

class RewardSpec(_message.Message):
    __slots__ = ("name", "description", "kind", "amount", "percent_off", "sku", "partner", "cost_points", "min_tier", "stock_total", "valid_from", "valid_until", "per_member_limit", "limit_period", "code_source", "code_validity", "trigger", "trigger_tier")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OFF_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    COST_POINTS_FIELD_NUMBER: _ClassVar[int]
    MIN_TIER_FIELD_NUMBER: _ClassVar[int]
    STOCK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PER_MEMBER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CODE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CODE_VALIDITY_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_TIER_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    kind: RewardKind
    amount: _common_pb2.Money
    percent_off: int
    sku: str
    partner: str
    cost_points: int
    min_tier: str
    stock_total: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    per_member_limit: int
    limit_period: LimitPeriod
    code_source: CodeSource
    code_validity: _duration_pb2.Duration
    trigger: RewardTrigger
    trigger_tier: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., kind: _Optional[_Union[RewardKind, str]] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., percent_off: _Optional[int] = ..., sku: _Optional[str] = ..., partner: _Optional[str] = ..., cost_points: _Optional[int] = ..., min_tier: _Optional[str] = ..., stock_total: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., per_member_limit: _Optional[int] = ..., limit_period: _Optional[_Union[LimitPeriod, str]] = ..., code_source: _Optional[_Union[CodeSource, str]] = ..., code_validity: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., trigger: _Optional[_Union[RewardTrigger, str]] = ..., trigger_tier: _Optional[str] = ...) -> None: ...

class Reward(_message.Message):
    __slots__ = ("reward_id", "spec", "stock_available", "status", "created_at", "updated_at", "partner_codes_available")
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STOCK_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_CODES_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    reward_id: str
    spec: RewardSpec
    stock_available: int
    status: RewardStatus
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    partner_codes_available: int
    def __init__(self, reward_id: _Optional[str] = ..., spec: _Optional[_Union[RewardSpec, _Mapping]] = ..., stock_available: _Optional[int] = ..., status: _Optional[_Union[RewardStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., partner_codes_available: _Optional[int] = ...) -> None: ...

class CreateRewardRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: RewardSpec
    def __init__(self, spec: _Optional[_Union[RewardSpec, _Mapping]] = ...) -> None: ...

class CreateRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: Reward
    def __init__(self, reward: _Optional[_Union[Reward, _Mapping]] = ...) -> None: ...

class UpdateRewardRequest(_message.Message):
    __slots__ = ("reward_id", "spec")
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    reward_id: str
    spec: RewardSpec
    def __init__(self, reward_id: _Optional[str] = ..., spec: _Optional[_Union[RewardSpec, _Mapping]] = ...) -> None: ...

class UpdateRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: Reward
    def __init__(self, reward: _Optional[_Union[Reward, _Mapping]] = ...) -> None: ...

class ArchiveRewardRequest(_message.Message):
    __slots__ = ("reward_id",)
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    reward_id: str
    def __init__(self, reward_id: _Optional[str] = ...) -> None: ...

class ArchiveRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: Reward
    def __init__(self, reward: _Optional[_Union[Reward, _Mapping]] = ...) -> None: ...

class GetRewardRequest(_message.Message):
    __slots__ = ("reward_id",)
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    reward_id: str
    def __init__(self, reward_id: _Optional[str] = ...) -> None: ...

class GetRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: Reward
    def __init__(self, reward: _Optional[_Union[Reward, _Mapping]] = ...) -> None: ...

class ListRewardsRequest(_message.Message):
    __slots__ = ("member_id", "include_archived", "page_size", "page_token")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    include_archived: bool
    page_size: int
    page_token: str
    def __init__(self, member_id: _Optional[str] = ..., include_archived: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRewardsResponse(_message.Message):
    __slots__ = ("rewards", "next_page_token")
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rewards: _containers.RepeatedCompositeFieldContainer[Reward]
    next_page_token: str
    def __init__(self, rewards: _Optional[_Iterable[_Union[Reward, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddPartnerCodesRequest(_message.Message):
    __slots__ = ("reward_id", "codes")
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    reward_id: str
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, reward_id: _Optional[str] = ..., codes: _Optional[_Iterable[str]] = ...) -> None: ...

class AddPartnerCodesResponse(_message.Message):
    __slots__ = ("added", "duplicates")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    added: int
    duplicates: int
    def __init__(self, added: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class SetTierLadderRequest(_message.Message):
    __slots__ = ("tiers",)
    TIERS_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tiers: _Optional[_Iterable[str]] = ...) -> None: ...

class SetTierLadderResponse(_message.Message):
    __slots__ = ("tiers",)
    TIERS_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tiers: _Optional[_Iterable[str]] = ...) -> None: ...
