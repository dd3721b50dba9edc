-- A repeated RecordPurchase or RecordActivity answers the balance its first answer gave ("balance after the
-- purchase was recorded", "after the activity"), not the member's balance at the time of the repeat.
--
-- A purchase keeps it on its row, written with the purchase (the balance before plus its points) and corrected
-- in the same transaction where points that arrived expired, refund debt it settled or a referral bonus it paid
-- made the answer differ.
-- NULL for purchases recorded before this migration: a repeat of one answers the balance at the repeat, as before.
ALTER TABLE purchases ADD COLUMN balance_after bigint;

-- An activity's idempotency record is its bonus entry, and entries are never edited (ledger_is_append_only),
-- while the balance after it is only known once the entry is in (points that arrived expired, an overdraft they
-- covered): it is kept beside the entry, one row per activity credited. Activities credited before this
-- migration have none: a repeat of one answers the balance at the repeat, as before.
CREATE TABLE activity_balances (
    entry_id      uuid   PRIMARY KEY REFERENCES ledger_entries (entry_id),
    balance_after bigint NOT NULL
);
