-- A member judged safe (or warned) for a requalification date is judged again when another program version comes
-- into force before it: new thresholds, a new basis or window can put a safe member at risk, or change what an
-- at-risk one needs. The version that judged, and what a warning said, are kept so that a member is warned again
-- only when the warning would say something new.
-- Adding columns with no default rewrites nothing: the lock is held for an instant.
ALTER TABLE members ADD COLUMN at_risk_checked_under integer, ADD COLUMN at_risk_warning text;
-- Members checked before this migration count as checked under the version in force now: judged again at the next
-- version, not all at once on the day this is deployed (when the warned would be warned twice).
UPDATE members SET at_risk_checked_under = (
    SELECT version FROM programs WHERE effective_from <= now() ORDER BY effective_from DESC LIMIT 1
) WHERE at_risk_checked_for IS NOT NULL;
