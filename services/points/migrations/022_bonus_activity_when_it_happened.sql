-- A configured action or a referral reported late is activity of the day it happened, as a purchase sent late
-- is: a bonus's day is its lot's earned_at (never later than when it was recorded). Before, every bonus counted
-- as activity of the day it reached the service, and kept a dormant member's points from expiring.
-- The lot is written by the same statement as its entry, so this statement-level trigger sees it.
CREATE OR REPLACE FUNCTION ledger_entries_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members m
       SET balance = m.balance + n.points,
           lifetime_earned = m.lifetime_earned + n.earned,
           last_activity_at = GREATEST(m.last_activity_at, n.active_at)
      FROM (SELECT member_id, sum(points) AS points, sum(GREATEST(points, 0)) AS earned,
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
