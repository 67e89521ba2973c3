-- One outbox rule for every kind of SMS (after 010 and 030, written side by side):
-- 010 kept "once per subscriber, kind and month" for every kind but the password reset;
-- 030 keeps it for the monthly tier result (T1.9) only, so that a customer may text JFCX
-- (P4) or reset a password (H4) more than once a month. The tier rule is 030's index.
DROP INDEX IF EXISTS notifications_once;
