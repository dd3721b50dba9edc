-- Which tier each member held, and since when: a purchase's tier bonus follows the tier the member held when it was
-- made (docs/program.md, How a purchase is priced), and a purchase may arrive long after the member moved on.
--
-- Written by the database, not by the code that moves members: every tier a member row takes, at enrolment and at
-- every move, whatever release wrote it (a replica of a release before this one, still running during a rollout,
-- moves members too). A move stamps tier_since, which is when it happened; a write that changes the tier and not
-- tier_since happened now.
CREATE TABLE member_tier_history (
    member_id text        NOT NULL REFERENCES members (member_id),
    since     timestamptz NOT NULL,
    tier      text        NOT NULL,
    PRIMARY KEY (member_id, since)
);

CREATE FUNCTION keep_member_tier_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tier IS NOT DISTINCT FROM OLD.tier THEN
        RETURN NULL;
    END IF;
    INSERT INTO member_tier_history (member_id, since, tier)
    VALUES (
        NEW.member_id,
        CASE WHEN TG_OP = 'INSERT' THEN coalesce(NEW.tier_since, NEW.enrolled_at)
             ELSE coalesce(nullif(NEW.tier_since, OLD.tier_since), now()) END,
        NEW.tier)
    -- Two moves at one instant (one transaction placing and then moving a member): the last one holds.
    ON CONFLICT (member_id, since) DO UPDATE SET tier = EXCLUDED.tier;
    RETURN NULL;
END $$;

-- Row triggers: members are enrolled and moved a few at a time; purchase batches update balances, not tiers, and an
-- UPDATE that does not name tier does not fire it.
CREATE TRIGGER members_tier_history AFTER INSERT OR UPDATE OF tier ON members
    FOR EACH ROW EXECUTE FUNCTION keep_member_tier_history();

-- Members enrolled before this migration: the tier they hold, since they reached it. What they held before that is
-- not known; pricing takes the earliest tier known for a purchase made before it.
INSERT INTO member_tier_history (member_id, since, tier)
SELECT member_id, coalesce(tier_since, enrolled_at), tier FROM members;
