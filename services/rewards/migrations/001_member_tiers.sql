-- The service's own view of each member's tier, kept from points events.
CREATE TABLE member_tiers (
    member_id  text        PRIMARY KEY,
    tier       text        NOT NULL,
    -- occurred_at of the event that set the tier; older events do not overwrite it.
    changed_at timestamptz NOT NULL
);
