-- Agents, tickets with their SLA clocks, messages, goodwill grants and surveys.

CREATE TABLE agents (
    agent_id       text    PRIMARY KEY CHECK (agent_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    display_name   text    NOT NULL DEFAULT '',
    languages      text[]  NOT NULL CHECK (cardinality(languages) > 0),
    -- Empty: serves every tier.
    tiers          text[]  NOT NULL DEFAULT '{}',
    capacity       integer NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    status         text    NOT NULL DEFAULT 'away' CHECK (status IN ('available', 'busy', 'away')),
    -- NULL: the policy's agent limit.
    goodwill_limit bigint  CHECK (goodwill_limit >= 0),
    -- Global assignment sequence of the last ticket given to the agent (round-robin); 0 never.
    last_assigned  bigint  NOT NULL DEFAULT 0
);

CREATE TABLE agent_skills (
    agent_id text    NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    skill    text    NOT NULL CHECK (skill ~ '^[A-Za-z0-9._-]{1,64}$'),
    level    integer NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (agent_id, skill)
);

CREATE TABLE tickets (
    ticket_id                uuid        PRIMARY KEY,
    member_id                text        NOT NULL,
    tier                     text        NOT NULL,
    category                 text        NOT NULL
        CHECK (category IN ('missing_points', 'redemption_problem', 'tier_question', 'account', 'other')),
    channel                  text        NOT NULL CHECK (channel IN ('email', 'chat', 'phone', 'web')),
    subject                  text        NOT NULL,
    description              text        NOT NULL,
    language                 text        NOT NULL,
    priority                 text        NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status                   text        NOT NULL CHECK (status IN ('open', 'waiting_on_member', 'resolved')),
    assignee                 text        REFERENCES agents (agent_id),
    required_skill           text        NOT NULL,
    sla_policy               text        NOT NULL,
    -- '24x7' or the name of a calendar in the policy file.
    hours                    text        NOT NULL,
    opened_at                timestamptz NOT NULL,
    first_response_due       timestamptz,
    first_responded_at       timestamptz,
    first_response_breached  boolean     NOT NULL DEFAULT false,
    -- Working seconds of the resolution budget, used so far, and since when the clock runs (NULL: paused).
    resolution_budget_s      double precision NOT NULL CHECK (resolution_budget_s > 0),
    resolution_used_s        double precision NOT NULL DEFAULT 0 CHECK (resolution_used_s >= 0),
    resolution_running_since timestamptz,
    resolution_due           timestamptz,
    resolution_breached      boolean     NOT NULL DEFAULT false,
    resolved_at              timestamptz,
    resolution               text        NOT NULL DEFAULT '',
    -- Since when an unassigned open ticket waits in the queue; NULL when assigned or resolved.
    queued_at                timestamptz,
    -- A missing-points claim and what the points service said about it.
    claim_purchase_id        text,
    claim_expected_points    bigint      CHECK (claim_expected_points >= 0),
    claim_status             text        CHECK (claim_status IN ('already_credited', 'not_credited', 'unverified')),
    claim_credited_points    bigint,
    claim_ledger_entry_id    text,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK ((claim_purchase_id IS NULL) = (claim_status IS NULL)),
    CHECK (queued_at IS NULL OR assignee IS NULL)
);

CREATE INDEX tickets_member ON tickets (member_id, opened_at DESC);
CREATE INDEX tickets_assignee ON tickets (assignee, status);
CREATE INDEX tickets_queue ON tickets (queued_at) WHERE queued_at IS NOT NULL;
CREATE INDEX tickets_open_due ON tickets (status) WHERE status <> 'resolved';
CREATE INDEX tickets_opened ON tickets (opened_at);

CREATE TABLE ticket_messages (
    message_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  uuid        NOT NULL REFERENCES tickets (ticket_id),
    author     text        NOT NULL CHECK (author IN ('member', 'agent')),
    author_id  text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, message_id);

-- One goodwill grant per ticket: who asked, who approved, when, why, how much.
CREATE TABLE goodwill_grants (
    ticket_id    uuid        PRIMARY KEY REFERENCES tickets (ticket_id),
    points       bigint      NOT NULL CHECK (points > 0),
    reason       text        NOT NULL CHECK (reason <> ''),
    granted_by   text        NOT NULL REFERENCES agents (agent_id),
    approved_by  text        REFERENCES agents (agent_id),
    -- The limit that required approval; '' when within the limits.
    over_limit   text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending_approval', 'granted')),
    requested_at timestamptz NOT NULL,
    granted_at   timestamptz,
    CHECK ((status = 'granted') = (granted_at IS NOT NULL)),
    CHECK (approved_by IS NULL OR approved_by <> granted_by),
    -- Over a limit, nothing is granted without a second agent.
    CHECK (over_limit = '' OR status = 'pending_approval' OR approved_by IS NOT NULL)
);

-- One survey per ticket, issued on its first resolution.
CREATE TABLE surveys (
    ticket_id    uuid        PRIMARY KEY REFERENCES tickets (ticket_id),
    issued_at    timestamptz NOT NULL,
    effort       smallint    CHECK (effort BETWEEN 1 AND 7),
    satisfaction smallint    CHECK (satisfaction BETWEEN 1 AND 5),
    recommend    smallint    CHECK (recommend BETWEEN 0 AND 10),
    submitted_at timestamptz,
    CHECK ((submitted_at IS NULL) = (effort IS NULL)),
    CHECK ((submitted_at IS NULL) = (satisfaction IS NULL)),
    CHECK ((submitted_at IS NULL) = (recommend IS NULL))
);
