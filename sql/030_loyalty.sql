-- Loyalty points and VIP services (SPEC §10: P1–P5, V1–V2). New tables only, plus the
-- `sms` token role and the outbox's once-a-month rule kept for the T1.9 result SMS alone;
-- an existing database converts in place (no row is rewritten).

-- P2: one row per subscriber with a points ledger. The threshold is reached once: the
-- day is written when the balance first reaches it and never cleared. The row is also
-- what a redemption locks, so concurrent spends of one subscriber queue behind each other.
CREATE TABLE points_accounts (
    msisdn               text PRIMARY KEY REFERENCES subscribers (msisdn),
    threshold_reached_on date,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- P1: the ledger of grants. `remaining` is what spending has left of a grant (FIFO by
-- expiry); a grant counts through `expires_on` (Asia/Shanghai; NULL: never expires).
CREATE TABLE points_grants (
    id          bigserial PRIMARY KEY,
    msisdn      text NOT NULL REFERENCES points_accounts (msisdn),
    granted_on  date NOT NULL,
    points      integer NOT NULL CHECK (points > 0),
    remaining   integer NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    source      text NOT NULL CHECK (source <> ''),
    expires_on  date CHECK (expires_on >= granted_on),
    imported_at timestamptz NOT NULL DEFAULT now()
);
-- Re-importing a file adds nothing twice (as payments are deduplicated).
CREATE UNIQUE INDEX points_grants_dedup
    ON points_grants (msisdn, granted_on, source, points, coalesce(expires_on, 'infinity'::date));
-- The unspent grants of a subscriber, by expiry (balance, spending order, cache record).
CREATE INDEX points_grants_unspent ON points_grants (msisdn, expires_on) WHERE remaining > 0;

-- P5: redemptions and the grants each one took its points from (P1 order).
CREATE TABLE points_redemptions (
    id          bigserial PRIMARY KEY,
    msisdn      text NOT NULL REFERENCES points_accounts (msisdn),
    item        text NOT NULL,
    points      integer NOT NULL CHECK (points > 0),
    channel     text NOT NULL CHECK (channel IN ('ivr', 'agent')),
    actor       text NOT NULL,
    redeemed_at timestamptz NOT NULL
);
CREATE INDEX points_redemptions_msisdn ON points_redemptions (msisdn, redeemed_at DESC);

CREATE TABLE points_spends (
    redemption_id bigint NOT NULL REFERENCES points_redemptions (id),
    grant_id      bigint NOT NULL REFERENCES points_grants (id),
    points        integer NOT NULL CHECK (points > 0),
    PRIMARY KEY (redemption_id, grant_id)
);

-- P4: inbound SMS to the short code, one row per message id of the SMS centre: a replay
-- of the id finds its row and sends nothing new. The sender is kept masked with a keyed
-- hash (as in audit_log); the reply itself is in the outbox (notifications).
CREATE TABLE sms_inbound (
    id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    body_hash       text NOT NULL,
    msisdn_mask     text NOT NULL,
    msisdn_hash     text NOT NULL,
    reply           text NOT NULL CHECK (reply IN ('points', 'help')),
    notification_id bigint,
    received_at     timestamptz NOT NULL
);

-- The outbox held one message per subscriber, kind and month: right for the T1.9 result
-- SMS, wrong for replies (a customer may text JFCX twice a month). The rule stays for
-- the result SMS only.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_msisdn_kind_month_key;
CREATE UNIQUE INDEX IF NOT EXISTS notifications_tier_once_a_month
    ON notifications (msisdn, kind, month) WHERE kind = 'tier';

-- V1: uses of the VIP services, counted per calendar year (Asia/Shanghai). `seq` is the
-- use's number in its year: the unique key makes "one more than the quota" impossible
-- even for two writers that counted at the same time.
CREATE TABLE benefit_uses (
    id         bigserial PRIMARY KEY,
    msisdn     text NOT NULL REFERENCES subscribers (msisdn),
    benefit    text NOT NULL,
    year       smallint NOT NULL,
    seq        integer NOT NULL CHECK (seq >= 1),
    used_at    timestamptz NOT NULL,
    place      text,
    scheme     text NOT NULL,
    level      text NOT NULL,
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (msisdn, benefit, year, seq)
);

-- V2: club memberships.
CREATE TABLE club_members (
    msisdn     text NOT NULL REFERENCES subscribers (msisdn),
    club       text NOT NULL,
    joined_on  date NOT NULL,
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (msisdn, club)
);

-- P4: the SMS centre calls POST /v1/sms/inbound with a token of its own role.
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('ivr', 'agent', 'branch', 'admin', 'sms'));
