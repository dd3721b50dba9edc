-- Earning programs as data: every applied definition is an immutable version.
-- A purchase is priced by the version whose effective_from is the latest at or
-- before its occurred_at.

CREATE TABLE programs (
    program_id     text        NOT NULL CHECK (program_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    version        integer     NOT NULL CHECK (version > 0),
    effective_from timestamptz NOT NULL,
    -- The YAML text exactly as applied, comments included: what GetProgram
    -- shows and what pricing parses (so it must stay readable by later code).
    definition     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, version),
    -- Also the index of the "version in force at" lookup.
    UNIQUE (program_id, effective_from)
);

-- Versions are facts purchases were priced by: a change is a new version.
CREATE FUNCTION programs_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'programs are immutable: apply a new version';
END $$;

CREATE TRIGGER programs_are_immutable BEFORE UPDATE OR DELETE ON programs
    FOR EACH ROW EXECUTE FUNCTION programs_are_immutable();
