-- Refund policy "negative_balance": a refund takes back all it reverses even
-- when the points were spent; the balance goes negative by the points no lot
-- could give (points_overdrawn), and new points cover them before anything else.

ALTER TABLE members ADD COLUMN points_overdrawn bigint NOT NULL DEFAULT 0 CHECK (points_overdrawn >= 0);
-- The balance is the lots' remaining points less what is overdrawn.
ALTER TABLE members DROP CONSTRAINT members_balance_check;
ALTER TABLE members ADD CONSTRAINT members_balance_check CHECK (balance + points_overdrawn >= 0);

ALTER TABLE refunds
    ADD COLUMN points_overdrawn bigint NOT NULL DEFAULT 0 CHECK (points_overdrawn >= 0),
    ADD CONSTRAINT refunds_spent_within_reversed CHECK (points_owed + points_overdrawn <= points_reversed);

-- New points look up the refunds they still have to cover.
CREATE INDEX refunds_overdrawn ON refunds (entry_id) WHERE points_overdrawn > 0;
