-- When each member last did something that keeps points alive under an
-- inactivity expiry policy: earned points by a purchase, a partner accrual or
-- an action of their own (any bonus but the birthday one, which comes by
-- itself every year), or redeemed points. Corrections, goodwill, refunds and
-- expiry are not the member's activity.
--
-- Before, the expiry job found dormant members by the newest lot of every
-- member, aggregating the whole lots table on every pass, and counted neither
-- redemptions (a member spending points was "inactive") nor left out birthday
-- bonuses (which kept every dormant member's points alive).

ALTER TABLE members ADD COLUMN last_activity_at timestamptz;

UPDATE members m SET last_activity_at = a.at
  FROM (SELECT member_id, max(created_at) AS at FROM ledger_entries
         WHERE kind IN ('purchase_earn', 'partner_earn', 'redemption')
            OR (kind = 'bonus' AND breakdown -> 0 ->> 'source' <> 'birthday')
         GROUP BY member_id) AS a
 WHERE a.member_id = m.member_id;

-- The balance trigger keeps it, on the member row it updates anyway.
CREATE OR REPLACE FUNCTION ledger_entries_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members m
       SET balance = m.balance + n.points,
           lifetime_earned = m.lifetime_earned + n.earned,
           last_activity_at = GREATEST(m.last_activity_at, n.active_at)
      FROM (SELECT member_id, sum(points) AS points, sum(GREATEST(points, 0)) AS earned,
                   max(created_at) FILTER (
                       WHERE kind IN ('purchase_earn', 'partner_earn', 'redemption')
                          OR (kind = 'bonus' AND breakdown -> 0 ->> 'source' <> 'birthday')) AS active_at
              FROM new_entries GROUP BY member_id) AS n
     WHERE m.member_id = n.member_id;
    RETURN NULL;
END $$;
