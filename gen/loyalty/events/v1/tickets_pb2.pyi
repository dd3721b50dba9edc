import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketOpened(_message.Message):
    __slots__ = ("ticket_id", "member_id", "tier", "category", "priority", "first_response_due", "resolution_due")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_DUE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_DUE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    tier: str
    category: str
    priority: str
    first_response_due: _timestamp_pb2.Timestamp
    resolution_due: _timestamp_pb2.Timestamp
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., tier: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[str] = ..., first_response_due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution_due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TicketAssigned(_message.Message):
    __slots__ = ("ticket_id", "member_id", "agent_id", "previous_agent_id", "reason")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    agent_id: str
    previous_agent_id: str
    reason: str
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., previous_agent_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TicketSlaBreached(_message.Message):
    __slots__ = ("ticket_id", "member_id", "sla", "due_at", "priority", "agent_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SLA_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    sla: str
    due_at: _timestamp_pb2.Timestamp
    priority: str
    agent_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., sla: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class TicketResolved(_message.Message):
    __slots__ = ("ticket_id", "member_id", "agent_id", "sla_breached", "goodwill_points")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    GOODWILL_POINTS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    agent_id: str
    sla_breached: bool
    goodwill_points: int
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., sla_breached: _Optional[bool] = ..., goodwill_points: _Optional[int] = ...) -> None: ...

class SurveySubmitted(_message.Message):
    __slots__ = ("ticket_id", "member_id", "effort", "satisfaction", "recommend")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    RECOMMEND_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    effort: int
    satisfaction: int
    recommend: int
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., effort: _Optional[int] = ..., satisfaction: _Optional[int] = ..., recommend: _Optional[int] = ...) -> None: ...

class GoodwillGranted(_message.Message):
    __slots__ = ("ticket_id", "member_id", "points", "reason", "granted_by", "approved_by", "granted_at", "claim_purchase_id", "claim_partner_id", "claim_partner_transaction_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    CLAIM_PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    points: int
    reason: str
    granted_by: str
    approved_by: str
    granted_at: _timestamp_pb2.Timestamp
    claim_purchase_id: str
    claim_partner_id: str
    claim_partner_transaction_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., granted_by: _Optional[str] = ..., approved_by: _Optional[str] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., claim_purchase_id: _Optional[str] = ..., claim_partner_id: _Optional[str] = ..., claim_partner_transaction_id: _Optional[str] = ...) -> None: ...
