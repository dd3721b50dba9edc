-- Goodwill granted on support tickets (GoodwillGranted on tickets.events.v1):
-- one credit per ticket, whatever event carried it, with the ticket on the entry.
CREATE TABLE goodwill_credits (
    ticket_id   text        PRIMARY KEY CHECK (ticket_id <> ''),
    member_id   text        NOT NULL REFERENCES members (member_id),
    entry_id    uuid        NOT NULL UNIQUE REFERENCES ledger_entries (entry_id),
    points      bigint      NOT NULL CHECK (points > 0),
    reason      text        NOT NULL,
    granted_by  text        NOT NULL,
    approved_by text        NOT NULL DEFAULT '',
    granted_at  timestamptz NOT NULL,
    event_id    text        NOT NULL
);
