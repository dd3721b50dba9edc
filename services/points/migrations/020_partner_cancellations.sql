-- A partner cancels an accrual it sent (a cancelled flight, a stay not taken):
-- its points are taken back like a refund's, and stop counting towards tiers.
-- One row per cancelled accrual (a transaction is cancelled at most once),
-- with what the cancellation did, in the window of the activity it cancels.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment', 'expiry', 'bonus',
                    'partner_earn', 'partner_cancel'));

CREATE TABLE partner_cancellations (
    partner_id             text        NOT NULL,
    partner_transaction_id text        NOT NULL,
    member_id              text        NOT NULL REFERENCES members (member_id),
    reason                 text        NOT NULL CHECK (reason <> ''),
    -- Everything the accrual credited; taken = reversed - owed - expired.
    points_reversed        bigint      NOT NULL CHECK (points_reversed >= 0),
    points_owed            bigint      NOT NULL CHECK (points_owed >= 0),
    points_overdrawn       bigint      NOT NULL CHECK (points_overdrawn >= 0),
    points_expired         bigint      NOT NULL CHECK (points_expired >= 0),
    CHECK (points_owed + points_expired <= points_reversed),
    -- The entry that took the points; NULL when none were taken.
    entry_id               uuid        REFERENCES ledger_entries (entry_id),
    -- When the cancelled activity happened: the tier window it no longer counts in.
    qualifies_at           timestamptz NOT NULL,
    cancelled_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, partner_transaction_id),
    FOREIGN KEY (partner_id, partner_transaction_id) REFERENCES partner_accruals (partner_id, partner_transaction_id)
);

CREATE INDEX partner_cancellations_qualifying ON partner_cancellations (member_id, qualifies_at) INCLUDE (points_reversed);
