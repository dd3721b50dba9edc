-- migrate: no-transaction
-- Built concurrently: the inbox takes a row per event applied (see services/common/migrations.py).
-- Inbox rows are forgotten once no delivery can repeat their event (see
-- services/common/inbox.py): an index by time finds the old ones. A b-tree,
-- not a block range index: once pruning frees pages, new rows fill them, and
-- block ranges would then span every time.
CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_applied ON inbox (applied_at);
