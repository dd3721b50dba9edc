import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_PUSH: _ClassVar[Channel]

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_ACCOUNT: _ClassVar[Category]
    CATEGORY_POINTS: _ClassVar[Category]
    CATEGORY_TIER: _ClassVar[Category]
    CATEGORY_REWARDS: _ClassVar[Category]
    CATEGORY_BIRTHDAY: _ClassVar[Category]
    CATEGORY_SERVICE: _ClassVar[Category]
    CATEGORY_SURVEYS: _ClassVar[Category]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SMS: Channel
CHANNEL_PUSH: Channel
CATEGORY_UNSPECIFIED: Category
CATEGORY_ACCOUNT: Category
CATEGORY_POINTS: Category
CATEGORY_TIER: Category
CATEGORY_REWARDS: Category
CATEGORY_BIRTHDAY: Category
CATEGORY_SERVICE: Category
CATEGORY_SURVEYS: Category

class QuietHours(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class Preferences(_message.Message):
    __slots__ = ("member_id", "channels", "opted_out", "time_zone", "quiet_hours", "customized")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMIZED_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    opted_out: _containers.RepeatedScalarFieldContainer[Category]
    time_zone: str
    quiet_hours: QuietHours
    customized: bool
    def __init__(self, member_id: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., opted_out: _Optional[_Iterable[_Union[Category, str]]] = ..., time_zone: _Optional[str] = ..., quiet_hours: _Optional[_Union[QuietHours, _Mapping]] = ..., customized: _Optional[bool] = ...) -> None: ...

class GetPreferencesRequest(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class GetPreferencesResponse(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: Preferences
    def __init__(self, preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class SetPreferencesRequest(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: Preferences
    def __init__(self, preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class SetPreferencesResponse(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: Preferences
    def __init__(self, preferences: _Optional[_Union[Preferences, _Mapping]] = ...) -> None: ...

class PreviewNotificationRequest(_message.Message):
    __slots__ = ("template_id", "member_id", "variables")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    member_id: str
    variables: _containers.ScalarMap[str, str]
    def __init__(self, template_id: _Optional[str] = ..., member_id: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RenderedMessage(_message.Message):
    __slots__ = ("channel", "subject", "body")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    subject: str
    body: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ...) -> None: ...

class PreviewNotificationResponse(_message.Message):
    __slots__ = ("template_id", "category", "variables", "renderings", "channels", "send_at")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    RENDERINGS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SEND_AT_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    category: Category
    variables: _containers.ScalarMap[str, str]
    renderings: _containers.RepeatedCompositeFieldContainer[RenderedMessage]
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    send_at: _timestamp_pb2.Timestamp
    def __init__(self, template_id: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., variables: _Optional[_Mapping[str, str]] = ..., renderings: _Optional[_Iterable[_Union[RenderedMessage, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., send_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NotificationRequested(_message.Message):
    __slots__ = ("notification_id", "idempotency_key", "member_id", "channel", "template_id", "category", "variables", "subject", "body", "trigger_event_id", "requested_at")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    idempotency_key: str
    member_id: str
    channel: Channel
    template_id: str
    category: Category
    variables: _containers.ScalarMap[str, str]
    subject: str
    body: str
    trigger_event_id: str
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, notification_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., member_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., template_id: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., variables: _Optional[_Mapping[str, str]] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
