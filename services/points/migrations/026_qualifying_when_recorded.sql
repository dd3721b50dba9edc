-- A purchase counts towards tiers, and as activity, when it was made but never after it was recorded. One may be
-- stamped up to a day ahead of the service's clock (a till's clock running fast); counted at that time, it fell
-- in the window after the tier move it made, so the points (or spend) that earned a tier also kept it, and it
-- moved last_activity_at into the future. Now its entry's qualifies_at, and its refunds' purchase_occurred_at,
-- are the instant before it was recorded (activity_time.counted_at), and so is the purchase's own qualifies_at,
-- which money spent is counted by: NULL for every purchase whose occurred_at already was that time.
ALTER TABLE purchases ADD COLUMN qualifies_at timestamptz;

-- Money spent in a window reads that time from the index once 028 has rebuilt it (concurrently: purchases is
-- large and written by every purchase); until then from the rows.

-- The purchases recorded so far stamped ahead: they, their entries and their refunds count when recorded.
UPDATE purchases SET qualifies_at = recorded_at WHERE occurred_at > recorded_at;

ALTER TABLE ledger_entries DISABLE TRIGGER ledger_is_append_only;
UPDATE ledger_entries e SET qualifies_at = p.qualifies_at
  FROM purchases p
 WHERE p.entry_id = e.entry_id AND p.qualifies_at IS NOT NULL;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_is_append_only;

UPDATE refunds r SET purchase_occurred_at = p.qualifies_at
  FROM purchases p
 WHERE p.purchase_id = r.purchase_id AND p.qualifies_at IS NOT NULL;
