-- Members and their append-only points ledger.

CREATE TABLE members (
    member_id       text        PRIMARY KEY CHECK (member_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    email           text        NOT NULL DEFAULT '',
    given_name      text        NOT NULL DEFAULT '',
    family_name     text        NOT NULL DEFAULT '',
    tier            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    -- Maintained only by the ledger trigger below: always the sum of the entries.
    balance         bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    lifetime_earned bigint      NOT NULL DEFAULT 0 CHECK (lifetime_earned >= 0)
);

CREATE TABLE ledger_entries (
    -- Insertion order; the keyset for paging.
    seq             bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    entry_id        uuid        PRIMARY KEY,
    member_id       text        NOT NULL REFERENCES members (member_id),
    kind            text        NOT NULL CHECK (kind IN ('purchase_earn')),
    points          bigint      NOT NULL,
    -- Every mutation has one; repeating it must find this row, never write another.
    idempotency_key text        NOT NULL UNIQUE,
    description     text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_entries_member_seq ON ledger_entries (member_id, seq DESC);

-- The only way a balance changes: an entry is inserted.
CREATE FUNCTION ledger_entry_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE members
       SET balance = balance + NEW.points,
           lifetime_earned = lifetime_earned + GREATEST(NEW.points, 0)
     WHERE member_id = NEW.member_id;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entry_applied AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_applied();

-- Entries are facts: corrections are new entries, never edits.
CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END $$;

CREATE TRIGGER ledger_is_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- A purchase id earns once, whichever path (gRPC or Kafka) it came by.
CREATE TABLE purchases (
    purchase_id     text        PRIMARY KEY,
    member_id       text        NOT NULL REFERENCES members (member_id),
    amount_minor    bigint      NOT NULL CHECK (amount_minor >= 0),
    currency_code   char(3)     NOT NULL,
    channel         text        NOT NULL DEFAULT '',
    line_items      jsonb       NOT NULL DEFAULT '[]',
    occurred_at     timestamptz NOT NULL,
    points_earned   bigint      NOT NULL CHECK (points_earned >= 0),
    -- NULL when the purchase earned nothing (below one whole currency unit).
    entry_id        uuid        REFERENCES ledger_entries (entry_id),
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX purchases_member ON purchases (member_id, occurred_at DESC);
