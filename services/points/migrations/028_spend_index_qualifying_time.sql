-- migrate: no-transaction
-- Built concurrently: purchases is large and written by every purchase (see services/common/migrations.py).
-- Money spent in a window is counted by the time a purchase qualifies (026): that time joins the amounts in the
-- index, so a member's spend in a window is still read from the index alone. The new index is built beside the
-- old one, which is dropped once it is there.
CREATE INDEX CONCURRENTLY IF NOT EXISTS purchases_member_spend ON purchases (member_id, occurred_at DESC)
    INCLUDE (currency_code, amount_minor, qualifies_at);
DROP INDEX CONCURRENTLY IF EXISTS purchases_member;
