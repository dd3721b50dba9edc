-- How each earning entry was computed (base, each rule, tier bonus, caps),
-- and when a member's tier was reached and is next requalified.

ALTER TABLE ledger_entries ADD COLUMN breakdown jsonb NOT NULL DEFAULT '[]';

ALTER TABLE members ADD COLUMN tier_since timestamptz;
-- NULL while the member holds the lowest tier: nothing to requalify.
ALTER TABLE members ADD COLUMN requalify_at timestamptz;

CREATE INDEX members_requalify ON members (requalify_at) WHERE requalify_at IS NOT NULL;
