-- Members the points service closed (MemberClosed), kept beside their tiers.
-- A table of its own rather than a column of member_tiers: a member_tiers row
-- needs a tier, and a closure is kept even when read before any tier event of
-- the member (events may arrive in any order, like the tier events).
CREATE TABLE member_closures (
    member_id text        PRIMARY KEY,
    -- When points closed the member. A closure is final: the first one read stands.
    closed_at timestamptz NOT NULL
);
