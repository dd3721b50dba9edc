-- Each redemption keeps the value and name its reward had when the member
-- redeemed it (or was granted it as a perk). Its code read them from the
-- reward as it is now, so UpdateReward changed what every voucher already
-- paid for was worth (5 USD off became 1 USD off at the till). Issued is
-- issued: the code's value is a promise.

ALTER TABLE redemptions
    ADD COLUMN reward_name   text,
    ADD COLUMN kind          text CHECK (kind IN
                               ('discount_fixed', 'discount_percent', 'free_product', 'upgrade', 'cashback', 'partner')),
    ADD COLUMN amount_minor  bigint CHECK (amount_minor >= 0),
    ADD COLUMN currency_code text,
    ADD COLUMN percent_off   integer CHECK (percent_off BETWEEN 0 AND 100),
    ADD COLUMN sku           text,
    ADD COLUMN partner       text;

-- What they were worth when issued is not known: the reward's value now is the best known.
-- (ADD COLUMN holds the table's lock to the end of this file, so no redemption is written meanwhile.)
UPDATE redemptions d
   SET reward_name = w.name, kind = w.kind, amount_minor = w.amount_minor, currency_code = w.currency_code,
       percent_off = w.percent_off, sku = w.sku, partner = w.partner
  FROM rewards w
 WHERE w.reward_id = d.reward_id;

ALTER TABLE redemptions
    ALTER COLUMN reward_name SET NOT NULL,
    ALTER COLUMN kind SET NOT NULL,
    ALTER COLUMN amount_minor SET NOT NULL,
    ALTER COLUMN currency_code SET NOT NULL,
    ALTER COLUMN percent_off SET NOT NULL,
    ALTER COLUMN sku SET NOT NULL,
    ALTER COLUMN partner SET NOT NULL;
