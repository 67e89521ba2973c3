-- callgate schema: the system of record (SPEC §1–§6).
-- Money is integer fen; dates are Asia/Shanghai calendar dates; instants are timestamptz.

CREATE TABLE branches (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name        text NOT NULL CHECK (name <> ''),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county')),
    parent_code text REFERENCES branches (code),
    CHECK ((level = 'province') = (parent_code IS NULL))
);

CREATE TABLE customer_managers (
    id        bigserial PRIMARY KEY,
    name      text NOT NULL CHECK (name <> ''),
    phone     text NOT NULL CHECK (phone ~ '^[0-9]{5,12}$'),
    city_code text NOT NULL REFERENCES branches (code)
);

CREATE TABLE subscribers (
    msisdn        text PRIMARY KEY CHECK (msisdn ~ '^[0-9]{7,12}$'),
    service_type  text NOT NULL CHECK (service_type IN ('mobile', 'fixed', 'broadband')),
    network       text CHECK (network IN ('2g', '3g', '4g', '5g')),
    payment_mode  text NOT NULL CHECK (payment_mode IN ('prepaid', 'postpaid')),
    plan_code     text,
    brand         text,
    status        text NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    joined_on     date NOT NULL,
    city_code     text NOT NULL REFERENCES branches (code),
    county_code   text REFERENCES branches (code),
    flags         text[] NOT NULL DEFAULT '{}' CHECK (flags <@ ARRAY[
                      'data_card', 'test', 'public_free', 'employee', 'wo_family', 'group',
                      'public_phone', 'vip_guest', 'loyal', 'sms_card_2g', 'high_data_2g',
                      'employee_2g']::text[]),
    lucky_class   smallint CHECK (lucky_class BETWEEN 1 AND 3),
    contract_plan integer CHECK (contract_plan > 0),
    suspensions   integer NOT NULL DEFAULT 0 CHECK (suspensions >= 0),
    birthday      date,
    password_hash text,
    dnd           boolean NOT NULL DEFAULT false,
    manager_id    bigint REFERENCES customer_managers (id),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((service_type = 'mobile') = (network IS NOT NULL))
);
CREATE INDEX subscribers_city ON subscribers (city_code);

-- One row per subscriber and calendar month: billed revenue (出账收入) and the
-- amount the billing system recorded as paid in that month.
CREATE TABLE bills (
    msisdn     text NOT NULL REFERENCES subscribers (msisdn),
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    billed_fen bigint NOT NULL CHECK (billed_fen >= 0),
    paid_fen   bigint NOT NULL CHECK (paid_fen >= 0),
    PRIMARY KEY (msisdn, month)
);

-- Individual payments received after the bill summaries (import or POST /v1/payments).
-- Together with bills.paid_fen they settle the oldest bill first (SPEC §6 "Arrears").
CREATE TABLE payments (
    id         bigserial PRIMARY KEY,
    msisdn     text NOT NULL REFERENCES subscribers (msisdn),
    paid_at    timestamptz NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    source     text NOT NULL CHECK (source IN ('import', 'api')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_dedup ON payments (msisdn, paid_at, amount_fen);

-- Tier assignment history (T1.9, T2.5): one row per subscriber, policy and
-- evaluation month; imported legacy cards have source 'import'. The lookup serves
-- the row with the latest effective_from not after today that is still valid.
CREATE TABLE tier_assignments (
    msisdn          text NOT NULL REFERENCES subscribers (msisdn),
    policy          text NOT NULL,
    evaluated_month date NOT NULL CHECK (extract(day FROM evaluated_month) = 1),
    policy_version  text NOT NULL,
    scheme          text NOT NULL CHECK (scheme IN ('star', 'vip_card', 'membership', 'credit_star')),
    level           text NOT NULL,
    previous_level  text,
    computed_level  text,
    change          text NOT NULL,
    effective_from  date NOT NULL,
    valid_until     date,
    since           date,
    source          text NOT NULL CHECK (source IN ('evaluation', 'import')),
    explanation     jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (msisdn, policy, evaluated_month),
    CHECK (valid_until IS NULL OR valid_until >= effective_from)
);

CREATE TABLE evaluation_runs (
    policy          text NOT NULL,
    month           date NOT NULL,
    policy_version  text NOT NULL,
    run_date        date NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    last_msisdn     text NOT NULL DEFAULT '',
    counts          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (policy, month)
);

-- SMS outbox (T1.9): one message per subscriber, kind and month.
CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    msisdn     text NOT NULL REFERENCES subscribers (msisdn),
    kind       text NOT NULL,
    month      date NOT NULL,
    body       text NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    UNIQUE (msisdn, kind, month)
);
CREATE INDEX notifications_pending ON notifications (id) WHERE status = 'pending';

-- Emergency reactivations (R1–R8). The unique (msisdn, grant_month, seq) makes the
-- monthly count (R3, R12) a database constraint: two racing grants cannot both be #1.
CREATE TABLE reactivations (
    id               bigserial PRIMARY KEY,
    msisdn           text NOT NULL REFERENCES subscribers (msisdn),
    grant_month      date NOT NULL CHECK (extract(day FROM grant_month) = 1),
    seq              smallint NOT NULL CHECK (seq >= 1),
    mode             text NOT NULL CHECK (mode IN ('postpaid_48h', 'prepaid_credit')),
    scheme           text NOT NULL,
    level            text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('ivr', 'agent')),
    actor            text NOT NULL,
    granted_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    credit_limit_fen bigint CHECK (credit_limit_fen > 0),
    credit_used_fen  bigint NOT NULL DEFAULT 0,
    UNIQUE (msisdn, grant_month, seq),
    CHECK ((mode = 'prepaid_credit') = (credit_limit_fen IS NOT NULL)),
    CHECK (credit_used_fen >= 0 AND credit_used_fen <= coalesce(credit_limit_fen, 0)),
    CHECK (expires_at > granted_at)
);
CREATE INDEX reactivations_msisdn ON reactivations (msisdn, granted_at DESC);

