-- Expiry: lots past their expires_at are taken off by expiry entries; members
-- are reminded before points expire.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment', 'expiry'));

-- When the member was last reminded that this lot expires; a lot is reminded once.
ALTER TABLE lots ADD COLUMN reminded_at timestamptz;

-- Lots waiting for the expiry job.
CREATE INDEX lots_expired ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;
