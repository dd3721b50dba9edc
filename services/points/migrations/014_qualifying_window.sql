-- Tier qualification reads only the window's rows. Before, a points-basis value
-- walked every entry the member ever had (the index was on seq), and a
-- spend-basis value every purchase the member ever refunded: a hot account got
-- slower year after year.

-- Points earned in a window: a range scan over the window's entries.
CREATE INDEX ledger_entries_qualifying ON ledger_entries (member_id, created_at) INCLUDE (points)
    WHERE kind IN ('purchase_earn', 'partner_earn', 'refund');

-- Money spent in a window: the purchases' amounts come from the index.
DROP INDEX purchases_member;
CREATE INDEX purchases_member ON purchases (member_id, occurred_at DESC) INCLUDE (currency_code, amount_minor);

-- Refunds in a window, found by member rather than through all of the member's purchases.
ALTER TABLE refunds ADD COLUMN member_id text REFERENCES members (member_id);
UPDATE refunds r SET member_id = p.member_id FROM purchases p WHERE p.purchase_id = r.purchase_id;
ALTER TABLE refunds ALTER COLUMN member_id SET NOT NULL;
CREATE INDEX refunds_member ON refunds (member_id, occurred_at);
