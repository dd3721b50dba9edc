-- Earned points live in lots; spending, expiry and reversals draw from them.
-- Holds reserve points for a redemption until captured, released or expired.

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('purchase_earn', 'adjustment', 'redemption'));

CREATE TABLE lots (
    lot_id       uuid        PRIMARY KEY,
    member_id    text        NOT NULL REFERENCES members (member_id),
    -- The credit that created the lot.
    entry_id     uuid        NOT NULL UNIQUE REFERENCES ledger_entries (entry_id),
    points       bigint      NOT NULL CHECK (points > 0),
    remaining    bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    earned_at    timestamptz NOT NULL,
    -- Pending until then: counted in the balance, not spendable.
    available_at timestamptz NOT NULL,
    -- NULL: never expires.
    expires_at   timestamptz CHECK (expires_at IS NULL OR expires_at > earned_at)
);

-- Spending takes from the lots that expire first (NULL, never, last).
CREATE INDEX lots_spendable ON lots (member_id, expires_at NULLS LAST, earned_at) WHERE remaining > 0;

-- Which lots a debit drew from, and how much: the audit trail of every spend.
CREATE TABLE lot_draws (
    entry_id uuid   NOT NULL REFERENCES ledger_entries (entry_id),
    lot_id   uuid   NOT NULL REFERENCES lots (lot_id),
    points   bigint NOT NULL CHECK (points > 0),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE holds (
    hold_id          uuid        PRIMARY KEY,
    member_id        text        NOT NULL REFERENCES members (member_id),
    points           bigint      NOT NULL CHECK (points > 0),
    idempotency_key  text        NOT NULL UNIQUE,
    description      text        NOT NULL DEFAULT '',
    status           text        NOT NULL CHECK (status IN ('held', 'captured', 'released')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- After this an uncaptured hold reserves nothing, whatever its status says.
    expires_at       timestamptz NOT NULL CHECK (expires_at > created_at),
    settled_at       timestamptz,
    capture_entry_id uuid        REFERENCES ledger_entries (entry_id),
    CHECK ((status = 'captured') = (capture_entry_id IS NOT NULL)),
    CHECK ((status = 'held') = (settled_at IS NULL))
);

CREATE INDEX holds_active ON holds (member_id, expires_at) WHERE status = 'held';

-- Points earned before lots existed become lots that never expire.
INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at)
SELECT gen_random_uuid(), member_id, entry_id, points, points, created_at, created_at
  FROM ledger_entries
 WHERE points > 0;
