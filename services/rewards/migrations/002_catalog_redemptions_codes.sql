-- The reward catalog, redemptions (bought with points or granted as perks),
-- their codes and promo campaigns.

-- Tier names lowest first; a reward's min_tier is compared by rank.
CREATE TABLE tier_ladder (
    tier text    PRIMARY KEY,
    rank integer NOT NULL UNIQUE CHECK (rank >= 0)
);

CREATE TABLE rewards (
    reward_id        uuid        PRIMARY KEY,
    name             text        NOT NULL CHECK (name <> ''),
    description      text        NOT NULL DEFAULT '',
    kind             text        NOT NULL CHECK (kind IN
                                   ('discount_fixed', 'discount_percent', 'free_product', 'upgrade', 'cashback', 'partner')),
    amount_minor     bigint      NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    currency_code    text        NOT NULL DEFAULT '',
    percent_off      integer     NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
    sku              text        NOT NULL DEFAULT '',
    partner          text        NOT NULL DEFAULT '',
    cost_points      bigint      NOT NULL CHECK (cost_points >= 0),
    min_tier         text        NOT NULL DEFAULT '',
    -- NULL: unlimited. Otherwise units ever available and units left.
    stock_total      bigint      CHECK (stock_total >= 0),
    stock_available  bigint      CHECK (stock_available >= 0 AND stock_available <= stock_total),
    valid_from       timestamptz,
    valid_until      timestamptz CHECK (valid_until > valid_from),
    per_member_limit integer     NOT NULL DEFAULT 0 CHECK (per_member_limit >= 0),
    limit_period     text        NOT NULL DEFAULT '' CHECK (limit_period IN ('', 'lifetime', 'day', 'month', 'year')),
    code_source      text        NOT NULL CHECK (code_source IN ('generated', 'partner_pool')),
    code_validity    interval    NOT NULL CHECK (code_validity > interval '0'),
    trigger          text        NOT NULL CHECK (trigger IN ('redeem', 'tier_welcome', 'birthday')),
    trigger_tier     text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK ((stock_total IS NULL) = (stock_available IS NULL)),
    CHECK ((trigger = 'tier_welcome') = (trigger_tier <> '')),
    CHECK (trigger = 'redeem' OR cost_points = 0)
);

CREATE INDEX rewards_listing ON rewards (created_at, reward_id);
CREATE INDEX rewards_perks ON rewards (trigger, trigger_tier) WHERE status = 'active' AND trigger <> 'redeem';

-- A redemption moves pending -> held -> reserved -> completed (or is deleted when
-- undone before completion), then maybe cancelling -> cancelled.
--   pending:    row written, points not yet held
--   held:       points held (hold_id), no stock taken
--   reserved:   stock taken and code issued, points not yet captured
--   completed:  points captured (or none due, for perks)
--   cancelling: code voided and stock returned, points not yet given back
--   cancelled:  points given back
CREATE TABLE redemptions (
    redemption_id   uuid        PRIMARY KEY,
    member_id       text        NOT NULL CHECK (member_id <> ''),
    reward_id       uuid        NOT NULL REFERENCES rewards (reward_id),
    -- The caller's key for redeemed rewards; NULL for perks.
    idempotency_key text        UNIQUE,
    -- What a perk was granted for (e.g. tier:gold, birthday:2026); NULL for redeemed rewards.
    grant_key       text,
    occasion        text        NOT NULL CHECK (occasion IN ('redeemed', 'tier_welcome', 'birthday')),
    points          bigint      NOT NULL CHECK (points >= 0),
    step            text        NOT NULL CHECK (step IN
                                  ('pending', 'held', 'reserved', 'completed', 'cancelling', 'cancelled')),
    hold_id         uuid,
    -- Whoever advances a pending redemption owns it until then; the recovery job takes over after.
    lease_until     timestamptz NOT NULL,
    cancel_reason   text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    cancelled_at    timestamptz,
    UNIQUE (member_id, reward_id, grant_key),
    CHECK ((idempotency_key IS NULL) = (occasion <> 'redeemed')),
    CHECK ((grant_key IS NULL) = (occasion = 'redeemed')),
    CHECK (step IN ('pending') OR points = 0 OR hold_id IS NOT NULL),
    CHECK ((completed_at IS NULL) = (step IN ('pending', 'held', 'reserved')))
);

CREATE INDEX redemptions_by_member ON redemptions (member_id, created_at DESC, redemption_id DESC);
CREATE INDEX redemptions_by_reward_member ON redemptions (reward_id, member_id, created_at);
CREATE INDEX redemptions_unfinished ON redemptions (lease_until)
    WHERE step IN ('pending', 'held', 'reserved', 'cancelling');

CREATE TABLE promo_campaigns (
    campaign_id     uuid        PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE,
    name            text        NOT NULL CHECK (name <> ''),
    kind            text        NOT NULL,
    amount_minor    bigint      NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    currency_code   text        NOT NULL DEFAULT '',
    percent_off     integer     NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
    sku             text        NOT NULL DEFAULT '',
    partner         text        NOT NULL DEFAULT '',
    code_count      integer     NOT NULL CHECK (code_count > 0),
    uses_per_code   integer     NOT NULL CHECK (uses_per_code > 0),
    valid_from      timestamptz,
    valid_until     timestamptz CHECK (valid_until > valid_from),
    created_at      timestamptz NOT NULL
);

-- Every code: issued with a redemption (generated or from a partner pool) or of a promo campaign.
--   available: a partner code not issued yet; active: usable while uses remain; void: cancelled.
CREATE TABLE codes (
    code          text        PRIMARY KEY,
    source        text        NOT NULL CHECK (source IN ('generated', 'partner', 'promo')),
    reward_id     uuid        REFERENCES rewards (reward_id),
    redemption_id uuid        UNIQUE REFERENCES redemptions (redemption_id),
    campaign_id   uuid        REFERENCES promo_campaigns (campaign_id),
    status        text        NOT NULL CHECK (status IN ('available', 'active', 'void')),
    max_uses      integer     NOT NULL CHECK (max_uses > 0),
    uses          integer     NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at    timestamptz,
    CHECK ((campaign_id IS NOT NULL) = (source = 'promo')),
    CHECK ((reward_id IS NOT NULL) = (source <> 'promo')),
    CHECK (source <> 'generated' OR redemption_id IS NOT NULL),
    CHECK ((status = 'available') = (source = 'partner' AND redemption_id IS NULL))
);

CREATE INDEX codes_partner_pool ON codes (reward_id) WHERE status = 'available';
CREATE INDEX codes_by_campaign ON codes (campaign_id, code) WHERE campaign_id IS NOT NULL;

-- Each order a code was used for; a code and order pair is used once.
CREATE TABLE code_uses (
    code     text        NOT NULL REFERENCES codes (code),
    order_id text        NOT NULL CHECK (order_id <> ''),
    used_at  timestamptz NOT NULL,
    PRIMARY KEY (code, order_id)
);

-- Dates of birth from MemberEnrolled, for birthday rewards.
CREATE TABLE member_birthdays (
    member_id  text PRIMARY KEY,
    birth_date date NOT NULL
);
