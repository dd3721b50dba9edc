import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PurchaseMade(_message.Message):
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

class PurchaseRefunded(_message.Message):
    __slots__ = ("refund_id", "purchase_id", "member_id", "amount", "occurred_at")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    purchase_id: str
    member_id: str
    amount: _common_pb2.Money
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, refund_id: _Optional[str] = ..., purchase_id: _Optional[str] = ..., member_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
