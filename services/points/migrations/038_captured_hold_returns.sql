-- ReturnCapturedHold gives a captured hold's points back to the lots its capture drew them from, with the expiry
-- they had (a cancelled redemption): a `redemption_return` entry, not an adjustment, and not earned.
--
-- The kind is allowed from now on. NOT VALID: checked on every write from now on, without scanning the ledger under
-- this migration's lock (the rows there all pass: every kind they have is still allowed); 039 validates them.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment', 'expiry', 'bonus',
                    'partner_earn', 'partner_cancel', 'redemption_return')) NOT VALID;

-- Points given back were earned once already: lifetime_earned counts them then, not again. They are not activity
-- either (the kinds counted as activity are unchanged, and this one is not among them).
CREATE OR REPLACE FUNCTION ledger_entries_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members m
       SET balance = m.balance + n.points,
           lifetime_earned = m.lifetime_earned + n.earned,
           last_activity_at = GREATEST(m.last_activity_at, n.active_at)
      FROM (SELECT member_id, sum(points) AS points,
                   sum(CASE WHEN kind = 'redemption_return' THEN 0 ELSE GREATEST(points, 0) END) AS earned,
                   max(CASE
                         WHEN kind IN ('purchase_earn', 'partner_earn', 'redemption')
                           THEN coalesce(qualifies_at, created_at)
                         WHEN kind = 'bonus' AND breakdown -> 0 ->> 'source' <> 'birthday'
                           THEN LEAST(created_at, coalesce((SELECT l.earned_at FROM lots l
                                                             WHERE l.entry_id = new_entries.entry_id), created_at))
                       END) AS active_at
              FROM new_entries GROUP BY member_id) AS n
     WHERE m.member_id = n.member_id;
    RETURN NULL;
END $$;

-- A captured hold's points are given back once: the return's entry, the caller's idempotency key (one return per
-- key, ReturnCapturedHold's and AdjustPoints' keys being one namespace), and what of it expired at once (its
-- lots' term had ended), so that a repeat answers the same. The lots it gave back to are those of the capture's
-- lot_draws. A new table: nothing is rewritten or scanned.
CREATE TABLE hold_returns (
    hold_id         uuid        PRIMARY KEY REFERENCES holds (hold_id),
    idempotency_key text        NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    entry_id        uuid        NOT NULL UNIQUE REFERENCES ledger_entries (entry_id),
    points_expired  bigint      NOT NULL CHECK (points_expired >= 0),
    returned_at     timestamptz NOT NULL
);
