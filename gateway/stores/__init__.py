"""The stores: PostgreSQL pool and `queries/` (SQL and nothing else), the pipelined Redis
client and its breaker, the cache record format, migrations and the embedded servers."""
