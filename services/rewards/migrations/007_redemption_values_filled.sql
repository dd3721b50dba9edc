-- The redemptions made before 006 keep their reward's value as it is now, the
-- best known of what it was when they were made, so that later edits leave
-- them alone too. A file of its own, so its own transaction: it holds the
-- older redemptions' row locks until it commits, not 006's lock on the whole
-- table, and new redemptions are written meanwhile.

UPDATE redemptions d
   SET reward_name = w.name, kind = w.kind, amount_minor = w.amount_minor, currency_code = w.currency_code,
       percent_off = w.percent_off, sku = w.sku, partner = w.partner
  FROM rewards w
 WHERE w.reward_id = d.reward_id AND d.kind IS NULL;