-- Every temporary-credit authorisation (R5), approved or not; ref is the charging
-- side's idempotency key.
CREATE TABLE credit_debits (
    ref             text PRIMARY KEY CHECK (ref <> ''),
    reactivation_id bigint REFERENCES reactivations (id),
    msisdn          text NOT NULL REFERENCES subscribers (msisdn),
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    approved        boolean NOT NULL,
    remaining_fen   bigint NOT NULL CHECK (remaining_fen >= 0),
    code            text,
    at              timestamptz NOT NULL
);
CREATE INDEX credit_debits_reactivation ON credit_debits (reactivation_id);

-- Work orders (W1–W6) and their append-only history.
CREATE TABLE work_orders (
    id              bigserial PRIMARY KEY,
    reactivation_id bigint NOT NULL UNIQUE REFERENCES reactivations (id),
    msisdn          text NOT NULL REFERENCES subscribers (msisdn),
    city_code       text NOT NULL REFERENCES branches (code),
    county_code     text REFERENCES branches (code),
    status          text NOT NULL CHECK (status IN
                        ('new', 'dispatched', 'paid', 'overdue', 'resuspended', 'closed')),
    tracker         text,
    due_at          timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (status <> 'dispatched' OR (tracker IS NOT NULL AND county_code IS NOT NULL))
);
CREATE INDEX work_orders_city ON work_orders (city_code, status);
CREATE INDEX work_orders_county ON work_orders (county_code, status);
CREATE INDEX work_orders_open_due ON work_orders (due_at) WHERE status IN ('new', 'dispatched');
CREATE INDEX work_orders_msisdn ON work_orders (msisdn);

CREATE TABLE work_order_events (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES work_orders (id),
    kind        text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    note        text,
    at          timestamptz NOT NULL
);
CREATE INDEX work_order_events_order ON work_order_events (order_id, id);

CREATE FUNCTION refuse_history_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (W5): % refused', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE TRIGGER work_order_events_append_only
    BEFORE UPDATE OR DELETE ON work_order_events
    FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();

-- Audit (R11): every decision, granted or refused. Numbers are stored masked with a
-- keyed hash for correlation.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    role        text NOT NULL,
    channel     text,
    action      text NOT NULL,
    msisdn_mask text,
    msisdn_hash text,
    outcome     text NOT NULL,
    code        text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_hash ON audit_log (msisdn_hash, at);
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();

-- Service-password verification failures (R9 lockout).
CREATE TABLE password_failures (
    msisdn        text PRIMARY KEY REFERENCES subscribers (msisdn),
    failures      integer NOT NULL DEFAULT 0,
    first_at      timestamptz NOT NULL,
    locked_until  timestamptz
);

-- Idempotency-Key replays (reactivations).
CREATE TABLE idempotency_keys (
    scope      text NOT NULL,
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    body_hash  text NOT NULL,
    status     integer NOT NULL,
    response   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- Bearer tokens, stored as SHA-256 of a 256-bit random secret.
CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('ivr', 'agent', 'branch', 'admin')),
    branch_code text REFERENCES branches (code),
    name        text NOT NULL DEFAULT '',
    demo        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK ((role = 'branch') = (branch_code IS NOT NULL))
);
