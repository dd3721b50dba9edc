-- migrate: no-transaction
-- Built concurrently: members is large and written by every purchase (see services/common/migrations.py).
-- The expiry job's pass over members who owe points or are overdrawn (settling what holds that ran out freed)
-- looks them up here instead of reading every member; few members owe at any time, so the index stays small.
CREATE INDEX CONCURRENTLY IF NOT EXISTS members_owing ON members (member_id)
    WHERE points_owed > 0 OR points_overdrawn > 0;
