from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class FindCreditRequest(_message.Message):
    __slots__ = ("purchase_id", "partner_id", "partner_transaction_id")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    partner_id: str
    partner_transaction_id: str
    def __init__(self, purchase_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., partner_transaction_id: _Optional[str] = ...) -> None: ...

class FindCreditResponse(_message.Message):
    __slots__ = ("credited", "member_id", "points", "ledger_entry_id")
    CREDITED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    credited: bool
    member_id: str
    points: int
    ledger_entry_id: str
    def __init__(self, credited: _Optional[bool] = ..., member_id: _Optional[str] = ..., points: _Optional[int] = ..., ledger_entry_id: _Optional[str] = ...) -> None: ...
