-- migrate: no-transaction
-- Built concurrently: members is large and written by every purchase (see services/common/migrations.py).
-- The inactivity sweep and its reminders walk the members last active in a range a page at a time. Ordered by
-- when they were last active and then by id, a page starts where the last one ended: ordered by id alone, each
-- page read the whole range again, and a pass over many members due at once (a cohort enrolled on one day)
-- took time growing with the square of their number. The new index is built beside the old one, which is
-- dropped once it is there.
CREATE INDEX CONCURRENTLY IF NOT EXISTS members_last_active_keyset
    ON members ((GREATEST(last_activity_at, enrolled_at)), member_id);
DROP INDEX CONCURRENTLY IF EXISTS members_last_active;
