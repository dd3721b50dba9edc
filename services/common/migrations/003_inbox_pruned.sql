-- Inbox rows are forgotten once no delivery can repeat their event (see
-- services/common/inbox.py). The table only grows at its end, so a block range
-- index finds the old rows, at almost no cost to each insert.
CREATE INDEX inbox_applied ON inbox USING brin (applied_at);
