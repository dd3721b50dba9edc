-- The notifications service's view of members (from MemberEnrolled and tier
-- events), their preferences (from the gRPC API), every message it asked a
-- sender to deliver or has scheduled, and the open earnings summaries.

CREATE TABLE members (
    member_id       text        PRIMARY KEY,
    given_name      text        NOT NULL DEFAULT '',
    email_on_file   boolean     NOT NULL DEFAULT false,
    birth_date      date,
    tier            text        NOT NULL DEFAULT '',
    -- occurred_at of the event that set the tier; older events do not overwrite it.
    tier_changed_at timestamptz,
    -- The last year (in the member's time zone) the member's birthday was greeted, or found opted out.
    birthday_year   integer
);

-- Birthdays are looked up by month and day.
CREATE INDEX members_birthday ON members ((date_part('month', birth_date)), (date_part('day', birth_date)))
    WHERE birth_date IS NOT NULL;

CREATE TABLE preferences (
    member_id   text        PRIMARY KEY,
    channels    text[]      NOT NULL CHECK (channels <@ ARRAY['email', 'sms', 'push']),
    opted_out   text[]      NOT NULL
                CHECK (opted_out <@ ARRAY['account', 'points', 'tier', 'rewards', 'birthday', 'service', 'surveys']),
    time_zone   text        NOT NULL,
    quiet_start time,
    quiet_end   time,
    updated_at  timestamptz NOT NULL,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CHECK (quiet_start IS DISTINCT FROM quiet_end OR quiet_start IS NULL)
);

CREATE TABLE notifications (
    notification_id  uuid        PRIMARY KEY,
    -- Trigger, template and channel: the same trigger never makes a second message.
    idempotency_key  text        NOT NULL UNIQUE,
    member_id        text        NOT NULL,
    template_id      text        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    variables        jsonb       NOT NULL,
    trigger_event_id text        NOT NULL DEFAULT '',
    status           text        NOT NULL CHECK (status IN ('scheduled', 'sent', 'cancelled')),
    -- When it may be sent: at once, or the end of the member's quiet hours.
    due_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    cancel_reason    text,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL))
);

CREATE INDEX notifications_scheduled ON notifications (due_at) WHERE status = 'scheduled';
CREATE INDEX notifications_member ON notifications (member_id, created_at);

-- Points earned since a summary opened; released (sent) once due.
CREATE TABLE earned_batches (
    batch_id        uuid        PRIMARY KEY,
    member_id       text        NOT NULL,
    opened_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    points          bigint      NOT NULL CHECK (points > 0),
    earnings        integer     NOT NULL CHECK (earnings > 0),
    -- The balance after the latest earning (by occurred_at) in the batch.
    balance_after   bigint      NOT NULL,
    balance_seen_at timestamptz NOT NULL,
    released_at     timestamptz
);

-- At most one open summary per member.
CREATE UNIQUE INDEX earned_batches_open ON earned_batches (member_id) WHERE released_at IS NULL;
CREATE INDEX earned_batches_due ON earned_batches (due_at) WHERE released_at IS NULL;

-- Triggers for members not known yet (their MemberEnrolled not consumed yet: topics are read
-- independently); the scheduler plans them once the member is known.
CREATE TABLE held_triggers (
    trigger_key      text        NOT NULL,
    template_id      text        NOT NULL,
    member_id        text        NOT NULL,
    variables        jsonb       NOT NULL,
    trigger_event_id text        NOT NULL DEFAULT '',
    held_at          timestamptz NOT NULL,
    PRIMARY KEY (trigger_key, template_id)
);

CREATE INDEX held_triggers_member ON held_triggers (member_id);
