-- Goodwill on a missing-points claim stands for the claimed points (docs/tickets.md): GoodwillGranted names the
-- claimed purchase, or partner and transaction, and its credit keeps it. When that purchase or partner
-- transaction arrives later for the same member it earns only what exceeds the goodwill. NULL: the ticket was not
-- a claim, or the event came from before GoodwillGranted named it (nothing is settled). Adding nullable columns
-- rewrites nothing.
ALTER TABLE goodwill_credits
    ADD COLUMN claim_purchase_id text,
    ADD COLUMN claim_partner_id text,
    ADD COLUMN claim_partner_transaction_id text,
    ADD CONSTRAINT goodwill_credits_claim_named CHECK (claim_purchase_id <> '' AND claim_partner_id <> ''
                                                       AND claim_partner_transaction_id <> ''),
    ADD CONSTRAINT goodwill_credits_claim_partner_with_transaction
        CHECK ((claim_partner_id IS NULL) = (claim_partner_transaction_id IS NULL)),
    ADD CONSTRAINT goodwill_credits_claim_purchase_or_partner
        CHECK (claim_purchase_id IS NULL OR claim_partner_id IS NULL);

-- A member's claim is settled by one goodwill credit (the tickets service grants goodwill once per claim), and a
-- batch of purchases or partner accruals looks its ids up here in one statement.
CREATE UNIQUE INDEX goodwill_credits_purchase_claim
    ON goodwill_credits (claim_purchase_id, member_id) WHERE claim_purchase_id IS NOT NULL;
CREATE UNIQUE INDEX goodwill_credits_partner_claim
    ON goodwill_credits (claim_partner_id, claim_partner_transaction_id, member_id)
    WHERE claim_partner_id IS NOT NULL;
