-- Refunds take back what a purchase earned, in proportion to the amount refunded.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment'));

-- Points a refund could not take back because they were already spent: the
-- member owes them, and they are taken from the next points earned.
ALTER TABLE members ADD COLUMN points_owed bigint NOT NULL DEFAULT 0 CHECK (points_owed >= 0);

CREATE TABLE refunds (
    refund_id       text        PRIMARY KEY,
    purchase_id     text        NOT NULL REFERENCES purchases (purchase_id),
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    -- Points this refund took back (entry) plus those it left owed.
    points_reversed bigint      NOT NULL CHECK (points_reversed >= 0),
    points_owed     bigint      NOT NULL CHECK (points_owed >= 0 AND points_owed <= points_reversed),
    entry_id        uuid        REFERENCES ledger_entries (entry_id),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX refunds_purchase ON refunds (purchase_id);
