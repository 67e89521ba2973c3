-- The monthly evaluation writes a million assignment rows and a million explanations;
-- per-row foreign-key checks were a fifth of its database time (SPEC §7: ≤ 120 s).
--
-- Explanations are written once per subscriber and month and read one at a time
-- (`callgate explain`, the agent view), never searched: plain json skips the binary
-- conversion jsonb does on every insert. Its key to tier_assignments goes: both rows are
-- written by the same COPY transaction of the evaluation.
--
-- tier_assignments loses its key to subscribers: every row is written by the evaluation
-- for a number it has just read from subscribers (or by the demo loader, likewise), and
-- subscribers are never deleted — a cancelled number keeps its row with status
-- 'cancelled'; only TRUNCATE … CASCADE (`demo-data --reset`) empties them, together.
ALTER TABLE tier_explanations
    DROP CONSTRAINT tier_explanations_msisdn_policy_evaluated_month_fkey;
ALTER TABLE tier_explanations ALTER COLUMN explanation TYPE json USING explanation::json;
ALTER TABLE tier_assignments DROP CONSTRAINT tier_assignments_msisdn_fkey;
