import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartnerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTNER_KIND_UNSPECIFIED: _ClassVar[PartnerKind]
    PARTNER_KIND_AIRLINE: _ClassVar[PartnerKind]
    PARTNER_KIND_HOTEL: _ClassVar[PartnerKind]
    PARTNER_KIND_CAR: _ClassVar[PartnerKind]
    PARTNER_KIND_RETAIL: _ClassVar[PartnerKind]
    PARTNER_KIND_OTHER: _ClassVar[PartnerKind]

class RateRounding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_ROUNDING_UNSPECIFIED: _ClassVar[RateRounding]
    RATE_ROUNDING_DOWN: _ClassVar[RateRounding]
    RATE_ROUNDING_HALF_UP: _ClassVar[RateRounding]
    RATE_ROUNDING_UP: _ClassVar[RateRounding]

class ActivityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_TYPE_UNSPECIFIED: _ClassVar[ActivityType]
    ACTIVITY_TYPE_FLIGHT: _ClassVar[ActivityType]
    ACTIVITY_TYPE_STAY: _ClassVar[ActivityType]
    ACTIVITY_TYPE_RENTAL: _ClassVar[ActivityType]
    ACTIVITY_TYPE_PURCHASE: _ClassVar[ActivityType]

class AccrualStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCRUAL_STATUS_UNSPECIFIED: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_ACCEPTED: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_DUPLICATE: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_UNKNOWN_MEMBER: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_NAME_MISMATCH: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_INVALID: _ClassVar[AccrualStatus]
    ACCRUAL_STATUS_RATE_MISSING: _ClassVar[AccrualStatus]
PARTNER_KIND_UNSPECIFIED: PartnerKind
PARTNER_KIND_AIRLINE: PartnerKind
PARTNER_KIND_HOTEL: PartnerKind
PARTNER_KIND_CAR: PartnerKind
PARTNER_KIND_RETAIL: PartnerKind
PARTNER_KIND_OTHER: PartnerKind
RATE_ROUNDING_UNSPECIFIED: RateRounding
RATE_ROUNDING_DOWN: RateRounding
RATE_ROUNDING_HALF_UP: RateRounding
RATE_ROUNDING_UP: RateRounding
ACTIVITY_TYPE_UNSPECIFIED: ActivityType
ACTIVITY_TYPE_FLIGHT: ActivityType
ACTIVITY_TYPE_STAY: ActivityType
ACTIVITY_TYPE_RENTAL: ActivityType
ACTIVITY_TYPE_PURCHASE: ActivityType
ACCRUAL_STATUS_UNSPECIFIED: AccrualStatus
ACCRUAL_STATUS_ACCEPTED: AccrualStatus
ACCRUAL_STATUS_DUPLICATE: AccrualStatus
ACCRUAL_STATUS_UNKNOWN_MEMBER: AccrualStatus
ACCRUAL_STATUS_NAME_MISMATCH: AccrualStatus
ACCRUAL_STATUS_INVALID: AccrualStatus
ACCRUAL_STATUS_RATE_MISSING: AccrualStatus

