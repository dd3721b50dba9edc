import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.common.v1 import common_pb2 as _common_pb2
from loyalty.rewards.v1 import catalog_pb2 as _catalog_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CodeValue(_message.Message):
    __slots__ = ("kind", "amount", "percent_off", "sku", "partner", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OFF_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: _catalog_pb2.RewardKind
    amount: _common_pb2.Money
    percent_off: int
    sku: str
    partner: str
    name: str
    def __init__(self, kind: _Optional[_Union[_catalog_pb2.RewardKind, str]] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., percent_off: _Optional[int] = ..., sku: _Optional[str] = ..., partner: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ValidateCodeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ValidateCodeResponse(_message.Message):
    __slots__ = ("code", "usable", "reason", "value", "member_id", "redemption_id", "campaign_id", "valid_from", "expires_at", "uses_left")
    CODE_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    USES_LEFT_FIELD_NUMBER: _ClassVar[int]
    code: str
    usable: bool
    reason: str
    value: CodeValue
    member_id: str
    redemption_id: str
    campaign_id: str
    valid_from: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    uses_left: int
    def __init__(self, code: _Optional[str] = ..., usable: _Optional[bool] = ..., reason: _Optional[str] = ..., value: _Optional[_Union[CodeValue, _Mapping]] = ..., member_id: _Optional[str] = ..., redemption_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uses_left: _Optional[int] = ...) -> None: ...

class RedeemCodeRequest(_message.Message):
    __slots__ = ("code", "order_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    order_id: str
    def __init__(self, code: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...

class RedeemCodeResponse(_message.Message):
    __slots__ = ("code", "value", "member_id", "uses_left", "duplicate", "used_at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    USES_LEFT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    USED_AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    value: CodeValue
    member_id: str
    uses_left: int
    duplicate: bool
    used_at: _timestamp_pb2.Timestamp
    def __init__(self, code: _Optional[str] = ..., value: _Optional[_Union[CodeValue, _Mapping]] = ..., member_id: _Optional[str] = ..., uses_left: _Optional[int] = ..., duplicate: _Optional[bool] = ..., used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePromoCampaignRequest(_message.Message):
    __slots__ = ("name", "value", "code_count", "uses_per_code", "valid_from", "valid_until", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USES_PER_CODE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: CodeValue
    code_count: int
    uses_per_code: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[CodeValue, _Mapping]] = ..., code_count: _Optional[int] = ..., uses_per_code: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PromoCampaign(_message.Message):
    __slots__ = ("campaign_id", "name", "value", "code_count", "uses_per_code", "valid_from", "valid_until", "created_at")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USES_PER_CODE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    name: str
    value: CodeValue
    code_count: int
    uses_per_code: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., value: _Optional[_Union[CodeValue, _Mapping]] = ..., code_count: _Optional[int] = ..., uses_per_code: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePromoCampaignResponse(_message.Message):
    __slots__ = ("campaign", "duplicate")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    campaign: PromoCampaign
    duplicate: bool
    def __init__(self, campaign: _Optional[_Union[PromoCampaign, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListPromoCodesRequest(_message.Message):
    __slots__ = ("campaign_id", "page_size", "page_token")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    page_size: int
    page_token: str
    def __init__(self, campaign_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPromoCodesResponse(_message.Message):
    __slots__ = ("codes", "next_page_token")
    CODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, codes: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
