-- Each member's latest known balance, from every points event that states one (PointsEarned, PointsRedeemed,
-- PointsAdjusted, PointsReversed, PointsExpired): what a summary tells as the balance "now" when it is sent,
-- rather than the balance after the summary's last earning.

CREATE TABLE member_balances (
    member_id text   PRIMARY KEY,
    balance   bigint NOT NULL,
    -- The ledger entry of the event that stated it (UUIDv7, so time-ordered, and PostgreSQL compares uuids
    -- bytewise): an event of an older entry, redelivered or read late by the other consumer group, leaves it.
    entry_id  uuid   NOT NULL
);
