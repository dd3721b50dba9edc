-- When the member was closed (MemberClosed): nothing more is sent to a closed member. NULL while open.
-- Adding a column with no default rewrites nothing: the lock is held for an instant.
ALTER TABLE members ADD COLUMN closed_at timestamptz;
