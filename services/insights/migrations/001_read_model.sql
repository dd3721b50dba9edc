-- The insights read model: facts learned from the event topics, never from
-- another service's database. Every table is keyed by the fact's own id, so an
-- event that arrives twice (by two paths, or redelivered) is recorded once.
-- Facts of a member may arrive before the member's MemberEnrolled (topics are
-- not ordered with each other): they are kept, and the KPI queries count only
-- members known to be enrolled.

CREATE TABLE members (
    member_id   text        PRIMARY KEY CHECK (member_id <> ''),
    enrolled_at timestamptz NOT NULL
);

-- Every tier a member entered: the tier at enrolment, then each TierReached/TierLost.
CREATE TABLE tier_changes (
    event_id      text        PRIMARY KEY,
    member_id     text        NOT NULL CHECK (member_id <> ''),
    tier          text        NOT NULL,
    -- NULL for the tier at enrolment.
    previous_tier text,
    upgrade       boolean     NOT NULL,
    changed_at    timestamptz NOT NULL
);
CREATE INDEX tier_changes_by_member ON tier_changes (member_id, changed_at);
CREATE INDEX tier_changes_by_time ON tier_changes (changed_at);

-- Purchases, from PurchaseMade (commerce.purchases.v1) or PointsEarned with a purchase
-- amount (recorded over gRPC); the purchase id makes the two paths one row.
CREATE TABLE purchases (
    purchase_id  text        PRIMARY KEY CHECK (purchase_id <> ''),
    member_id    text        NOT NULL CHECK (member_id <> ''),
    amount_minor bigint      NOT NULL CHECK (amount_minor >= 0),
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX purchases_by_time ON purchases (occurred_at, member_id);

-- Every change to the points a member holds, signed as it moves the liability.
CREATE TABLE points_movements (
    event_id    text        PRIMARY KEY,
    member_id   text        NOT NULL CHECK (member_id <> ''),
    kind        text        NOT NULL CHECK (kind IN ('earned', 'redeemed', 'expired', 'adjusted', 'reversed')),
    points      bigint      NOT NULL,
    -- The partner of a partner accrual; NULL otherwise.
    partner_id  text        CHECK (partner_id IS NULL OR kind = 'earned'),
    occurred_at timestamptz NOT NULL,
    CHECK (kind IN ('adjusted', 'reversed') OR (kind = 'earned') = (points > 0)),
    CHECK (kind NOT IN ('redeemed', 'expired') OR points < 0)
);
CREATE INDEX points_movements_by_time ON points_movements (occurred_at, member_id);

-- Rewards redeemed (RewardRedeemed), and when they were cancelled (RedemptionCancelled).
CREATE TABLE redemptions (
    redemption_id text        PRIMARY KEY CHECK (redemption_id <> ''),
    member_id     text        NOT NULL CHECK (member_id <> ''),
    points        bigint      NOT NULL CHECK (points >= 0),
    redeemed_at   timestamptz,
    cancelled_at  timestamptz
);

CREATE TABLE surveys (
    ticket_id    text        PRIMARY KEY CHECK (ticket_id <> ''),
    member_id    text        NOT NULL CHECK (member_id <> ''),
    effort       smallint    NOT NULL CHECK (effort BETWEEN 1 AND 7),
    satisfaction smallint    NOT NULL CHECK (satisfaction BETWEEN 1 AND 5),
    recommend    smallint    NOT NULL CHECK (recommend BETWEEN 0 AND 10),
    submitted_at timestamptz NOT NULL
);
CREATE INDEX surveys_by_time ON surveys (submitted_at);
