-- A reminder announces the points no open hold reserves (GetPointsSchedule's). What it announced is kept, so that
-- points a hold kept from it and then gave back (released, run out) are announced before they go, in a reminder
-- of their own. Rows reminded before keep NULL: taken as having announced all their points.
-- Adding a column with no default rewrites nothing: the lock is held for an instant.
ALTER TABLE lots ADD COLUMN reminded_points bigint;
ALTER TABLE members ADD COLUMN inactivity_reminded_points bigint;
