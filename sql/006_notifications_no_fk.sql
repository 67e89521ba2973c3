-- The first evaluation of a province queues an SMS for most subscribers (T1.9: 769,231
-- of a million in the demo province); the per-row foreign-key check to subscribers more
-- than doubled the COPY's cost (100,000 rows: 2.8–3.1 s with the key, 1.2 s without),
-- ~13 s of that run's database time (SPEC §7: ≤ 120 s).
--
-- Every outbox row is written by the evaluation for a number it has just read from
-- subscribers, and subscribers are never deleted (a cancelled number keeps its row with
-- status 'cancelled'); `demo-data --reset` truncates every data table together. The
-- same reasoning dropped tier_assignments' key in 005.
ALTER TABLE notifications DROP CONSTRAINT notifications_msisdn_fkey;
