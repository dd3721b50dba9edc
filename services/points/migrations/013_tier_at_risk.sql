-- The requalification date a member was last checked for being at risk of
-- losing their tier (TierAtRisk is sent at most once per date).
ALTER TABLE members ADD COLUMN at_risk_checked_for timestamptz;
