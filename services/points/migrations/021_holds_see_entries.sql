-- A hold reserves points of the lots it saw when it was taken: those of the member's entries numbered up to
-- seen_seq (the member's highest entry then; every writer locks the member first, so a lot written later has a
-- higher number). Time cannot tell: a purchase whose transaction began before a hold may write its lot after the
-- hold committed, and a late purchase's lot is dated when the purchase was made.
ALTER TABLE holds ADD COLUMN seen_seq bigint;

UPDATE holds h
   SET seen_seq = coalesce((SELECT max(e.seq) FROM ledger_entries e
                             WHERE e.member_id = h.member_id AND e.created_at <= h.created_at), 0);

ALTER TABLE holds ALTER COLUMN seen_seq SET NOT NULL;
