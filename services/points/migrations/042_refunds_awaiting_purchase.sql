-- A PurchaseRefunded may arrive before the PurchaseMade it refunds: purchases and refunds come from different
-- systems (till, returns desk, back office) and by different paths (gRPC, Kafka). The refund is kept here, once
-- per refund id, and applied in the transaction that records its purchase (services/points/awaiting_refunds.py).
-- One its purchase refuses when it comes (another member, currency or more than was paid) stays, with the reason,
-- for an operator (docs/operations.md).
CREATE TABLE refunds_awaiting_purchase (
    refund_id text PRIMARY KEY,
    purchase_id text NOT NULL,
    member_id text NOT NULL,
    amount_minor bigint NOT NULL,
    currency_code text NOT NULL,
    occurred_at timestamptz NOT NULL,
    kept_at timestamptz NOT NULL DEFAULT now(),
    refused_reason text
);

-- Each batch of purchases recorded looks its ids up here.
CREATE INDEX refunds_awaiting_purchase_purchase_id ON refunds_awaiting_purchase (purchase_id);