class Partner(_message.Message):
    __slots__ = ("partner_id", "name", "kind", "rates", "created_at")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    name: str
    kind: PartnerKind
    rates: _containers.RepeatedCompositeFieldContainer[ConversionRate]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, partner_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[PartnerKind, str]] = ..., rates: _Optional[_Iterable[_Union[ConversionRate, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConversionRate(_message.Message):
    __slots__ = ("unit", "points_per_unit", "effective_from", "rounding")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    POINTS_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    ROUNDING_FIELD_NUMBER: _ClassVar[int]
    unit: str
    points_per_unit: str
    effective_from: _timestamp_pb2.Timestamp
    rounding: RateRounding
    def __init__(self, unit: _Optional[str] = ..., points_per_unit: _Optional[str] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rounding: _Optional[_Union[RateRounding, str]] = ...) -> None: ...

class RegisterPartnerRequest(_message.Message):
    __slots__ = ("partner_id", "name", "kind")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    name: str
    kind: PartnerKind
    def __init__(self, partner_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[PartnerKind, str]] = ...) -> None: ...

class RegisterPartnerResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class GetPartnerRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class GetPartnerResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class SetConversionRateRequest(_message.Message):
    __slots__ = ("partner_id", "rate")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    rate: ConversionRate
    def __init__(self, partner_id: _Optional[str] = ..., rate: _Optional[_Union[ConversionRate, _Mapping]] = ...) -> None: ...

class SetConversionRateResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class IssuePartnerCredentialRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class IssuePartnerCredentialResponse(_message.Message):
    __slots__ = ("credential_id", "api_key")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    api_key: str
    def __init__(self, credential_id: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class RevokePartnerCredentialRequest(_message.Message):
    __slots__ = ("partner_id", "credential_id")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    credential_id: str
    def __init__(self, partner_id: _Optional[str] = ..., credential_id: _Optional[str] = ...) -> None: ...

class RevokePartnerCredentialResponse(_message.Message):
    __slots__ = ("revoked_at",)
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetReconciliationRequest(_message.Message):
    __slots__ = ("partner_id", "day", "page_size", "page_token")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    day: str
    page_size: int
    page_token: str
    def __init__(self, partner_id: _Optional[str] = ..., day: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetReconciliationResponse(_message.Message):
    __slots__ = ("partner_id", "day", "lines", "next_page_token")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    day: str
    lines: _containers.RepeatedCompositeFieldContainer[ReconciliationLine]
    next_page_token: str
    def __init__(self, partner_id: _Optional[str] = ..., day: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ReconciliationLine, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReconciliationLine(_message.Message):
    __slots__ = ("status", "records", "amount", "points", "unit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    status: AccrualStatus
    records: int
    amount: str
    points: int
    unit: str
    def __init__(self, status: _Optional[_Union[AccrualStatus, str]] = ..., records: _Optional[int] = ..., amount: _Optional[str] = ..., points: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class AccrualRecord(_message.Message):
    __slots__ = ("partner_transaction_id", "member_id", "member_last_name", "activity_type", "activity_date", "unit", "amount", "bonus_amount", "pending")
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_DATE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BONUS_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    partner_transaction_id: str
    member_id: str
    member_last_name: str
    activity_type: ActivityType
    activity_date: str
    unit: str
    amount: str
    bonus_amount: str
    pending: bool
    def __init__(self, partner_transaction_id: _Optional[str] = ..., member_id: _Optional[str] = ..., member_last_name: _Optional[str] = ..., activity_type: _Optional[_Union[ActivityType, str]] = ..., activity_date: _Optional[str] = ..., unit: _Optional[str] = ..., amount: _Optional[str] = ..., bonus_amount: _Optional[str] = ..., pending: _Optional[bool] = ...) -> None: ...

class AccrualBatch(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AccrualRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[AccrualRecord, _Mapping]]] = ...) -> None: ...

class AccrualResult(_message.Message):
    __slots__ = ("partner_transaction_id", "status", "points", "field", "reason")
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    partner_transaction_id: str
    status: AccrualStatus
    points: int
    field: str
    reason: str
    def __init__(self, partner_transaction_id: _Optional[str] = ..., status: _Optional[_Union[AccrualStatus, str]] = ..., points: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AccrualBatchResult(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AccrualResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AccrualResult, _Mapping]]] = ...) -> None: ...

class CancelAccrualRequest(_message.Message):
    __slots__ = ("partner_transaction_id", "reason")
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    partner_transaction_id: str
    reason: str
    def __init__(self, partner_transaction_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelAccrualResponse(_message.Message):
    __slots__ = ("partner_transaction_id", "member_id", "points_reversed", "points_taken", "points_owed", "points_overdrawn", "points_expired", "ledger_entry_id", "duplicate", "cancelled_at")
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_REVERSED_FIELD_NUMBER: _ClassVar[int]
    POINTS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    POINTS_OWED_FIELD_NUMBER: _ClassVar[int]
    POINTS_OVERDRAWN_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    partner_transaction_id: str
    member_id: str
    points_reversed: int
    points_taken: int
    points_owed: int
    points_overdrawn: int
    points_expired: int
    ledger_entry_id: str
    duplicate: bool
    cancelled_at: _timestamp_pb2.Timestamp
    def __init__(self, partner_transaction_id: _Optional[str] = ..., member_id: _Optional[str] = ..., points_reversed: _Optional[int] = ..., points_taken: _Optional[int] = ..., points_owed: _Optional[int] = ..., points_overdrawn: _Optional[int] = ..., points_expired: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
