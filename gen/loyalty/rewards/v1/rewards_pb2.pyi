import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RedemptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDEMPTION_STATUS_UNSPECIFIED: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_PENDING: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_COMPLETED: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_CANCELLING: _ClassVar[RedemptionStatus]
    REDEMPTION_STATUS_CANCELLED: _ClassVar[RedemptionStatus]

class Occasion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OCCASION_UNSPECIFIED: _ClassVar[Occasion]
    OCCASION_REDEEMED: _ClassVar[Occasion]
    OCCASION_TIER_WELCOME: _ClassVar[Occasion]
    OCCASION_BIRTHDAY: _ClassVar[Occasion]
REDEMPTION_STATUS_UNSPECIFIED: RedemptionStatus
REDEMPTION_STATUS_PENDING: RedemptionStatus
REDEMPTION_STATUS_COMPLETED: RedemptionStatus
REDEMPTION_STATUS_CANCELLING: RedemptionStatus
REDEMPTION_STATUS_CANCELLED: RedemptionStatus
OCCASION_UNSPECIFIED: Occasion
OCCASION_REDEEMED: Occasion
OCCASION_TIER_WELCOME: Occasion
OCCASION_BIRTHDAY: Occasion

class GetMemberTierRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class GetMemberTierResponse(_message.Message):
    __slots__ = ("member_id", "tier")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    tier: str
    def __init__(self, member_id: _Optional[str] = ..., tier: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("redemption_id", "member_id", "reward_id", "points", "status", "code", "code_expires_at", "code_used_at", "code_used_by_order_id", "idempotency_key", "occasion", "created_at", "completed_at", "cancelled_at")
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CODE_USED_AT_FIELD_NUMBER: _ClassVar[int]
    CODE_USED_BY_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OCCASION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    member_id: str
    reward_id: str
    points: int
    status: RedemptionStatus
    code: str
    code_expires_at: _timestamp_pb2.Timestamp
    code_used_at: _timestamp_pb2.Timestamp
    code_used_by_order_id: str
    idempotency_key: str
    occasion: Occasion
    created_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    cancelled_at: _timestamp_pb2.Timestamp
    def __init__(self, redemption_id: _Optional[str] = ..., member_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., points: _Optional[int] = ..., status: _Optional[_Union[RedemptionStatus, str]] = ..., code: _Optional[str] = ..., code_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., code_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., code_used_by_order_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., occasion: _Optional[_Union[Occasion, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RedeemRewardRequest(_message.Message):
    __slots__ = ("member_id", "reward_id", "idempotency_key")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reward_id: str
    idempotency_key: str
    def __init__(self, member_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RedeemRewardResponse(_message.Message):
    __slots__ = ("redemption", "duplicate")
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    redemption: Redemption
    duplicate: bool
    def __init__(self, redemption: _Optional[_Union[Redemption, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class GetRedemptionRequest(_message.Message):
    __slots__ = ("redemption_id",)
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    def __init__(self, redemption_id: _Optional[str] = ...) -> None: ...

class GetRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: Redemption
    def __init__(self, redemption: _Optional[_Union[Redemption, _Mapping]] = ...) -> None: ...

class ListRedemptionsRequest(_message.Message):
    __slots__ = ("member_id", "page_size", "page_token")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    page_size: int
    page_token: str
    def __init__(self, member_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRedemptionsResponse(_message.Message):
    __slots__ = ("redemptions", "next_page_token")
    REDEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    redemptions: _containers.RepeatedCompositeFieldContainer[Redemption]
    next_page_token: str
    def __init__(self, redemptions: _Optional[_Iterable[_Union[Redemption, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRedemptionRequest(_message.Message):
    __slots__ = ("redemption_id", "reason")
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    reason: str
    def __init__(self, redemption_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: Redemption
    def __init__(self, redemption: _Optional[_Union[Redemption, _Mapping]] = ...) -> None: ...
