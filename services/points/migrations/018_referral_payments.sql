-- Which purchase paid each referral: returning it while the referral bonus is
-- still pending voids the bonus, so enrolling, buying and returning pays no
-- referrer. Referrals paid before this table existed are not listed, and a
-- return does not void them.
CREATE TABLE referral_payments (
    referee_id  text PRIMARY KEY REFERENCES members (member_id),
    purchase_id text NOT NULL UNIQUE REFERENCES purchases (purchase_id),
    -- The refund that voided the bonus, once one has.
    voided_by   text REFERENCES refunds (refund_id)
);
