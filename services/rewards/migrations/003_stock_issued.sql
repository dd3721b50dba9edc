-- Units issued are counted always, limited stock or not; units left are derived
-- from them. Before, only the units left were kept, and only for limited
-- stock: a reward made limited after being unlimited started from zero issued,
-- so it could issue its new total again on top of what was out, and a
-- cancellation of a unit issued while unlimited pushed the units left above
-- the total, which the CHECK refused, so that cancellation failed for good.

ALTER TABLE rewards ADD COLUMN stock_issued bigint NOT NULL DEFAULT 0 CHECK (stock_issued >= 0);

-- Limited: what the total and the units left say. Unlimited: the redemptions
-- and perks holding a unit (reserved or completed; a cancelled one gave it back).
UPDATE rewards r
   SET stock_issued = CASE
       WHEN r.stock_total IS NOT NULL THEN r.stock_total - r.stock_available
       ELSE (SELECT count(*) FROM redemptions d WHERE d.reward_id = r.reward_id AND d.step IN ('reserved', 'completed'))
   END;

ALTER TABLE rewards
    DROP COLUMN stock_available,
    ADD COLUMN stock_available bigint GENERATED ALWAYS AS (stock_total - stock_issued) STORED,
    ADD CONSTRAINT rewards_stock_issued_within_total CHECK (stock_total IS NULL OR stock_issued <= stock_total);
