-- Each redemption keeps the value and name its reward had when the member
-- redeemed it (or was granted it as a perk). Its code read them from the
-- reward as it is now, so UpdateReward changed what every voucher already
-- paid for was worth (5 USD off became 1 USD off at the till). Issued is
-- issued: the code's value is a promise.
--
-- Additive only (docs/operations.md): the running version keeps writing
-- redemptions without these during a rolling deploy, and a rollback needs
-- nothing undone. A redemption without them shows its reward's value as it is
-- now, as before. 007 fills in the redemptions made before this one.

ALTER TABLE redemptions
    ADD COLUMN reward_name   text,
    ADD COLUMN kind          text CHECK (kind IN
                               ('discount_fixed', 'discount_percent', 'free_product', 'upgrade', 'cashback', 'partner')),
    ADD COLUMN amount_minor  bigint CHECK (amount_minor >= 0),
    ADD COLUMN currency_code text,
    ADD COLUMN percent_off   integer CHECK (percent_off BETWEEN 0 AND 100),
    ADD COLUMN sku           text,
    ADD COLUMN partner       text,
    ADD CHECK ((reward_name IS NULL) = (kind IS NULL));
