from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RewardRedeemed(_message.Message):
    __slots__ = ("redemption_id", "member_id", "reward_id", "points", "code", "reward_name")
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REWARD_NAME_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    member_id: str
    reward_id: str
    points: int
    code: str
    reward_name: str
    def __init__(self, redemption_id: _Optional[str] = ..., member_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., points: _Optional[int] = ..., code: _Optional[str] = ..., reward_name: _Optional[str] = ...) -> None: ...

class RedemptionCancelled(_message.Message):
    __slots__ = ("redemption_id", "member_id", "reward_id", "points_returned", "reason")
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_RETURNED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    member_id: str
    reward_id: str
    points_returned: int
    reason: str
    def __init__(self, redemption_id: _Optional[str] = ..., member_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., points_returned: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class CodeUsed(_message.Message):
    __slots__ = ("code", "order_id", "member_id", "redemption_id", "campaign_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    order_id: str
    member_id: str
    redemption_id: str
    campaign_id: str
    def __init__(self, code: _Optional[str] = ..., order_id: _Optional[str] = ..., member_id: _Optional[str] = ..., redemption_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class PerkGranted(_message.Message):
    __slots__ = ("redemption_id", "member_id", "reward_id", "occasion", "tier", "code", "reward_name")
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    OCCASION_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REWARD_NAME_FIELD_NUMBER: _ClassVar[int]
    redemption_id: str
    member_id: str
    reward_id: str
    occasion: str
    tier: str
    code: str
    reward_name: str
    def __init__(self, redemption_id: _Optional[str] = ..., member_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., occasion: _Optional[str] = ..., tier: _Optional[str] = ..., code: _Optional[str] = ..., reward_name: _Optional[str] = ...) -> None: ...
