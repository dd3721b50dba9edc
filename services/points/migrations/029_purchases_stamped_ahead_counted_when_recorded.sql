-- The purchases recorded before 026 that were stamped ahead of the service's clock count, as 026 says, the
-- instant before they were recorded: they, their ledger entries and their refunds.
--
-- They are found first, by a read of purchases that blocks no writer, and the rest is updated by key: ledger
-- entries are append-only, and their trigger is off (a lock that stops every ledger write) only while the few
-- entries concerned are rewritten.
CREATE TEMP TABLE stamped_ahead ON COMMIT DROP AS
    SELECT purchase_id, entry_id, recorded_at - interval '1 microsecond' AS counted_at
      FROM purchases
     WHERE occurred_at >= recorded_at AND qualifies_at IS NULL;

UPDATE purchases p SET qualifies_at = s.counted_at FROM stamped_ahead s WHERE p.purchase_id = s.purchase_id;

ALTER TABLE ledger_entries DISABLE TRIGGER ledger_is_append_only;
UPDATE ledger_entries e SET qualifies_at = s.counted_at FROM stamped_ahead s WHERE e.entry_id = s.entry_id;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_is_append_only;

UPDATE refunds r SET purchase_occurred_at = s.counted_at FROM stamped_ahead s WHERE r.purchase_id = s.purchase_id;

-- Such a purchase also moved its member's last activity into the future: brought back to now, at most a day in
-- the member's favour (a stamp was at most a day ahead), rather than worked out again from every entry.
UPDATE members SET last_activity_at = now() WHERE last_activity_at > now();
