-- A refund takes back what its purchase earned, but points of that purchase
-- that already expired are gone from the member: taking them again, from
-- other lots or as debt, took them twice. A refund now records how many of
-- the points it reverses had expired (taken nothing for them).
ALTER TABLE refunds
    ADD COLUMN points_expired bigint NOT NULL DEFAULT 0 CHECK (points_expired >= 0),
    DROP CONSTRAINT refunds_spent_within_reversed,
    ADD CONSTRAINT refunds_not_taken_within_reversed
        CHECK (points_owed + points_overdrawn + points_expired <= points_reversed);

-- What expiry took from a purchase's lot: the member's expiry entries, few beside their earnings.
CREATE INDEX ledger_entries_expiry ON ledger_entries (member_id) WHERE kind = 'expiry';
