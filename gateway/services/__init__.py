"""The services: each decides with `entitlements` and orchestrates one unit of work over
the stores (lookup, screen pop, reactivation, credit, payments, work orders, sweeper,
notify, tokens, cache synchronisation). They raise domain errors; the HTTP edge maps them."""
