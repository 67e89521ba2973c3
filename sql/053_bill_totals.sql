-- Issue 22.1: bill months folded into per-subscriber totals. The engine needs two things
-- from bills older than its 13-month window: the cumulative amount paid (T4.1) and the
-- months in arrears (payments settle the oldest bill first). Summing them from every
-- bill month held made each month's evaluation read more rows than the last (37 months of
-- rows per subscriber after three years). The evaluation of month M now first folds the
-- bill months before M−13 into bill_totals (`callgate evaluate`, queries/bill_totals.py),
-- and its batches read bill rows from the fold on plus one totals row per subscriber:
-- the same rows however long the province has run. The bill rows stay where they are
-- (explanations, audits, `callgate retention`); one subscriber's reads (the lookup's miss
-- path, payments, reactivation) still sum every row.
--
-- bill_totals_through holds the fold: no row, or a NULL month, means nothing folded.
-- bill_totals holds, per subscriber, the sums of the bill rows of months before it, and
-- what the months in arrears need: payments settle the oldest bill first, so a folded
-- month with a bill is paid once everything paid reaches the running total of the bills
-- through it. `unpaid_upto` keeps those running totals (in month order) that the folded
-- payments do not reach — none for a subscriber who paid the folded months off, and one
-- per month still unpaid for a debtor; the reader counts the ones that everything paid
-- since does not reach either (snapshot.py). This holds because no amount is negative
-- (the CHECKs on bills and payments): the running totals only grow.
CREATE TABLE bill_totals_through (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    through date CHECK (extract(day FROM through) = 1)
);
INSERT INTO bill_totals_through DEFAULT VALUES;

CREATE TABLE bill_totals (
    msisdn      text PRIMARY KEY,
    billed_fen  bigint NOT NULL,
    paid_fen    bigint NOT NULL,
    unpaid_upto bigint[] NOT NULL DEFAULT '{}'
);  -- each fold writes it whole, as a new table (queries/bill_totals.py)

-- The totals of `numbers` (NULL: everyone) computed again from their bill rows before `upto`.
CREATE FUNCTION bill_totals_refold(numbers text[], upto date) RETURNS void LANGUAGE sql AS $$
    DELETE FROM bill_totals WHERE numbers IS NULL OR msisdn = ANY (numbers);
    INSERT INTO bill_totals (msisdn, billed_fen, paid_fen, unpaid_upto)
    SELECT msisdn, coalesce(max(running), 0), max(paid),
           coalesce(array_agg(running ORDER BY month) FILTER (WHERE billed_fen > 0 AND running > paid), '{}')
    FROM (SELECT msisdn, month, billed_fen,
                 sum(billed_fen) OVER (PARTITION BY msisdn ORDER BY month) AS running,
                 sum(paid_fen) OVER (PARTITION BY msisdn) AS paid
          FROM bills WHERE month < upto AND (numbers IS NULL OR msisdn = ANY (numbers))) b
    GROUP BY msisdn;
$$;

-- Every writer of bills keeps the totals: statement-level triggers compute the totals of
-- the subscribers whose folded months they touched again (a correction of an old month,
-- a hand-written fix; a few subscribers, as a rule). The fold takes the through row FOR
-- UPDATE while it folds; a writer takes it FOR SHARE, so a correction either commits
-- before the fold reads or sees the fold's new month. Rows moved between partitions by
-- callgate_month_partition() do not pass through the parent and leave the totals alone (a
-- move changes no sum); the import attaches a month whole only when it is not folded, and
-- merges a folded one row by row through the parent. `callgate retention` computes the
-- totals again after it drops folded months. Lock order, everywhere: the through row
-- first, then tables.
-- Writers that touched folded months compute totals one at a time: two transactions
-- correcting the same subscriber would each delete the row and insert their own. The lock
-- is taken before the computation, so each reads what the one before it committed.
-- (plpgsql plans a statement when it first runs it: each operation's trigger reads only
-- the transition tables it declares.)
CREATE FUNCTION bill_totals_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    upto date;
    numbers text[];
BEGIN
    SELECT through INTO upto FROM bill_totals_through FOR SHARE;
    IF upto IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        numbers := ARRAY(SELECT DISTINCT msisdn FROM new_rows WHERE month < upto);
    ELSIF TG_OP = 'UPDATE' THEN
        numbers := ARRAY(SELECT msisdn FROM new_rows WHERE month < upto
                         UNION SELECT msisdn FROM old_rows WHERE month < upto);
    ELSE
        numbers := ARRAY(SELECT DISTINCT msisdn FROM old_rows WHERE month < upto);
    END IF;
    IF cardinality(numbers) > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtext('bill_totals_refold'));
        PERFORM bill_totals_refold(numbers, upto);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION bill_totals_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE bill_totals;
    UPDATE bill_totals_through SET through = NULL;
    RETURN NULL;
END;
$$;

-- (one trigger per operation: PostgreSQL allows transition tables only on a single event)
CREATE TRIGGER bill_totals_inserted AFTER INSERT ON bills
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bill_totals_written();
CREATE TRIGGER bill_totals_updated AFTER UPDATE ON bills
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bill_totals_written();
CREATE TRIGGER bill_totals_deleted AFTER DELETE ON bills
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bill_totals_written();
CREATE TRIGGER bill_totals_truncated AFTER TRUNCATE ON bills
    FOR EACH STATEMENT EXECUTE FUNCTION bill_totals_truncated();
-- Fired in every session, also one with session_replication_role = replica (as sql/051).
ALTER TABLE bills ENABLE ALWAYS TRIGGER bill_totals_inserted;
ALTER TABLE bills ENABLE ALWAYS TRIGGER bill_totals_updated;
ALTER TABLE bills ENABLE ALWAYS TRIGGER bill_totals_deleted;
ALTER TABLE bills ENABLE ALWAYS TRIGGER bill_totals_truncated;
