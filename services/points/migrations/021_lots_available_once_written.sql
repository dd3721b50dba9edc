-- A lot is never available before its entry was written (purchases and partner accruals stamped it with the
-- time the points were earned). Holds reserve the points spendable when they were taken, so a lot written after
-- a hold but dated before it could be counted as backing that hold.
UPDATE lots l
   SET available_at = e.created_at
  FROM ledger_entries e
 WHERE e.entry_id = l.entry_id AND l.available_at < e.created_at AND l.remaining > 0;
