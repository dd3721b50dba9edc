-- Transactional outbox: events are inserted in the same transaction as the
-- state change they describe; the relay publishes them in id order and marks
-- each row published only after the broker acknowledged it. Published rows are
-- kept for a retention period so they can be replayed to a broker that lost
-- its log (the embedded in-memory broker after a restart).
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    topic       text        NOT NULL CHECK (topic <> ''),
    message_key text        NOT NULL,
    event_type  text        NOT NULL CHECK (event_type <> ''),
    -- The serialized loyalty.events.v1.EventEnvelope.
    envelope    bytea       NOT NULL,
    traceparent text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The highest offset the broker acknowledged per partition. An acknowledgement
-- at or below it means the partition's log was lost and started again.
CREATE TABLE outbox_partition_offsets (
    topic       text   NOT NULL,
    partition   integer NOT NULL,
    last_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Wakes the relay as soon as a transaction with events commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Inbox: one row per consumed event id, written in the transaction that
-- applied the event, so a redelivered event finds its id and changes nothing.
CREATE TABLE inbox (
    consumer   text        NOT NULL,
    event_id   text        NOT NULL,
    topic      text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
