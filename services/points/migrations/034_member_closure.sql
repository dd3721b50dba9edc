-- CloseMember: when, why and by whom a member was closed. Nothing could close a member before this migration, so
-- every member is active and none of these is set.
-- Adding columns with no default rewrites nothing: the lock is held for an instant.
ALTER TABLE members ADD COLUMN closed_at timestamptz, ADD COLUMN closed_reason text, ADD COLUMN closed_by text;
-- A closed member says when, why and by whom; an active one none of it. NOT VALID: checked on every write from now
-- on, without scanning the table under this migration's lock; 035 validates the rows already there.
ALTER TABLE members ADD CONSTRAINT members_closed_when_closed CHECK (
    (status = 'closed') = (closed_at IS NOT NULL)
    AND (status = 'closed') = (closed_reason IS NOT NULL)
    AND (status = 'closed') = (closed_by IS NOT NULL)
) NOT VALID;
