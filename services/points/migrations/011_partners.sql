-- Partners, their conversion rates and API keys, and the accruals they send.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption', 'refund', 'debt_repayment', 'expiry', 'bonus',
                    'partner_earn'));

CREATE TABLE partners (
    partner_id  text        PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    kind        text        NOT NULL CHECK (kind IN ('airline', 'hotel', 'car', 'retail', 'other')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Rates are facts with a start: a new rate is a new row, history is kept.
CREATE TABLE partner_rates (
    partner_id      text          NOT NULL REFERENCES partners (partner_id),
    unit            text          NOT NULL CHECK (unit ~ '^[A-Z0-9_]{1,16}$'),
    points_per_unit numeric(14,4) NOT NULL CHECK (points_per_unit > 0),
    rounding        text          NOT NULL CHECK (rounding IN ('down', 'half_up', 'up')),
    effective_from  timestamptz   NOT NULL,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, unit, effective_from)
);

-- Only a hash of each key is kept; the key itself is shown once.
CREATE TABLE partner_credentials (
    credential_id uuid        PRIMARY KEY,
    partner_id    text        NOT NULL REFERENCES partners (partner_id),
    key_hash      bytea       NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- An accepted accrual: the partner's transaction id credits once, forever.
CREATE TABLE partner_accruals (
    partner_id             text        NOT NULL REFERENCES partners (partner_id),
    partner_transaction_id text        NOT NULL,
    member_id              text        NOT NULL REFERENCES members (member_id),
    points                 bigint      NOT NULL CHECK (points >= 0),
    -- NULL when the accrual converted to no whole point.
    entry_id               uuid        REFERENCES ledger_entries (entry_id),
    accepted_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, partner_transaction_id)
);

-- Every answer given to a partner, for the daily control totals.
CREATE TABLE partner_accrual_results (
    partner_id             text        NOT NULL REFERENCES partners (partner_id),
    partner_transaction_id text        NOT NULL,
    status                 text        NOT NULL CHECK (status IN ('accepted', 'duplicate', 'unknown_member',
                                                                  'name_mismatch', 'invalid', 'rate_missing')),
    amount                 numeric     NOT NULL DEFAULT 0,
    points                 bigint      NOT NULL DEFAULT 0,
    received_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX partner_accrual_results_day ON partner_accrual_results (partner_id, received_at);
