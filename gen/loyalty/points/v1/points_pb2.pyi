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

class MemberStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATUS_UNSPECIFIED: _ClassVar[MemberStatus]
    MEMBER_STATUS_ACTIVE: _ClassVar[MemberStatus]
    MEMBER_STATUS_CLOSED: _ClassVar[MemberStatus]

class EntryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_KIND_UNSPECIFIED: _ClassVar[EntryKind]
    ENTRY_KIND_PURCHASE_EARN: _ClassVar[EntryKind]
    ENTRY_KIND_ADJUSTMENT: _ClassVar[EntryKind]
    ENTRY_KIND_REDEMPTION: _ClassVar[EntryKind]
    ENTRY_KIND_REFUND: _ClassVar[EntryKind]
    ENTRY_KIND_DEBT_REPAYMENT: _ClassVar[EntryKind]
    ENTRY_KIND_BONUS: _ClassVar[EntryKind]
    ENTRY_KIND_EXPIRY: _ClassVar[EntryKind]
    ENTRY_KIND_PARTNER_EARN: _ClassVar[EntryKind]
    ENTRY_KIND_PARTNER_CANCEL: _ClassVar[EntryKind]
    ENTRY_KIND_REDEMPTION_RETURN: _ClassVar[EntryKind]

class HoldStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLD_STATUS_UNSPECIFIED: _ClassVar[HoldStatus]
    HOLD_STATUS_HELD: _ClassVar[HoldStatus]
    HOLD_STATUS_CAPTURED: _ClassVar[HoldStatus]
    HOLD_STATUS_RELEASED: _ClassVar[HoldStatus]
    HOLD_STATUS_EXPIRED: _ClassVar[HoldStatus]
MEMBER_STATUS_UNSPECIFIED: MemberStatus
MEMBER_STATUS_ACTIVE: MemberStatus
MEMBER_STATUS_CLOSED: MemberStatus
ENTRY_KIND_UNSPECIFIED: EntryKind
ENTRY_KIND_PURCHASE_EARN: EntryKind
ENTRY_KIND_ADJUSTMENT: EntryKind
ENTRY_KIND_REDEMPTION: EntryKind
ENTRY_KIND_REFUND: EntryKind
ENTRY_KIND_DEBT_REPAYMENT: EntryKind
ENTRY_KIND_BONUS: EntryKind
ENTRY_KIND_EXPIRY: EntryKind
ENTRY_KIND_PARTNER_EARN: EntryKind
ENTRY_KIND_PARTNER_CANCEL: EntryKind
ENTRY_KIND_REDEMPTION_RETURN: EntryKind
HOLD_STATUS_UNSPECIFIED: HoldStatus
HOLD_STATUS_HELD: HoldStatus
HOLD_STATUS_CAPTURED: HoldStatus
HOLD_STATUS_RELEASED: HoldStatus
HOLD_STATUS_EXPIRED: HoldStatus

