-- Validates 034's constraint on the members already there, in a transaction of its own: VALIDATE CONSTRAINT scans
-- the table under a lock that lets purchases and every other write go on, where 034's ADD blocked them.
ALTER TABLE members VALIDATE CONSTRAINT members_closed_when_closed;
