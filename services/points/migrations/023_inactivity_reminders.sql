-- migrate: no-transaction
-- members is large and written by every purchase: its index is built concurrently, without blocking writes,
-- which a transaction cannot do. Each statement commits on its own and may run again after a failure midway,
-- hence IF NOT EXISTS (see services/common/migrations.py).

-- Members are reminded (PointsExpiring) before the inactivity policy takes their points, as before a term ends.
-- The date a member was last reminded of: activity since moves the date, and the member is reminded again.
ALTER TABLE members ADD COLUMN IF NOT EXISTS inactivity_reminded_for timestamptz;

-- Both the inactivity sweep and its reminders look members up by when they were last active.
CREATE INDEX CONCURRENTLY IF NOT EXISTS members_last_active ON members ((GREATEST(last_activity_at, enrolled_at)));
