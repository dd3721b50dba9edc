-- Goodwill for a claim whose purchase or partner transaction was credited before the grant reached the points
-- service credits only what exceeds the points that earned (docs/tickets.md). When that leaves nothing the grant is
-- still kept here, so a replay of it credits nothing, with no ledger entry. points stays the points granted; the
-- entry, when there is one, has those credited. Dropping NOT NULL rewrites nothing.
ALTER TABLE goodwill_credits ALTER COLUMN entry_id DROP NOT NULL;
-- Only a claim's goodwill can go without an entry. Every row there has one (entry_id was NOT NULL), and the table
-- holds a row per ticket given goodwill: validating it under this lock takes an instant.
ALTER TABLE goodwill_credits ADD CONSTRAINT goodwill_credits_entry_unless_claim
    CHECK (entry_id IS NOT NULL OR claim_purchase_id IS NOT NULL OR claim_partner_id IS NOT NULL);
