import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_CATEGORY_UNSPECIFIED: _ClassVar[TicketCategory]
    TICKET_CATEGORY_MISSING_POINTS: _ClassVar[TicketCategory]
    TICKET_CATEGORY_REDEMPTION_PROBLEM: _ClassVar[TicketCategory]
    TICKET_CATEGORY_TIER_QUESTION: _ClassVar[TicketCategory]
    TICKET_CATEGORY_ACCOUNT: _ClassVar[TicketCategory]
    TICKET_CATEGORY_OTHER: _ClassVar[TicketCategory]

class TicketChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_CHANNEL_UNSPECIFIED: _ClassVar[TicketChannel]
    TICKET_CHANNEL_EMAIL: _ClassVar[TicketChannel]
    TICKET_CHANNEL_CHAT: _ClassVar[TicketChannel]
    TICKET_CHANNEL_PHONE: _ClassVar[TicketChannel]
    TICKET_CHANNEL_WEB: _ClassVar[TicketChannel]

class TicketPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_PRIORITY_UNSPECIFIED: _ClassVar[TicketPriority]
    TICKET_PRIORITY_LOW: _ClassVar[TicketPriority]
    TICKET_PRIORITY_NORMAL: _ClassVar[TicketPriority]
    TICKET_PRIORITY_HIGH: _ClassVar[TicketPriority]
    TICKET_PRIORITY_URGENT: _ClassVar[TicketPriority]

class TicketStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATUS_UNSPECIFIED: _ClassVar[TicketStatus]
    TICKET_STATUS_OPEN: _ClassVar[TicketStatus]
    TICKET_STATUS_WAITING_ON_MEMBER: _ClassVar[TicketStatus]
    TICKET_STATUS_RESOLVED: _ClassVar[TicketStatus]

class MessageAuthor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_AUTHOR_UNSPECIFIED: _ClassVar[MessageAuthor]
    MESSAGE_AUTHOR_MEMBER: _ClassVar[MessageAuthor]
    MESSAGE_AUTHOR_AGENT: _ClassVar[MessageAuthor]

class ClaimStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_STATUS_UNSPECIFIED: _ClassVar[ClaimStatus]
    CLAIM_STATUS_ALREADY_CREDITED: _ClassVar[ClaimStatus]
    CLAIM_STATUS_NOT_CREDITED: _ClassVar[ClaimStatus]
    CLAIM_STATUS_UNVERIFIED: _ClassVar[ClaimStatus]

class GoodwillStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOODWILL_STATUS_UNSPECIFIED: _ClassVar[GoodwillStatus]
    GOODWILL_STATUS_PENDING_APPROVAL: _ClassVar[GoodwillStatus]
    GOODWILL_STATUS_GRANTED: _ClassVar[GoodwillStatus]
TICKET_CATEGORY_UNSPECIFIED: TicketCategory
TICKET_CATEGORY_MISSING_POINTS: TicketCategory
TICKET_CATEGORY_REDEMPTION_PROBLEM: TicketCategory
TICKET_CATEGORY_TIER_QUESTION: TicketCategory
TICKET_CATEGORY_ACCOUNT: TicketCategory
TICKET_CATEGORY_OTHER: TicketCategory
TICKET_CHANNEL_UNSPECIFIED: TicketChannel
TICKET_CHANNEL_EMAIL: TicketChannel
TICKET_CHANNEL_CHAT: TicketChannel
TICKET_CHANNEL_PHONE: TicketChannel
TICKET_CHANNEL_WEB: TicketChannel
TICKET_PRIORITY_UNSPECIFIED: TicketPriority
TICKET_PRIORITY_LOW: TicketPriority
TICKET_PRIORITY_NORMAL: TicketPriority
TICKET_PRIORITY_HIGH: TicketPriority
TICKET_PRIORITY_URGENT: TicketPriority
TICKET_STATUS_UNSPECIFIED: TicketStatus
TICKET_STATUS_OPEN: TicketStatus
TICKET_STATUS_WAITING_ON_MEMBER: TicketStatus
TICKET_STATUS_RESOLVED: TicketStatus
MESSAGE_AUTHOR_UNSPECIFIED: MessageAuthor
MESSAGE_AUTHOR_MEMBER: MessageAuthor
MESSAGE_AUTHOR_AGENT: MessageAuthor
CLAIM_STATUS_UNSPECIFIED: ClaimStatus
CLAIM_STATUS_ALREADY_CREDITED: ClaimStatus
CLAIM_STATUS_NOT_CREDITED: ClaimStatus
CLAIM_STATUS_UNVERIFIED: ClaimStatus
GOODWILL_STATUS_UNSPECIFIED: GoodwillStatus
GOODWILL_STATUS_PENDING_APPROVAL: GoodwillStatus
GOODWILL_STATUS_GRANTED: GoodwillStatus

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

