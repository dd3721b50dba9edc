-- Balances follow the ledger once per statement instead of once per entry:
-- a batch of a thousand partner accruals updates each member row once.
-- Still the only way a balance changes.

DROP TRIGGER ledger_entry_applied ON ledger_entries;
DROP FUNCTION ledger_entry_applied();

CREATE FUNCTION ledger_entries_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members m
       SET balance = m.balance + n.points,
           lifetime_earned = m.lifetime_earned + n.earned
      FROM (SELECT member_id, sum(points) AS points, sum(GREATEST(points, 0)) AS earned
              FROM new_entries GROUP BY member_id) AS n
     WHERE m.member_id = n.member_id;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_applied AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_applied();
