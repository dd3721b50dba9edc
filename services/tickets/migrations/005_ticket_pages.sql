-- migrate: no-transaction
-- Built concurrently: tickets is written by every ticket call (see services/common/migrations.py).
-- ListTickets and GetQueue page by keyset (the last ticket of a page, in the listing's order, ticket id last so
-- the order is total): each index below gives a listing in its order and starts a page at its token. Each
-- replaces one without the ticket id, dropped once the new one is there.
-- ListTickets, newest first: all tickets, one member's, one agent's (read backwards).
CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_opened_id ON tickets (opened_at, ticket_id);
DROP INDEX CONCURRENTLY IF EXISTS tickets_opened;
CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_member_opened ON tickets (member_id, opened_at, ticket_id);
DROP INDEX CONCURRENTLY IF EXISTS tickets_member;
CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_assignee_opened ON tickets (assignee, opened_at, ticket_id);
-- The queue, in its order (services/tickets/store.py): priority, then longest waiting.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_queue_order
    ON tickets ((array_position(ARRAY['urgent', 'high', 'normal', 'low'], priority)), queued_at, ticket_id)
    WHERE queued_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS tickets_queue;
