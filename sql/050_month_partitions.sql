-- X5: bills and the tier history (tier_assignments, tier_explanations) are partitioned by
-- month (PostgreSQL declarative range partitioning), so `callgate retention` drops a whole
-- old month with DROP TABLE instead of deleting millions of rows, and a month's writes and
-- reads touch that month's tables only. Converts an existing database in place: each
-- table is renamed, a partitioned table of the same shape takes its name, a partition is
-- made for every month the old rows hold (and the current month and the two after it),
-- every row is copied over, and the old table is dropped.
--
-- Partitions are named <table>_YYYY_MM and made by callgate_month_partition() below, which
-- the evaluation, the bills import and the demo loader call ahead of their writes. A row
-- for a month that has no partition yet (a hand-written INSERT) lands in <table>_default;
-- making that month's partition later moves such rows into it.

CREATE FUNCTION callgate_month_partition(parent text, first_day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('%s_%s', parent, to_char(first_day, 'YYYY_MM'));
    fallback text := parent || '_default';
    keycol text := CASE parent WHEN 'bills' THEN 'month' ELSE 'evaluated_month' END;
    next_day date := (first_day + interval '1 month')::date;
    waiting boolean;
BEGIN
    IF parent NOT IN ('bills', 'tier_assignments', 'tier_explanations') THEN
        RAISE EXCEPTION 'callgate_month_partition: % is not partitioned by month', parent;
    END IF;
    IF extract(day FROM first_day) <> 1 THEN
        RAISE EXCEPTION 'callgate_month_partition: % is not the first day of a month', first_day;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;  -- the usual case: no lock taken
    END IF;
    -- Two writers making the same month: the second waits here, then finds it made.
    PERFORM pg_advisory_xact_lock(hashtext('callgate_month_partition ' || parent));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= %L AND %I < %L)',
                   fallback, keycol, first_day, keycol, next_day) INTO waiting;
    IF waiting THEN  -- rows written before the month had a partition move into it
        EXECUTE 'DROP TABLE IF EXISTS pg_temp.callgate_moving';
        EXECUTE format('CREATE TEMP TABLE callgate_moving (LIKE %I) ON COMMIT DROP', parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *)
                        INSERT INTO callgate_moving SELECT * FROM moved',
                       fallback, keycol, first_day, keycol, next_day);
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   part, parent, first_day, next_day);
    IF waiting THEN
        EXECUTE format('INSERT INTO %I SELECT * FROM callgate_moving', part);
        EXECUTE 'DROP TABLE pg_temp.callgate_moving';
    END IF;
    RETURN true;
END;
$$;

-- bills
ALTER TABLE bills RENAME TO bills_unpartitioned;
ALTER INDEX bills_pkey RENAME TO bills_unpartitioned_pkey;
CREATE TABLE bills (LIKE bills_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (month);
ALTER TABLE bills ADD PRIMARY KEY (msisdn, month);
ALTER TABLE bills ADD FOREIGN KEY (msisdn) REFERENCES subscribers (msisdn);
CREATE TABLE bills_default PARTITION OF bills DEFAULT;

-- tier history
ALTER TABLE tier_assignments RENAME TO tier_assignments_unpartitioned;
ALTER INDEX tier_assignments_pkey RENAME TO tier_assignments_unpartitioned_pkey;
DROP INDEX tier_assignments_new_or_raised;
CREATE TABLE tier_assignments (LIKE tier_assignments_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (evaluated_month);
ALTER TABLE tier_assignments ADD PRIMARY KEY (msisdn, policy, evaluated_month);
-- H8 (see 011): the month's new and raised levels, without reading the others.
CREATE INDEX tier_assignments_new_or_raised ON tier_assignments (policy, evaluated_month)
    WHERE change IN ('new', 'raised');
CREATE TABLE tier_assignments_default PARTITION OF tier_assignments DEFAULT;

ALTER TABLE tier_explanations RENAME TO tier_explanations_unpartitioned;
ALTER INDEX tier_explanations_pkey RENAME TO tier_explanations_unpartitioned_pkey;
CREATE TABLE tier_explanations (LIKE tier_explanations_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (evaluated_month);
ALTER TABLE tier_explanations ADD PRIMARY KEY (msisdn, policy, evaluated_month);
CREATE TABLE tier_explanations_default PARTITION OF tier_explanations DEFAULT;

-- One partition per month the rows hold, and the current month and the two after it.
SELECT callgate_month_partition(t, m::date)
FROM (SELECT DISTINCT month AS m, 'bills' AS t FROM bills_unpartitioned
      UNION SELECT DISTINCT evaluated_month, 'tier_assignments' FROM tier_assignments_unpartitioned
      UNION SELECT DISTINCT evaluated_month, 'tier_explanations' FROM tier_explanations_unpartitioned
      UNION SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + k * interval '1 month')::date, t
            FROM generate_series(0, 2) k,
                 unnest(ARRAY['bills', 'tier_assignments', 'tier_explanations']) t) months
ORDER BY t, m;

INSERT INTO bills SELECT * FROM bills_unpartitioned;
INSERT INTO tier_assignments SELECT * FROM tier_assignments_unpartitioned;
INSERT INTO tier_explanations SELECT * FROM tier_explanations_unpartitioned;
DROP TABLE bills_unpartitioned;
DROP TABLE tier_assignments_unpartitioned;
DROP TABLE tier_explanations_unpartitioned;
