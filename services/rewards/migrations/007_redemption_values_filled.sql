-- The redemptions made before 006 keep their reward's value as it is now, the
-- best known of what it was when they were made, so that later edits leave
-- them alone too. A file of its own: its own transaction, so the rows are
-- locked one by one as they are filled, not the table behind 006's ALTER.

UPDATE redemptions d
   SET reward_name = w.name, kind = w.kind, amount_minor = w.amount_minor, currency_code = w.currency_code,
       percent_off = w.percent_off, sku = w.sku, partner = w.partner
  FROM rewards w
 WHERE w.reward_id = d.reward_id AND d.kind IS NULL;
