import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from loyalty.tickets.v1 import tickets_pb2 as _tickets_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATUS_UNSPECIFIED: _ClassVar[AgentStatus]
    AGENT_STATUS_AVAILABLE: _ClassVar[AgentStatus]
    AGENT_STATUS_BUSY: _ClassVar[AgentStatus]
    AGENT_STATUS_AWAY: _ClassVar[AgentStatus]
AGENT_STATUS_UNSPECIFIED: AgentStatus
AGENT_STATUS_AVAILABLE: AgentStatus
AGENT_STATUS_BUSY: AgentStatus
AGENT_STATUS_AWAY: AgentStatus

class AgentSkill(_message.Message):
    __slots__ = ("skill", "level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("agent_id", "display_name", "skills", "languages", "tiers", "capacity", "status", "load", "goodwill_limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    GOODWILL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    display_name: str
    skills: _containers.RepeatedCompositeFieldContainer[AgentSkill]
    languages: _containers.RepeatedScalarFieldContainer[str]
    tiers: _containers.RepeatedScalarFieldContainer[str]
    capacity: int
    status: AgentStatus
    load: int
    goodwill_limit: int
    def __init__(self, agent_id: _Optional[str] = ..., display_name: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[AgentSkill, _Mapping]]] = ..., languages: _Optional[_Iterable[str]] = ..., tiers: _Optional[_Iterable[str]] = ..., capacity: _Optional[int] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., load: _Optional[int] = ..., goodwill_limit: _Optional[int] = ...) -> None: ...

class UpsertAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class UpsertAgentResponse(_message.Message):
    __slots__ = ("agent", "assigned_ticket_ids")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_TICKET_IDS_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    assigned_ticket_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., assigned_ticket_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SetAgentStatusRequest(_message.Message):
    __slots__ = ("agent_id", "status")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    status: AgentStatus
    def __init__(self, agent_id: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ...) -> None: ...

class SetAgentStatusResponse(_message.Message):
    __slots__ = ("agent", "assigned_ticket_ids")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_TICKET_IDS_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    assigned_ticket_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., assigned_ticket_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class GetQueueRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class QueuedTicket(_message.Message):
    __slots__ = ("ticket_id", "member_id", "tier", "required_skill", "language", "priority", "queued_at")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    member_id: str
    tier: str
    required_skill: str
    language: str
    priority: _tickets_pb2.TicketPriority
    queued_at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_id: _Optional[str] = ..., member_id: _Optional[str] = ..., tier: _Optional[str] = ..., required_skill: _Optional[str] = ..., language: _Optional[str] = ..., priority: _Optional[_Union[_tickets_pb2.TicketPriority, str]] = ..., queued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetQueueResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[QueuedTicket]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[QueuedTicket, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
