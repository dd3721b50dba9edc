-- Bonuses for actions: the signup bonus and configured activities (newsletter
-- opt-in, review written) credit entries of kind 'bonus'.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment', 'expiry', 'bonus'));
