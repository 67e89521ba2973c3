-- Reactivation, credit, payment and work-order write paths (issue 6).

-- T1.10 / T2.7: cancellation ends a level at once. A level that has not started yet
-- (a pending evaluation effective next month) is voided by ending it the day before
-- it starts (valid_until = effective_from - 1): it never serves on any day.
ALTER TABLE tier_assignments DROP CONSTRAINT tier_assignments_check;
ALTER TABLE tier_assignments ADD CONSTRAINT tier_assignments_validity
    CHECK (valid_until IS NULL OR valid_until >= effective_from - 1);

-- R5: numbers whose temporary credit was debited in PostgreSQL while Redis was
-- unreachable. The credit reconciler drops their Redis credit state once Redis answers
-- again, so the next authorisation reloads it from here (gateway/credit.py).
CREATE TABLE credit_resync (
    msisdn text PRIMARY KEY REFERENCES subscribers (msisdn),
    at     timestamptz NOT NULL
);

-- GET /v1/audit?since=… without a number.
CREATE INDEX audit_log_at ON audit_log (at);
-- The latest prepaid grant of a number (credit state loads).
CREATE INDEX reactivations_prepaid ON reactivations (msisdn, granted_at DESC) WHERE mode = 'prepaid_credit';
-- The credit ledger of one number (the idempotency refs preloaded into Redis).
CREATE INDEX credit_debits_msisdn ON credit_debits (msisdn, at);