class Member(_message.Message):
    __slots__ = ("member_id", "email", "given_name", "family_name", "tier", "status", "enrolled_at", "tier_progress", "birth_date", "referrer_member_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    TIER_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    email: str
    given_name: str
    family_name: str
    tier: str
    status: MemberStatus
    enrolled_at: _timestamp_pb2.Timestamp
    tier_progress: TierProgress
    birth_date: str
    referrer_member_id: str
    def __init__(self, member_id: _Optional[str] = ..., email: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., tier: _Optional[str] = ..., status: _Optional[_Union[MemberStatus, str]] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier_progress: _Optional[_Union[TierProgress, _Mapping]] = ..., birth_date: _Optional[str] = ..., referrer_member_id: _Optional[str] = ...) -> None: ...

class TierProgress(_message.Message):
    __slots__ = ("qualifying_value", "next_tier", "needed_for_next", "requalify_at", "requalification_value", "needed_to_keep")
    QUALIFYING_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TIER_FIELD_NUMBER: _ClassVar[int]
    NEEDED_FOR_NEXT_FIELD_NUMBER: _ClassVar[int]
    REQUALIFY_AT_FIELD_NUMBER: _ClassVar[int]
    REQUALIFICATION_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEEDED_TO_KEEP_FIELD_NUMBER: _ClassVar[int]
    qualifying_value: str
    next_tier: str
    needed_for_next: str
    requalify_at: _timestamp_pb2.Timestamp
    requalification_value: str
    needed_to_keep: str
    def __init__(self, qualifying_value: _Optional[str] = ..., next_tier: _Optional[str] = ..., needed_for_next: _Optional[str] = ..., requalify_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requalification_value: _Optional[str] = ..., needed_to_keep: _Optional[str] = ...) -> None: ...

class EnrollMemberRequest(_message.Message):
    __slots__ = ("member_id", "email", "given_name", "family_name", "birth_date", "referrer_member_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    email: str
    given_name: str
    family_name: str
    birth_date: str
    referrer_member_id: str
    def __init__(self, member_id: _Optional[str] = ..., email: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., referrer_member_id: _Optional[str] = ...) -> None: ...

class EnrollMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class GetMemberRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class GetMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("member_id", "balance", "lifetime_earned", "available", "pending", "held", "points_owed")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_EARNED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    POINTS_OWED_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    balance: int
    lifetime_earned: int
    available: int
    pending: int
    held: int
    points_owed: int
    def __init__(self, member_id: _Optional[str] = ..., balance: _Optional[int] = ..., lifetime_earned: _Optional[int] = ..., available: _Optional[int] = ..., pending: _Optional[int] = ..., held: _Optional[int] = ..., points_owed: _Optional[int] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("entry_id", "member_id", "kind", "points", "idempotency_key", "description", "created_at", "breakdown")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    member_id: str
    kind: EntryKind
    points: int
    idempotency_key: str
    description: str
    created_at: _timestamp_pb2.Timestamp
    breakdown: _containers.RepeatedCompositeFieldContainer[EarnComponent]
    def __init__(self, entry_id: _Optional[str] = ..., member_id: _Optional[str] = ..., kind: _Optional[_Union[EntryKind, str]] = ..., points: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., breakdown: _Optional[_Iterable[_Union[EarnComponent, _Mapping]]] = ...) -> None: ...

class EarnComponent(_message.Message):
    __slots__ = ("source", "points", "description")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    source: str
    points: int
    description: str
    def __init__(self, source: _Optional[str] = ..., points: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class ListLedgerEntriesRequest(_message.Message):
    __slots__ = ("member_id", "page_size", "page_token")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    page_size: int
    page_token: str
    def __init__(self, member_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLedgerEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordPurchaseRequest(_message.Message):
    __slots__ = ("purchase_id", "member_id", "amount", "line_items", "occurred_at", "channel")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LINE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    member_id: str
    amount: _common_pb2.Money
    line_items: _containers.RepeatedCompositeFieldContainer[_common_pb2.LineItem]
    occurred_at: _timestamp_pb2.Timestamp
    channel: str
    def __init__(self, purchase_id: _Optional[str] = ..., member_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., line_items: _Optional[_Iterable[_Union[_common_pb2.LineItem, _Mapping]]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ...) -> None: ...

class RecordPurchaseResponse(_message.Message):
    __slots__ = ("points_earned", "entry", "duplicate", "balance", "breakdown", "program_id", "available_at", "expires_at")
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    points_earned: int
    entry: LedgerEntry
    duplicate: bool
    balance: int
    breakdown: _containers.RepeatedCompositeFieldContainer[EarnComponent]
    program_id: str
    available_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, points_earned: _Optional[int] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., duplicate: _Optional[bool] = ..., balance: _Optional[int] = ..., breakdown: _Optional[_Iterable[_Union[EarnComponent, _Mapping]]] = ..., program_id: _Optional[str] = ..., available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Hold(_message.Message):
    __slots__ = ("hold_id", "member_id", "points", "idempotency_key", "status", "created_at", "expires_at", "capture_entry_id", "description")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    member_id: str
    points: int
    idempotency_key: str
    status: HoldStatus
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    capture_entry_id: str
    description: str
    def __init__(self, hold_id: _Optional[str] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., status: _Optional[_Union[HoldStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capture_entry_id: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class HoldPointsRequest(_message.Message):
    __slots__ = ("member_id", "points", "idempotency_key", "ttl", "description")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    idempotency_key: str
    ttl: _duration_pb2.Duration
    description: str
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class HoldPointsResponse(_message.Message):
    __slots__ = ("hold", "duplicate")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    duplicate: bool
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class CaptureHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class CaptureHoldResponse(_message.Message):
    __slots__ = ("hold", "entry")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    entry: LedgerEntry
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class ReleaseHoldResponse(_message.Message):
    __slots__ = ("hold",)
    HOLD_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ...) -> None: ...

class ReturnCapturedHoldRequest(_message.Message):
    __slots__ = ("hold_id", "idempotency_key", "reason", "actor")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    idempotency_key: str
    reason: str
    actor: str
    def __init__(self, hold_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class ReturnCapturedHoldResponse(_message.Message):
    __slots__ = ("hold", "entry", "points_expired", "duplicate")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    entry: LedgerEntry
    points_expired: int
    duplicate: bool
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., points_expired: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class AdjustPointsRequest(_message.Message):
    __slots__ = ("member_id", "points", "reason", "actor", "idempotency_key")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    points: int
    reason: str
    actor: str
    idempotency_key: str
    def __init__(self, member_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AdjustPointsResponse(_message.Message):
    __slots__ = ("entry", "duplicate")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    entry: LedgerEntry
    duplicate: bool
    def __init__(self, entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class RefundPurchaseRequest(_message.Message):
    __slots__ = ("refund_id", "purchase_id", "amount", "occurred_at")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    purchase_id: str
    amount: _common_pb2.Money
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, refund_id: _Optional[str] = ..., purchase_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RefundPurchaseResponse(_message.Message):
    __slots__ = ("points_reversed", "points_owed", "entry", "duplicate", "points_overdrawn", "points_expired")
    POINTS_REVERSED_FIELD_NUMBER: _ClassVar[int]
    POINTS_OWED_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    POINTS_OVERDRAWN_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    points_reversed: int
    points_owed: int
    entry: LedgerEntry
    duplicate: bool
    points_overdrawn: int
    points_expired: int
    def __init__(self, points_reversed: _Optional[int] = ..., points_owed: _Optional[int] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., duplicate: _Optional[bool] = ..., points_overdrawn: _Optional[int] = ..., points_expired: _Optional[int] = ...) -> None: ...

class RecordActivityRequest(_message.Message):
    __slots__ = ("member_id", "activity_id", "idempotency_key", "occurred_at")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    activity_id: str
    idempotency_key: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, member_id: _Optional[str] = ..., activity_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordActivityResponse(_message.Message):
    __slots__ = ("points_earned", "entry", "duplicate", "balance")
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    points_earned: int
    entry: LedgerEntry
    duplicate: bool
    balance: int
    def __init__(self, points_earned: _Optional[int] = ..., entry: _Optional[_Union[LedgerEntry, _Mapping]] = ..., duplicate: _Optional[bool] = ..., balance: _Optional[int] = ...) -> None: ...

class GetPointsScheduleRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class ExpiringPoints(_message.Message):
    __slots__ = ("expires_at", "points")
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    points: int
    def __init__(self, expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class PendingPoints(_message.Message):
    __slots__ = ("available_at", "points")
    AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    available_at: _timestamp_pb2.Timestamp
    points: int
    def __init__(self, available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class GetPointsScheduleResponse(_message.Message):
    __slots__ = ("member_id", "expiring", "expiring_truncated", "pending", "pending_truncated", "inactivity_expires_at", "inactivity_points")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    PENDING_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    INACTIVITY_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    INACTIVITY_POINTS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    expiring: _containers.RepeatedCompositeFieldContainer[ExpiringPoints]
    expiring_truncated: bool
    pending: _containers.RepeatedCompositeFieldContainer[PendingPoints]
    pending_truncated: bool
    inactivity_expires_at: _timestamp_pb2.Timestamp
    inactivity_points: int
    def __init__(self, member_id: _Optional[str] = ..., expiring: _Optional[_Iterable[_Union[ExpiringPoints, _Mapping]]] = ..., expiring_truncated: _Optional[bool] = ..., pending: _Optional[_Iterable[_Union[PendingPoints, _Mapping]]] = ..., pending_truncated: _Optional[bool] = ..., inactivity_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., inactivity_points: _Optional[int] = ...) -> None: ...

class CloseMemberRequest(_message.Message):
    __slots__ = ("member_id", "reason", "actor")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reason: str
    actor: str
    def __init__(self, member_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class CloseMemberResponse(_message.Message):
    __slots__ = ("member", "points_forfeited", "ledger_entry_id", "closed_at", "duplicate")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FORFEITED_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    member: Member
    points_forfeited: int
    ledger_entry_id: str
    closed_at: _timestamp_pb2.Timestamp
    duplicate: bool
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., points_forfeited: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...
