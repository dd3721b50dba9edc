-- Tier qualification counts points in the window they were earned in, the
-- clock lots and expiry already use: a purchase's occurred_at, a partner
-- activity's date. Before, points counted when they were recorded (a purchase
-- of last December sent in January counted for the new year), and a refund
-- counted when it was made and only with the points its ledger entry took:
-- in a rolling window a refund outlived its purchase and held the member
-- below what the window earned, and a refund left as debt or forgiven as
-- expired took nothing off, so a refunded purchase kept qualifying.

-- When an earning counts towards tiers; NULL for entries that never do.
ALTER TABLE ledger_entries ADD COLUMN qualifies_at timestamptz;

-- The earnings recorded so far: each has its lot, earned when the activity happened.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_is_append_only;
UPDATE ledger_entries e SET qualifies_at = l.earned_at
  FROM lots l
 WHERE l.entry_id = e.entry_id AND e.kind IN ('purchase_earn', 'partner_earn');
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_is_append_only;

DROP INDEX ledger_entries_qualifying;
CREATE INDEX ledger_entries_qualifying ON ledger_entries (member_id, qualifies_at) INCLUDE (points)
    WHERE qualifies_at IS NOT NULL;

-- A refund counts against the window its purchase counted in, with every point it reverses.
ALTER TABLE refunds ADD COLUMN purchase_occurred_at timestamptz;
UPDATE refunds r SET purchase_occurred_at = p.occurred_at FROM purchases p WHERE p.purchase_id = r.purchase_id;
ALTER TABLE refunds ALTER COLUMN purchase_occurred_at SET NOT NULL;

DROP INDEX refunds_member;
CREATE INDEX refunds_qualifying ON refunds (member_id, purchase_occurred_at) INCLUDE (points_reversed, amount_minor);

-- Inactivity is measured on the same clock: a purchase made 13 months ago
-- and sent now is not activity of this month.
CREATE OR REPLACE FUNCTION ledger_entries_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members m
       SET balance = m.balance + n.points,
           lifetime_earned = m.lifetime_earned + n.earned,
           last_activity_at = GREATEST(m.last_activity_at, n.active_at)
      FROM (SELECT member_id, sum(points) AS points, sum(GREATEST(points, 0)) AS earned,
                   max(coalesce(qualifies_at, created_at)) FILTER (
                       WHERE kind IN ('purchase_earn', 'partner_earn', 'redemption')
                          OR (kind = 'bonus' AND breakdown -> 0 ->> 'source' <> 'birthday')) AS active_at
              FROM new_entries GROUP BY member_id) AS n
     WHERE m.member_id = n.member_id;
    RETURN NULL;
END $$;
