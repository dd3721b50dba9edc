-- A missing-points claim names a purchase or a partner and its transaction id
-- (a flight, a stay). Before, only the purchase id was kept: a partner claim
-- was stored with an empty purchase id and lost the transaction it was about,
-- so an agent could not tell which flight or stay the member meant. Those
-- claims cannot be recovered; they stay with an empty purchase id.

ALTER TABLE tickets
    ADD COLUMN claim_partner_id text,
    ADD COLUMN claim_partner_transaction_id text,
    ADD CONSTRAINT tickets_claim_partner_with_transaction
        CHECK ((claim_partner_id IS NULL) = (claim_partner_transaction_id IS NULL)),
    ADD CONSTRAINT tickets_claim_purchase_or_partner
        CHECK (claim_partner_id IS NULL OR (claim_purchase_id = '' AND claim_status IS NOT NULL));
