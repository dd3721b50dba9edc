-- The relay's work list, apart from the events: an event is pending from the
-- transaction that writes it until the broker acknowledges it, and publishing
-- deletes its pending row. Marking the event itself published was an update,
-- which wrote a second copy of the row and of each of its index entries for
-- every event; now an event is written once.
CREATE TABLE outbox_pending (
    id bigint PRIMARY KEY REFERENCES outbox (id)
);

INSERT INTO outbox_pending (id) SELECT id FROM outbox WHERE published_at IS NULL;

DROP INDEX outbox_unpublished;
DROP INDEX outbox_published;
ALTER TABLE outbox DROP COLUMN published_at;

-- Events are kept for the retention period after they were written (and
-- always until published), for replay to a broker that lost its log. The table
-- only grows at its end, so a block range index finds the old rows.
CREATE INDEX outbox_created ON outbox USING brin (created_at);