class Claim(_message.Message):
    __slots__ = ("purchase_id", "partner_id", "partner_transaction_id", "expected_points")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_POINTS_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    partner_id: str
    partner_transaction_id: str
    expected_points: int
    def __init__(self, purchase_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., partner_transaction_id: _Optional[str] = ..., expected_points: _Optional[int] = ...) -> None: ...

class ClaimCheck(_message.Message):
    __slots__ = ("status", "credited_points", "ledger_entry_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREDITED_POINTS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    status: ClaimStatus
    credited_points: int
    ledger_entry_id: str
    def __init__(self, status: _Optional[_Union[ClaimStatus, str]] = ..., credited_points: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ...) -> None: ...

class TicketMessage(_message.Message):
    __slots__ = ("author", "author_id", "body", "created_at")
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    author: MessageAuthor
    author_id: str
    body: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, author: _Optional[_Union[MessageAuthor, str]] = ..., author_id: _Optional[str] = ..., body: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Goodwill(_message.Message):
    __slots__ = ("points", "reason", "granted_by", "approved_by", "status", "requested_at", "granted_at", "over_limit")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    OVER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    points: int
    reason: str
    granted_by: str
    approved_by: str
    status: GoodwillStatus
    requested_at: _timestamp_pb2.Timestamp
    granted_at: _timestamp_pb2.Timestamp
    over_limit: str
    def __init__(self, points: _Optional[int] = ..., reason: _Optional[str] = ..., granted_by: _Optional[str] = ..., approved_by: _Optional[str] = ..., status: _Optional[_Union[GoodwillStatus, str]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., over_limit: _Optional[str] = ...) -> None: ...

class Survey(_message.Message):
    __slots__ = ("issued_at", "submitted", "effort", "satisfaction", "recommend", "submitted_at")
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    RECOMMEND_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    issued_at: _timestamp_pb2.Timestamp
    submitted: bool
    effort: int
    satisfaction: int
    recommend: int
    submitted_at: _timestamp_pb2.Timestamp
    def __init__(self, issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted: _Optional[bool] = ..., effort: _Optional[int] = ..., satisfaction: _Optional[int] = ..., recommend: _Optional[int] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "member_id", "tier", "category", "channel", "subject", "description", "language", "priority", "status", "assignee", "required_skill", "sla_policy", "first_response_due", "resolution_due", "first_responded_at", "resolved_at", "first_response_breached", "resolution_breached", "opened_at", "resolution", "claim", "claim_check", "goodwill", "survey", "messages")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILL_FIELD_NUMBER: _ClassVar[int]
    SLA_POLICY_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_DUE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_DUE_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONDED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_BREACHED_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_BREACHED_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    CLAIM_CHECK_FIELD_NUMBER: _ClassVar[int]
    GOODWILL_FIELD_NUMBER: _ClassVar[int]
    SURVEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    tier: str
    category: TicketCategory
    channel: TicketChannel
    subject: str
    description: str
    language: str
    priority: TicketPriority
    status: TicketStatus
    assignee: str
    required_skill: str
    sla_policy: str
    first_response_due: _timestamp_pb2.Timestamp
    resolution_due: _timestamp_pb2.Timestamp
    first_responded_at: _timestamp_pb2.Timestamp
    resolved_at: _timestamp_pb2.Timestamp
    first_response_breached: bool
    resolution_breached: bool
    opened_at: _timestamp_pb2.Timestamp
    resolution: str
    claim: Claim
    claim_check: ClaimCheck
    goodwill: Goodwill
    survey: Survey
    messages: _containers.RepeatedCompositeFieldContainer[TicketMessage]
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., tier: _Optional[str] = ..., category: _Optional[_Union[TicketCategory, str]] = ..., channel: _Optional[_Union[TicketChannel, str]] = ..., subject: _Optional[str] = ..., description: _Optional[str] = ..., language: _Optional[str] = ..., priority: _Optional[_Union[TicketPriority, str]] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., assignee: _Optional[str] = ..., required_skill: _Optional[str] = ..., sla_policy: _Optional[str] = ..., first_response_due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution_due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_responded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_response_breached: _Optional[bool] = ..., resolution_breached: _Optional[bool] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution: _Optional[str] = ..., claim: _Optional[_Union[Claim, _Mapping]] = ..., claim_check: _Optional[_Union[ClaimCheck, _Mapping]] = ..., goodwill: _Optional[_Union[Goodwill, _Mapping]] = ..., survey: _Optional[_Union[Survey, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[TicketMessage, _Mapping]]] = ...) -> None: ...

class OpenTicketRequest(_message.Message):
    __slots__ = ("member_id", "category", "channel", "subject", "description", "language", "claim")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    category: TicketCategory
    channel: TicketChannel
    subject: str
    description: str
    language: str
    claim: Claim
    def __init__(self, member_id: _Optional[str] = ..., category: _Optional[_Union[TicketCategory, str]] = ..., channel: _Optional[_Union[TicketChannel, str]] = ..., subject: _Optional[str] = ..., description: _Optional[str] = ..., language: _Optional[str] = ..., claim: _Optional[_Union[Claim, _Mapping]] = ...) -> None: ...

class OpenTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class GetTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("member_id", "assignee", "status", "breached_only", "page_size", "page_token")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BREACHED_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    assignee: str
    status: TicketStatus
    breached_only: bool
    page_size: int
    page_token: str
    def __init__(self, member_id: _Optional[str] = ..., assignee: _Optional[str] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., breached_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[Ticket]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[Ticket, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddMessageRequest(_message.Message):
    __slots__ = ("ticket_id", "author", "author_id", "body", "awaiting_member")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    AWAITING_MEMBER_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    author: MessageAuthor
    author_id: str
    body: str
    awaiting_member: bool
    def __init__(self, ticket_id: _Optional[str] = ..., author: _Optional[_Union[MessageAuthor, str]] = ..., author_id: _Optional[str] = ..., body: _Optional[str] = ..., awaiting_member: _Optional[bool] = ...) -> None: ...

class AddMessageResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class AssignTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "agent_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    agent_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class AssignTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class ResolveTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "agent_id", "resolution", "goodwill_points", "goodwill_reason")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    GOODWILL_POINTS_FIELD_NUMBER: _ClassVar[int]
    GOODWILL_REASON_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    agent_id: str
    resolution: str
    goodwill_points: int
    goodwill_reason: str
    def __init__(self, ticket_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., resolution: _Optional[str] = ..., goodwill_points: _Optional[int] = ..., goodwill_reason: _Optional[str] = ...) -> None: ...

class ResolveTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class ReopenTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class ReopenTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class ApproveGoodwillRequest(_message.Message):
    __slots__ = ("ticket_id", "approver_agent_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVER_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    approver_agent_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., approver_agent_id: _Optional[str] = ...) -> None: ...

class ApproveGoodwillResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class SubmitSurveyRequest(_message.Message):
    __slots__ = ("ticket_id", "effort", "satisfaction", "recommend")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    RECOMMEND_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    effort: int
    satisfaction: int
    recommend: int
    def __init__(self, ticket_id: _Optional[str] = ..., effort: _Optional[int] = ..., satisfaction: _Optional[int] = ..., recommend: _Optional[int] = ...) -> None: ...

class SubmitSurveyResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: Ticket
    def __init__(self, ticket: _Optional[_Union[Ticket, _Mapping]] = ...) -> None: ...

class GetServiceMetricsRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "tier", "agent_id", "category")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    tier: str
    agent_id: str
    category: TicketCategory
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier: _Optional[str] = ..., agent_id: _Optional[str] = ..., category: _Optional[_Union[TicketCategory, str]] = ...) -> None: ...

class GetServiceMetricsResponse(_message.Message):
    __slots__ = ("tickets", "surveys", "nps", "average_effort", "csat", "first_response_attainment", "resolution_attainment", "median_first_response", "median_resolution", "first_response_measured", "resolved", "first_replied")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    SURVEYS_FIELD_NUMBER: _ClassVar[int]
    NPS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_EFFORT_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_ATTAINMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_ATTAINMENT_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_FIRST_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_MEASURED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    FIRST_REPLIED_FIELD_NUMBER: _ClassVar[int]
    tickets: int
    surveys: int
    nps: float
    average_effort: float
    csat: float
    first_response_attainment: float
    resolution_attainment: float
    median_first_response: _duration_pb2.Duration
    median_resolution: _duration_pb2.Duration
    first_response_measured: int
    resolved: int
    first_replied: int
    def __init__(self, tickets: _Optional[int] = ..., surveys: _Optional[int] = ..., nps: _Optional[float] = ..., average_effort: _Optional[float] = ..., csat: _Optional[float] = ..., first_response_attainment: _Optional[float] = ..., resolution_attainment: _Optional[float] = ..., median_first_response: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., median_resolution: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., first_response_measured: _Optional[int] = ..., resolved: _Optional[int] = ..., first_replied: _Optional[int] = ...) -> None: ...
