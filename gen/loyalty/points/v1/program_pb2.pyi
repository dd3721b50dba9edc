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

class ApplyOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLY_OUTCOME_UNSPECIFIED: _ClassVar[ApplyOutcome]
    APPLY_OUTCOME_CREATED: _ClassVar[ApplyOutcome]
    APPLY_OUTCOME_UNCHANGED: _ClassVar[ApplyOutcome]
    APPLY_OUTCOME_VALIDATED: _ClassVar[ApplyOutcome]

class ProgramRounding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_ROUNDING_UNSPECIFIED: _ClassVar[ProgramRounding]
    PROGRAM_ROUNDING_DOWN: _ClassVar[ProgramRounding]
    PROGRAM_ROUNDING_HALF_UP: _ClassVar[ProgramRounding]
    PROGRAM_ROUNDING_UP: _ClassVar[ProgramRounding]

class ProgramBirthdayWhen(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_BIRTHDAY_WHEN_UNSPECIFIED: _ClassVar[ProgramBirthdayWhen]
    PROGRAM_BIRTHDAY_WHEN_MONTH: _ClassVar[ProgramBirthdayWhen]
    PROGRAM_BIRTHDAY_WHEN_DAY: _ClassVar[ProgramBirthdayWhen]

class ProgramLimitPer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_LIMIT_PER_UNSPECIFIED: _ClassVar[ProgramLimitPer]
    PROGRAM_LIMIT_PER_EVER: _ClassVar[ProgramLimitPer]
    PROGRAM_LIMIT_PER_MONTH: _ClassVar[ProgramLimitPer]
    PROGRAM_LIMIT_PER_YEAR: _ClassVar[ProgramLimitPer]

class ProgramSpentPoints(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_SPENT_POINTS_UNSPECIFIED: _ClassVar[ProgramSpentPoints]
    PROGRAM_SPENT_POINTS_DEBT: _ClassVar[ProgramSpentPoints]
    PROGRAM_SPENT_POINTS_NEGATIVE_BALANCE: _ClassVar[ProgramSpentPoints]

class ProgramTierBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_TIER_BASIS_UNSPECIFIED: _ClassVar[ProgramTierBasis]
    PROGRAM_TIER_BASIS_POINTS: _ClassVar[ProgramTierBasis]
    PROGRAM_TIER_BASIS_SPEND: _ClassVar[ProgramTierBasis]

class ProgramTierWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_TIER_WINDOW_UNSPECIFIED: _ClassVar[ProgramTierWindow]
    PROGRAM_TIER_WINDOW_CALENDAR_YEAR: _ClassVar[ProgramTierWindow]
    PROGRAM_TIER_WINDOW_ROLLING: _ClassVar[ProgramTierWindow]
APPLY_OUTCOME_UNSPECIFIED: ApplyOutcome
APPLY_OUTCOME_CREATED: ApplyOutcome
APPLY_OUTCOME_UNCHANGED: ApplyOutcome
APPLY_OUTCOME_VALIDATED: ApplyOutcome
PROGRAM_ROUNDING_UNSPECIFIED: ProgramRounding
PROGRAM_ROUNDING_DOWN: ProgramRounding
PROGRAM_ROUNDING_HALF_UP: ProgramRounding
PROGRAM_ROUNDING_UP: ProgramRounding
PROGRAM_BIRTHDAY_WHEN_UNSPECIFIED: ProgramBirthdayWhen
PROGRAM_BIRTHDAY_WHEN_MONTH: ProgramBirthdayWhen
PROGRAM_BIRTHDAY_WHEN_DAY: ProgramBirthdayWhen
PROGRAM_LIMIT_PER_UNSPECIFIED: ProgramLimitPer
PROGRAM_LIMIT_PER_EVER: ProgramLimitPer
PROGRAM_LIMIT_PER_MONTH: ProgramLimitPer
PROGRAM_LIMIT_PER_YEAR: ProgramLimitPer
PROGRAM_SPENT_POINTS_UNSPECIFIED: ProgramSpentPoints
PROGRAM_SPENT_POINTS_DEBT: ProgramSpentPoints
PROGRAM_SPENT_POINTS_NEGATIVE_BALANCE: ProgramSpentPoints
PROGRAM_TIER_BASIS_UNSPECIFIED: ProgramTierBasis
PROGRAM_TIER_BASIS_POINTS: ProgramTierBasis
PROGRAM_TIER_BASIS_SPEND: ProgramTierBasis
PROGRAM_TIER_WINDOW_UNSPECIFIED: ProgramTierWindow
PROGRAM_TIER_WINDOW_CALENDAR_YEAR: ProgramTierWindow
PROGRAM_TIER_WINDOW_ROLLING: ProgramTierWindow

class ApplyProgramRequest(_message.Message):
    __slots__ = ("definition", "dry_run")
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    definition: str
    dry_run: bool
    def __init__(self, definition: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ApplyProgramResponse(_message.Message):
    __slots__ = ("program", "outcome")
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    program: ProgramVersion
    outcome: ApplyOutcome
    def __init__(self, program: _Optional[_Union[ProgramVersion, _Mapping]] = ..., outcome: _Optional[_Union[ApplyOutcome, str]] = ...) -> None: ...

class GetProgramRequest(_message.Message):
    __slots__ = ("program_id", "at")
    PROGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    program_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, program_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetProgramResponse(_message.Message):
    __slots__ = ("program",)
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    program: ProgramVersion
    def __init__(self, program: _Optional[_Union[ProgramVersion, _Mapping]] = ...) -> None: ...

class ProgramVersion(_message.Message):
    __slots__ = ("program_id", "version", "effective_from", "created_at", "definition", "program")
    PROGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    program_id: str
    version: int
    effective_from: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    definition: str
    program: Program
    def __init__(self, program_id: _Optional[str] = ..., version: _Optional[int] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., definition: _Optional[str] = ..., program: _Optional[_Union[Program, _Mapping]] = ...) -> None: ...

class Program(_message.Message):
    __slots__ = ("name", "currency", "timezone", "base_rates", "rounding", "rules", "campaigns", "per_purchase_cap", "per_day_cap", "tiers", "pending_days", "expiry_months_after_earning", "expiry_inactivity_months", "expiry_reminder_days", "bonuses", "refund_spent_points")
    class BaseRatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    BASE_RATES_FIELD_NUMBER: _ClassVar[int]
    ROUNDING_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    PER_PURCHASE_CAP_FIELD_NUMBER: _ClassVar[int]
    PER_DAY_CAP_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    PENDING_DAYS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MONTHS_AFTER_EARNING_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_INACTIVITY_MONTHS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_REMINDER_DAYS_FIELD_NUMBER: _ClassVar[int]
    BONUSES_FIELD_NUMBER: _ClassVar[int]
    REFUND_SPENT_POINTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    currency: str
    timezone: str
    base_rates: _containers.ScalarMap[str, str]
    rounding: ProgramRounding
    rules: _containers.RepeatedCompositeFieldContainer[ProgramRule]
    campaigns: _containers.RepeatedCompositeFieldContainer[ProgramRule]
    per_purchase_cap: int
    per_day_cap: int
    tiers: ProgramTiers
    pending_days: int
    expiry_months_after_earning: int
    expiry_inactivity_months: int
    expiry_reminder_days: int
    bonuses: ProgramBonuses
    refund_spent_points: ProgramSpentPoints
    def __init__(self, name: _Optional[str] = ..., currency: _Optional[str] = ..., timezone: _Optional[str] = ..., base_rates: _Optional[_Mapping[str, str]] = ..., rounding: _Optional[_Union[ProgramRounding, str]] = ..., rules: _Optional[_Iterable[_Union[ProgramRule, _Mapping]]] = ..., campaigns: _Optional[_Iterable[_Union[ProgramRule, _Mapping]]] = ..., per_purchase_cap: _Optional[int] = ..., per_day_cap: _Optional[int] = ..., tiers: _Optional[_Union[ProgramTiers, _Mapping]] = ..., pending_days: _Optional[int] = ..., expiry_months_after_earning: _Optional[int] = ..., expiry_inactivity_months: _Optional[int] = ..., expiry_reminder_days: _Optional[int] = ..., bonuses: _Optional[_Union[ProgramBonuses, _Mapping]] = ..., refund_spent_points: _Optional[_Union[ProgramSpentPoints, str]] = ...) -> None: ...

class ProgramBonuses(_message.Message):
    __slots__ = ("signup_points", "birthday", "referral", "activities")
    SIGNUP_POINTS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_FIELD_NUMBER: _ClassVar[int]
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    signup_points: int
    birthday: ProgramBirthdayBonus
    referral: ProgramReferralBonus
    activities: _containers.RepeatedCompositeFieldContainer[ProgramActivity]
    def __init__(self, signup_points: _Optional[int] = ..., birthday: _Optional[_Union[ProgramBirthdayBonus, _Mapping]] = ..., referral: _Optional[_Union[ProgramReferralBonus, _Mapping]] = ..., activities: _Optional[_Iterable[_Union[ProgramActivity, _Mapping]]] = ...) -> None: ...

class ProgramBirthdayBonus(_message.Message):
    __slots__ = ("points", "when")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    WHEN_FIELD_NUMBER: _ClassVar[int]
    points: int
    when: ProgramBirthdayWhen
    def __init__(self, points: _Optional[int] = ..., when: _Optional[_Union[ProgramBirthdayWhen, str]] = ...) -> None: ...

class ProgramReferralBonus(_message.Message):
    __slots__ = ("referrer_points", "referee_points", "minimum_spend")
    REFERRER_POINTS_FIELD_NUMBER: _ClassVar[int]
    REFEREE_POINTS_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_SPEND_FIELD_NUMBER: _ClassVar[int]
    referrer_points: int
    referee_points: int
    minimum_spend: _common_pb2.Money
    def __init__(self, referrer_points: _Optional[int] = ..., referee_points: _Optional[int] = ..., minimum_spend: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ProgramActivity(_message.Message):
    __slots__ = ("id", "description", "points", "limit_count", "limit_per")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PER_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    points: int
    limit_count: int
    limit_per: ProgramLimitPer
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., points: _Optional[int] = ..., limit_count: _Optional[int] = ..., limit_per: _Optional[_Union[ProgramLimitPer, str]] = ...) -> None: ...

class ProgramRule(_message.Message):
    __slots__ = ("id", "description", "multiplier", "bonus_points", "bonus_per_unit", "skus", "categories", "channels", "min_spend", "starts_at", "ends_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    BONUS_POINTS_FIELD_NUMBER: _ClassVar[int]
    BONUS_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEND_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    multiplier: str
    bonus_points: int
    bonus_per_unit: bool
    skus: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    channels: _containers.RepeatedScalarFieldContainer[str]
    min_spend: _containers.RepeatedCompositeFieldContainer[_common_pb2.Money]
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., multiplier: _Optional[str] = ..., bonus_points: _Optional[int] = ..., bonus_per_unit: _Optional[bool] = ..., skus: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., channels: _Optional[_Iterable[str]] = ..., min_spend: _Optional[_Iterable[_Union[_common_pb2.Money, _Mapping]]] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProgramTiers(_message.Message):
    __slots__ = ("basis", "window", "window_months", "downgrade_steps", "levels")
    BASIS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MONTHS_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    basis: ProgramTierBasis
    window: ProgramTierWindow
    window_months: int
    downgrade_steps: int
    levels: _containers.RepeatedCompositeFieldContainer[ProgramTier]
    def __init__(self, basis: _Optional[_Union[ProgramTierBasis, str]] = ..., window: _Optional[_Union[ProgramTierWindow, str]] = ..., window_months: _Optional[int] = ..., downgrade_steps: _Optional[int] = ..., levels: _Optional[_Iterable[_Union[ProgramTier, _Mapping]]] = ...) -> None: ...

class ProgramTier(_message.Message):
    __slots__ = ("name", "threshold", "earn_bonus_percent")
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EARN_BONUS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    threshold: str
    earn_bonus_percent: str
    def __init__(self, name: _Optional[str] = ..., threshold: _Optional[str] = ..., earn_bonus_percent: _Optional[str] = ...) -> None: ...
