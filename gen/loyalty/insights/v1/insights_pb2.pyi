import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Grouping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUPING_UNSPECIFIED: _ClassVar[Grouping]
    GROUPING_TIER: _ClassVar[Grouping]
    GROUPING_PARTNER: _ClassVar[Grouping]
GROUPING_UNSPECIFIED: Grouping
GROUPING_TIER: Grouping
GROUPING_PARTNER: Grouping

class GetKpisRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "group_by")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    group_by: Grouping
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_by: _Optional[_Union[Grouping, str]] = ...) -> None: ...

class GetKpisResponse(_message.Message):
    __slots__ = ("from_time", "to_time", "currency_code", "cost_per_point", "total", "segments")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    COST_PER_POINT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    currency_code: str
    cost_per_point: str
    total: Kpis
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ..., cost_per_point: _Optional[str] = ..., total: _Optional[_Union[Kpis, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("tier", "partner_id", "kpis")
    TIER_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    KPIS_FIELD_NUMBER: _ClassVar[int]
    tier: str
    partner_id: str
    kpis: Kpis
    def __init__(self, tier: _Optional[str] = ..., partner_id: _Optional[str] = ..., kpis: _Optional[_Union[Kpis, _Mapping]] = ...) -> None: ...

class Kpis(_message.Message):
    __slots__ = ("members_enrolled", "members_total", "members_active", "purchasing_members", "repeat_purchasers", "repeat_purchase_rate", "members_at_start", "members_at_end", "new_members", "customer_retention_rate", "revenue", "existing_member_revenue", "existing_member_previous_revenue", "net_revenue_retention", "points_earned", "points_redeemed", "points_expired", "redemption_rate", "breakage_rate", "points_outstanding", "liability", "tier_distribution", "tier_movements", "service", "partner_accruals", "rewards_redeemed")
    MEMBERS_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PURCHASING_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_PURCHASERS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_PURCHASE_RATE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_AT_START_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_AT_END_FIELD_NUMBER: _ClassVar[int]
    NEW_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_RETENTION_RATE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    EXISTING_MEMBER_REVENUE_FIELD_NUMBER: _ClassVar[int]
    EXISTING_MEMBER_PREVIOUS_REVENUE_FIELD_NUMBER: _ClassVar[int]
    NET_REVENUE_RETENTION_FIELD_NUMBER: _ClassVar[int]
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    POINTS_REDEEMED_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_RATE_FIELD_NUMBER: _ClassVar[int]
    BREAKAGE_RATE_FIELD_NUMBER: _ClassVar[int]
    POINTS_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    LIABILITY_FIELD_NUMBER: _ClassVar[int]
    TIER_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    TIER_MOVEMENTS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ACCRUALS_FIELD_NUMBER: _ClassVar[int]
    REWARDS_REDEEMED_FIELD_NUMBER: _ClassVar[int]
    members_enrolled: int
    members_total: int
    members_active: int
    purchasing_members: int
    repeat_purchasers: int
    repeat_purchase_rate: float
    members_at_start: int
    members_at_end: int
    new_members: int
    customer_retention_rate: float
    revenue: _common_pb2.Money
    existing_member_revenue: _common_pb2.Money
    existing_member_previous_revenue: _common_pb2.Money
    net_revenue_retention: float
    points_earned: int
    points_redeemed: int
    points_expired: int
    redemption_rate: float
    breakage_rate: float
    points_outstanding: int
    liability: _common_pb2.Money
    tier_distribution: _containers.RepeatedCompositeFieldContainer[TierCount]
    tier_movements: _containers.RepeatedCompositeFieldContainer[TierMovement]
    service: ServiceScores
    partner_accruals: _containers.RepeatedCompositeFieldContainer[PartnerVolume]
    rewards_redeemed: int
    def __init__(self, members_enrolled: _Optional[int] = ..., members_total: _Optional[int] = ..., members_active: _Optional[int] = ..., purchasing_members: _Optional[int] = ..., repeat_purchasers: _Optional[int] = ..., repeat_purchase_rate: _Optional[float] = ..., members_at_start: _Optional[int] = ..., members_at_end: _Optional[int] = ..., new_members: _Optional[int] = ..., customer_retention_rate: _Optional[float] = ..., revenue: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., existing_member_revenue: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., existing_member_previous_revenue: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., net_revenue_retention: _Optional[float] = ..., points_earned: _Optional[int] = ..., points_redeemed: _Optional[int] = ..., points_expired: _Optional[int] = ..., redemption_rate: _Optional[float] = ..., breakage_rate: _Optional[float] = ..., points_outstanding: _Optional[int] = ..., liability: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., tier_distribution: _Optional[_Iterable[_Union[TierCount, _Mapping]]] = ..., tier_movements: _Optional[_Iterable[_Union[TierMovement, _Mapping]]] = ..., service: _Optional[_Union[ServiceScores, _Mapping]] = ..., partner_accruals: _Optional[_Iterable[_Union[PartnerVolume, _Mapping]]] = ..., rewards_redeemed: _Optional[int] = ...) -> None: ...

class TierCount(_message.Message):
    __slots__ = ("tier", "members")
    TIER_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    tier: str
    members: int
    def __init__(self, tier: _Optional[str] = ..., members: _Optional[int] = ...) -> None: ...

class TierMovement(_message.Message):
    __slots__ = ("from_tier", "to_tier", "upgrade", "members")
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    from_tier: str
    to_tier: str
    upgrade: bool
    members: int
    def __init__(self, from_tier: _Optional[str] = ..., to_tier: _Optional[str] = ..., upgrade: _Optional[bool] = ..., members: _Optional[int] = ...) -> None: ...

class ServiceScores(_message.Message):
    __slots__ = ("surveys", "nps", "ces", "csat")
    SURVEYS_FIELD_NUMBER: _ClassVar[int]
    NPS_FIELD_NUMBER: _ClassVar[int]
    CES_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    surveys: int
    nps: float
    ces: float
    csat: float
    def __init__(self, surveys: _Optional[int] = ..., nps: _Optional[float] = ..., ces: _Optional[float] = ..., csat: _Optional[float] = ...) -> None: ...

class PartnerVolume(_message.Message):
    __slots__ = ("partner_id", "accruals", "points", "members")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCRUALS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    accruals: int
    points: int
    members: int
    def __init__(self, partner_id: _Optional[str] = ..., accruals: _Optional[int] = ..., points: _Optional[int] = ..., members: _Optional[int] = ...) -> None: ...
