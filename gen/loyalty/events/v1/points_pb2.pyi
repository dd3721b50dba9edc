import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.common.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemberEnrolled(_message.Message):
    __slots__ = ("member_id", "tier", "enrolled_at", "birth_date", "referrer_member_id", "given_name", "email_on_file")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ON_FILE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    tier: str
    enrolled_at: _timestamp_pb2.Timestamp
    birth_date: str
    referrer_member_id: str
    given_name: str
    email_on_file: bool
    def __init__(self, member_id: _Optional[str] = ..., tier: _Optional[str] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., birth_date: _Optional[str] = ..., referrer_member_id: _Optional[str] = ..., given_name: _Optional[str] = ..., email_on_file: _Optional[bool] = ...) -> None: ...

class PointsEarned(_message.Message):
    __slots__ = ("member_id", "points", "ledger_entry_id", "reason", "source_reference", "balance_after", "purchase_amount", "purchase_occurred_at", "partner_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    ledger_entry_id: str
    reason: str
    source_reference: str
    balance_after: int
    purchase_amount: _common_pb2.Money
    purchase_occurred_at: _timestamp_pb2.Timestamp
    partner_id: str
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., reason: _Optional[str] = ..., source_reference: _Optional[str] = ..., balance_after: _Optional[int] = ..., purchase_amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., purchase_occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., partner_id: _Optional[str] = ...) -> None: ...

class TierReached(_message.Message):
    __slots__ = ("member_id", "tier", "previous_tier", "qualifying_value")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TIER_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_VALUE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    tier: str
    previous_tier: str
    qualifying_value: str
    def __init__(self, member_id: _Optional[str] = ..., tier: _Optional[str] = ..., previous_tier: _Optional[str] = ..., qualifying_value: _Optional[str] = ...) -> None: ...

class TierLost(_message.Message):
    __slots__ = ("member_id", "tier", "previous_tier", "qualifying_value")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TIER_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_VALUE_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    tier: str
    previous_tier: str
    qualifying_value: str
    def __init__(self, member_id: _Optional[str] = ..., tier: _Optional[str] = ..., previous_tier: _Optional[str] = ..., qualifying_value: _Optional[str] = ...) -> None: ...

class TierAtRisk(_message.Message):
    __slots__ = ("member_id", "tier", "projected_tier", "requalify_at", "qualifying_value", "needed_to_keep")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_TIER_FIELD_NUMBER: _ClassVar[int]
    REQUALIFY_AT_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEEDED_TO_KEEP_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    tier: str
    projected_tier: str
    requalify_at: _timestamp_pb2.Timestamp
    qualifying_value: str
    needed_to_keep: str
    def __init__(self, member_id: _Optional[str] = ..., tier: _Optional[str] = ..., projected_tier: _Optional[str] = ..., requalify_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., qualifying_value: _Optional[str] = ..., needed_to_keep: _Optional[str] = ...) -> None: ...

class PointsRedeemed(_message.Message):
    __slots__ = ("member_id", "points", "hold_id", "ledger_entry_id", "balance_after")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    hold_id: str
    ledger_entry_id: str
    balance_after: int
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., hold_id: _Optional[str] = ..., ledger_entry_id: _Optional[str] = ..., balance_after: _Optional[int] = ...) -> None: ...

class PointsAdjusted(_message.Message):
    __slots__ = ("member_id", "points", "reason", "actor", "ledger_entry_id", "balance_after")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    reason: str
    actor: str
    ledger_entry_id: str
    balance_after: int
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., ledger_entry_id: _Optional[str] = ..., balance_after: _Optional[int] = ...) -> None: ...

class MemberClosed(_message.Message):
    __slots__ = ("member_id", "reason", "actor", "points_forfeited", "ledger_entry_id", "closed_at")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_FORFEITED_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reason: str
    actor: str
    points_forfeited: int
    ledger_entry_id: str
    closed_at: _timestamp_pb2.Timestamp
    def __init__(self, member_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., points_forfeited: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PointsReversed(_message.Message):
    __slots__ = ("member_id", "purchase_id", "refund_id", "points_taken", "points_owed", "ledger_entry_id", "points_overdrawn", "points_expired", "partner_id", "partner_transaction_id", "balance_after")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    POINTS_OWED_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_OVERDRAWN_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    purchase_id: str
    refund_id: str
    points_taken: int
    points_owed: int
    ledger_entry_id: str
    points_overdrawn: int
    points_expired: int
    partner_id: str
    partner_transaction_id: str
    balance_after: int
    def __init__(self, member_id: _Optional[str] = ..., purchase_id: _Optional[str] = ..., refund_id: _Optional[str] = ..., points_taken: _Optional[int] = ..., points_owed: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., points_overdrawn: _Optional[int] = ..., points_expired: _Optional[int] = ..., partner_id: _Optional[str] = ..., partner_transaction_id: _Optional[str] = ..., balance_after: _Optional[int] = ...) -> None: ...

class PointsExpired(_message.Message):
    __slots__ = ("member_id", "points", "ledger_entry_id", "balance_after")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    ledger_entry_id: str
    balance_after: int
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., balance_after: _Optional[int] = ...) -> None: ...

class PointsExpiring(_message.Message):
    __slots__ = ("member_id", "points", "expires_at")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
