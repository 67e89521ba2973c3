"""The services: each decides with `entitlements` and orchestrates one unit of work over
the stores (lookup, screen pop, reactivation, credit, payments, subscribers, work orders,
sweeper, notify, tokens, cache synchronisation). They raise domain errors (`errors`) and
never name an HTTP status; the HTTP edge maps them."""
