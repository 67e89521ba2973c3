-- SPEC §9: the hotline's own agents, their tokens, QA evaluations, monthly star ratings
-- and the queue engine's finished 15-minute intervals. Only new tables and one nullable
-- column: an existing database converts in place (its tokens stay unbound, see README).

-- A1: `callgate import agents` (id,name,branch_code,desks,star). `star` is the rating in
-- force until the first monthly rating (agent_ratings).
CREATE TABLE agents (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9@._-]{1,64}$'),
    name        text NOT NULL CHECK (name <> ''),
    branch_code text NOT NULL REFERENCES branches (code),
    desks       text[] NOT NULL CHECK (cardinality(desks) > 0 AND desks <@ ARRAY['vip', 'general']),
    star        smallint NOT NULL CHECK (star BETWEEN 1 AND 5),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A1: a token bound to one agent reaches only that agent's events, calls and state.
ALTER TABLE api_tokens ADD COLUMN agent_id text REFERENCES agents (id);
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_agent_binding CHECK (agent_id IS NULL OR role = 'agent');

-- A2: `callgate import qa` (agent_id,evaluated_on,attitude,accuracy,speed,skill,teamwork),
-- scores 0–100 with up to 2 decimals. A row identical to one imported before is the same
-- evaluation (re-importing a file adds nothing).
CREATE TABLE qa_evaluations (
    id           bigserial PRIMARY KEY,
    agent_id     text NOT NULL REFERENCES agents (id),
    evaluated_on date NOT NULL,
    attitude     numeric(5, 2) NOT NULL CHECK (attitude BETWEEN 0 AND 100),
    accuracy     numeric(5, 2) NOT NULL CHECK (accuracy BETWEEN 0 AND 100),
    speed        numeric(5, 2) NOT NULL CHECK (speed BETWEEN 0 AND 100),
    skill        numeric(5, 2) NOT NULL CHECK (skill BETWEEN 0 AND 100),
    teamwork     numeric(5, 2) NOT NULL CHECK (teamwork BETWEEN 0 AND 100),
    imported_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork)
);
CREATE INDEX qa_evaluations_month ON qa_evaluations (evaluated_on);

-- A2: `callgate agents rate --month M` — one row per agent rated for M (history kept; a
-- re-run of M replaces M's row), in force from effective_from (the 1st of M+1).
CREATE TABLE agent_ratings (
    agent_id       text NOT NULL REFERENCES agents (id),
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    star           smallint NOT NULL CHECK (star BETWEEN 1 AND 5),
    previous_star  smallint NOT NULL CHECK (previous_star BETWEEN 1 AND 5),
    score          numeric(5, 2) NOT NULL,
    evaluations    integer NOT NULL CHECK (evaluations > 0),
    effective_from date NOT NULL,
    policy         text NOT NULL,
    policy_version text NOT NULL,
    explanation    jsonb NOT NULL,
    rated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, month)
);
CREATE INDEX agent_ratings_effective ON agent_ratings (agent_id, effective_from DESC);

-- A4: the queue engine's finished 15-minute intervals per desk, written from Redis by every
-- serving process (an idempotent upsert of absolute counts). O1's what-if reads `offered`
-- of the VIP desk for its calling rate.
CREATE TABLE queue_intervals (
    desk            text NOT NULL CHECK (desk IN ('vip', 'general')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    offered         integer NOT NULL CHECK (offered >= 0),
    answered        integer NOT NULL CHECK (answered >= 0),
    answered_within integer NOT NULL CHECK (answered_within >= 0),
    abandoned       integer NOT NULL CHECK (abandoned >= 0),
    short_abandoned integer NOT NULL CHECK (short_abandoned >= 0),
    wait_ms         bigint NOT NULL CHECK (wait_ms >= 0),
    threshold_s     integer NOT NULL,
    short_abandon_s integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (desk, starts_at),
    CHECK (ends_at > starts_at)
);
CREATE INDEX queue_intervals_starts ON queue_intervals (starts_at);
