-- H8: after each evaluation one statement finds the month's new and raised levels
-- (gateway/stores/queries/workorders.py create_fulfilment). Without an index that is a
-- scan of every month's assignments (1,000,000 rows a month kept), growing with the
-- history; this partial index holds only the rows that can need a manager or a card: the
-- first month's new levels, then the few changes of each later month.
CREATE INDEX tier_assignments_new_or_raised ON tier_assignments (policy, evaluated_month)
    WHERE change IN ('new', 'raised');
