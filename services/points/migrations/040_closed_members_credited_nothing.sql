-- A closed member (CloseMember, 034) keeps no points: its closure forfeited them, and this release refuses whatever
-- would credit it (FAILED_PRECONDITION) before writing anything. Replicas of a release before 034, still running
-- during a rollout or brought back by a rollback, know nothing of closures and would credit it: the points would stay
-- on a closed account, spendable by nobody and forfeited by nothing (a second CloseMember is a repeat). So the
-- database holds the rule, for every version of the code: an entry that adds points, or a new lot (a credit's points,
-- spendable or pending), for a member whose row says closed is refused as a failed CHECK (SQLSTATE 23514, constraint
-- members_closed_credited_nothing). Every release answers that as a value the database will not store
-- (FAILED_PRECONDITION; an event is dead-lettered) and rolls its transaction back.
--
-- What is still written for a closed member adds no points, and passes: the closure's own forfeiture (an expiry
-- entry, written before the status changes), refunds of its earlier purchases and what they leave owed or overdrawn
-- (refund and debt_repayment entries, lot draws), partner cancellations, a referral bonus a return voids.
--
-- Once per statement, over the rows it inserted (the transition table the balance trigger reads too): purchase and
-- partner batches write many entries and lots in one statement, where a row trigger would run once for each. Only
-- rows adding points are looked up, each member by its primary key. No lock of its own is needed: the foreign key to
-- members has locked each member FOR KEY SHARE already (its row triggers fire before statement triggers), so a
-- closure, which locks its member FOR UPDATE first, either committed before this query's snapshot was taken (read
-- committed: taken now) and is seen, or waits for this transaction and forfeits what it credited.
CREATE FUNCTION closed_members_credited_nothing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed_member text;
BEGIN
    SELECT m.member_id INTO closed_member
      FROM members m
     WHERE m.member_id IN (SELECT member_id FROM credited WHERE points > 0) AND m.status = 'closed'
     LIMIT 1;
    IF closed_member IS NOT NULL THEN
        RAISE EXCEPTION 'member % is closed: nothing may credit it points', closed_member
            USING ERRCODE = 'check_violation', CONSTRAINT = 'members_closed_credited_nothing',
                  TABLE = TG_TABLE_NAME,
                  HINT = 'a replica of a release before migration points/034 may still be running';
    END IF;
    RETURN NULL;
END $$;

-- A lot's points are always positive (lots CHECK): every new lot is a credit. Creating a trigger scans and rewrites
-- nothing; its lock stops writes to the table for an instant.
CREATE TRIGGER ledger_entries_closed_members AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS credited FOR EACH STATEMENT EXECUTE FUNCTION closed_members_credited_nothing();
CREATE TRIGGER lots_closed_members AFTER INSERT ON lots
    REFERENCING NEW TABLE AS credited FOR EACH STATEMENT EXECUTE FUNCTION closed_members_credited_nothing();
