-- Validates 038's kind constraint on the entries already there, in a transaction of its own: VALIDATE CONSTRAINT
-- scans the ledger under a lock that lets purchases and every other write go on, where 038's ADD blocked them.
ALTER TABLE ledger_entries VALIDATE CONSTRAINT ledger_entries_kind_check;
