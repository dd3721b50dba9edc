-- Members are reminded (PointsExpiring) before the inactivity policy takes their points, as before a term ends.
-- The date a member was last reminded of: activity since moves the date, and the member is reminded again.
ALTER TABLE members ADD COLUMN inactivity_reminded_for timestamptz;

-- Both the inactivity sweep and its reminders look members up by when they were last active.
CREATE INDEX members_last_active ON members ((GREATEST(last_activity_at, enrolled_at)));
