-- Hotline servicing (SPEC §8, H2–H9): service passwords from the BSS, emergency stop,
-- customer managers by branch, and the VIP-fulfilment work orders. Converts an existing
-- database: every new column has a default that describes the rows already there.

-- H5: `stopped` (emergency stop, 紧急停机) is a status of its own; `stopped_from` keeps the
-- status it returns to on restart.
ALTER TABLE subscribers DROP CONSTRAINT subscribers_status_check;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_status_check
    CHECK (status IN ('active', 'suspended', 'cancelled', 'stopped'));
ALTER TABLE subscribers ADD COLUMN stopped_from text
    CHECK (stopped_from IN ('active', 'suspended'));
ALTER TABLE subscribers ADD CONSTRAINT subscribers_stopped_from
    CHECK ((status = 'stopped') = (stopped_from IS NOT NULL));

-- H2/H3: an imported password may be the initial one (never changed by the customer).
-- Passwords set before this migration were chosen through callgate: not initial.
ALTER TABLE subscribers ADD COLUMN password_initial boolean NOT NULL DEFAULT false;
ALTER TABLE subscribers ADD COLUMN password_changed_at timestamptz;

-- H7: a manager belongs to a branch (city or county) as the managers file names it;
-- city_code stays the city (the branch itself, or the county's city) for the 10018 line.
ALTER TABLE customer_managers ADD COLUMN branch_code text REFERENCES branches (code);
UPDATE customer_managers SET branch_code = city_code;
CREATE INDEX subscribers_manager ON subscribers (manager_id) WHERE manager_id IS NOT NULL;

-- H8: work orders gain a kind. The reactivation follow-up (W1–W6) keeps its reactivation;
-- the two fulfilment kinds are one per subscriber, kind and month (the evaluation may be
-- re-run: ON CONFLICT DO NOTHING against this index) and end `done` or `overdue`.
ALTER TABLE work_orders ADD COLUMN kind text NOT NULL DEFAULT 'reactivation_followup'
    CHECK (kind IN ('reactivation_followup', 'manager_assignment', 'card_issue'));
ALTER TABLE work_orders ADD COLUMN month date CHECK (extract(day FROM month) = 1);
ALTER TABLE work_orders ADD COLUMN manager_id bigint REFERENCES customer_managers (id);
ALTER TABLE work_orders ALTER COLUMN reactivation_id DROP NOT NULL;
ALTER TABLE work_orders ADD CONSTRAINT work_orders_kind_shape CHECK (
    (kind = 'reactivation_followup') = (reactivation_id IS NOT NULL)
    AND (kind = 'reactivation_followup' OR month IS NOT NULL));
ALTER TABLE work_orders DROP CONSTRAINT work_orders_status_check;
ALTER TABLE work_orders ADD CONSTRAINT work_orders_status_check CHECK (status IN
    ('new', 'dispatched', 'paid', 'overdue', 'resuspended', 'closed', 'done'));
CREATE UNIQUE INDEX work_orders_fulfilment_once ON work_orders (msisdn, kind, month)
    WHERE kind <> 'reactivation_followup';
CREATE INDEX work_orders_kind ON work_orders (kind, status);

-- H4: a password reset SMS may be sent more than once a month; the tier SMS stays one per
-- subscriber, kind and month (T1.9).
ALTER TABLE notifications DROP CONSTRAINT notifications_msisdn_kind_month_key;
CREATE UNIQUE INDEX notifications_once ON notifications (msisdn, kind, month)
    WHERE kind <> 'password_reset';
