-- A purchase counts towards tiers, and as activity, when it was made but never after it was recorded. One may be
-- stamped up to a day ahead of the service's clock (a till's clock running fast); counted at that time, it fell
-- in the window after the tier move it made, so the points (or spend) that earned a tier also kept it, and it
-- moved last_activity_at into the future. Now its entry's qualifies_at, and its refunds' purchase_occurred_at,
-- are the instant before it was recorded (activity_time.counted_at), and so is the purchase's own qualifies_at,
-- which money spent is counted by: NULL for every purchase whose occurred_at already was that time.
--
-- Only the column here: adding it takes purchases' strongest lock, for an instant. Money spent reads it from
-- the index 028 rebuilds concurrently; 029 counts the purchases recorded before anew, without holding that lock.
ALTER TABLE purchases ADD COLUMN qualifies_at timestamptz;
