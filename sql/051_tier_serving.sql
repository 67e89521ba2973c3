-- Issue 22.1: the serving state. Each month's evaluation adds a row per subscriber to the
-- tier history (tier_assignments); reading a subscriber's assignments from the history
-- grew with every month kept (26 months were scanned). tier_serving holds, per
-- subscriber and policy, only the rows that can still decide something: the level in
-- force, the next one already decided, and the latest rows the evaluation needs (its
-- `current` and the legacy card, T1.9/T1.11) — typically two rows, whatever the history's
-- length. The evaluation, the lookup's miss path and the cache rebuild read it; the history
-- stays for explanations, audits and `callgate explain`, and may be dropped month by month
-- (`callgate retention`) without changing what serves.
--
-- Every writer of tier_assignments keeps it: statement-level triggers on the history
-- (set-based, one statement per COPY batch) copy inserted rows in, apply updates (a
-- cancellation ending a level, T1.10; a legacy card ended, T1.11) and deletions, and
-- then prune the touched subscribers' rows. A row is pruned when the next row of its
-- policy (same source and scheme) takes effect no earlier, has taken effect by the first
-- day of the latest month evaluated for that subscriber and policy, and lasts at least as
-- long: from then on it can never serve (T1.9: the most recently effective level wins).
-- The two latest rows of each policy, source and scheme are always kept, so re-running
-- or dry-running the latest month still finds the level held before it.
CREATE TABLE tier_serving (
    msisdn          text NOT NULL,
    policy          text NOT NULL,
    evaluated_month date NOT NULL,
    scheme          text NOT NULL,
    level           text NOT NULL,
    effective_from  date NOT NULL,
    valid_until     date,
    since           date,
    source          text NOT NULL,
    PRIMARY KEY (msisdn, policy, evaluated_month)
);

-- Prune the rows of the subscribers in [lo, hi]. Pruning a subscriber nobody wrote for
-- changes nothing that serves, so a writer prunes the whole range of numbers it wrote
-- (an evaluation batch: a contiguous range, every number in it written).
CREATE FUNCTION tier_serving_prune(lo text, hi text) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM tier_serving t
    USING (
        SELECT msisdn, policy, evaluated_month FROM (
            SELECT s.msisdn, s.policy, s.evaluated_month, s.source, s.scheme, s.effective_from,
                   s.valid_until,
                   lead(s.evaluated_month) OVER w AS n_month, lead(s.effective_from) OVER w AS n_from,
                   lead(s.valid_until) OVER w AS n_until, lead(s.source) OVER w AS n_source,
                   lead(s.scheme) OVER w AS n_scheme,
                   max(s.evaluated_month) OVER (PARTITION BY s.msisdn, s.policy) AS latest,
                   row_number() OVER (PARTITION BY s.msisdn, s.policy, s.source, s.scheme
                                      ORDER BY s.evaluated_month DESC) AS recency
            FROM tier_serving s
            WHERE s.msisdn >= lo AND s.msisdn <= hi
            WINDOW w AS (PARTITION BY s.msisdn, s.policy ORDER BY s.evaluated_month)
        ) x
        WHERE recency > 2 AND n_source = source AND n_scheme = scheme
          AND n_from >= effective_from AND n_from <= latest
          AND (n_until IS NULL OR (valid_until IS NOT NULL AND n_until >= valid_until))
    ) d
    WHERE t.msisdn = d.msisdn AND t.policy = d.policy AND t.evaluated_month = d.evaluated_month;
$$;

CREATE FUNCTION tier_serving_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lo text;
    hi text;
BEGIN
    INSERT INTO tier_serving (msisdn, policy, evaluated_month, scheme, level, effective_from,
                              valid_until, since, source)
    SELECT msisdn, policy, evaluated_month, scheme, level, effective_from, valid_until, since, source
    FROM new_rows
    ON CONFLICT (msisdn, policy, evaluated_month) DO UPDATE
        SET scheme = excluded.scheme, level = excluded.level, effective_from = excluded.effective_from,
            valid_until = excluded.valid_until, since = excluded.since, source = excluded.source;
    SELECT min(msisdn), max(msisdn) INTO lo, hi FROM new_rows;
    IF lo IS NOT NULL THEN
        PERFORM tier_serving_prune(lo, hi);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tier_serving_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Writers change a row's dates (T1.10, T1.11), never its key; a key changed anyway
    -- leaves the old key's row and takes the new one in.
    DELETE FROM tier_serving t USING old_rows o
    WHERE t.msisdn = o.msisdn AND t.policy = o.policy AND t.evaluated_month = o.evaluated_month
      AND NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.msisdn = o.msisdn AND n.policy = o.policy
                                                 AND n.evaluated_month = o.evaluated_month);
    UPDATE tier_serving t
    SET scheme = n.scheme, level = n.level, effective_from = n.effective_from,
        valid_until = n.valid_until, since = n.since, source = n.source
    FROM new_rows n
    WHERE t.msisdn = n.msisdn AND t.policy = n.policy AND t.evaluated_month = n.evaluated_month;
    INSERT INTO tier_serving (msisdn, policy, evaluated_month, scheme, level, effective_from,
                              valid_until, since, source)
    SELECT n.msisdn, n.policy, n.evaluated_month, n.scheme, n.level, n.effective_from, n.valid_until,
           n.since, n.source
    FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE n.msisdn = o.msisdn AND n.policy = o.policy
                                                 AND n.evaluated_month = o.evaluated_month)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tier_serving_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tier_serving t USING old_rows o
    WHERE t.msisdn = o.msisdn AND t.policy = o.policy AND t.evaluated_month = o.evaluated_month;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tier_serving_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE tier_serving;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tier_serving_inserted AFTER INSERT ON tier_assignments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tier_serving_inserted();
CREATE TRIGGER tier_serving_updated AFTER UPDATE ON tier_assignments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tier_serving_updated();
CREATE TRIGGER tier_serving_deleted AFTER DELETE ON tier_assignments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tier_serving_deleted();
CREATE TRIGGER tier_serving_truncated AFTER TRUNCATE ON tier_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION tier_serving_truncated();
-- Fired in every session, also one with session_replication_role = replica (the demo
-- loader's bulk writes skip the foreign-key triggers that way): no writer can miss them.
ALTER TABLE tier_assignments ENABLE ALWAYS TRIGGER tier_serving_inserted;
ALTER TABLE tier_assignments ENABLE ALWAYS TRIGGER tier_serving_updated;
ALTER TABLE tier_assignments ENABLE ALWAYS TRIGGER tier_serving_deleted;
ALTER TABLE tier_assignments ENABLE ALWAYS TRIGGER tier_serving_truncated;

-- Backfill from the history already there (an existing database converts in place).
INSERT INTO tier_serving (msisdn, policy, evaluated_month, scheme, level, effective_from, valid_until,
                          since, source)
SELECT msisdn, policy, evaluated_month, scheme, level, effective_from, valid_until, since, source
FROM tier_assignments;
SELECT tier_serving_prune('', 'ZZZZ');
