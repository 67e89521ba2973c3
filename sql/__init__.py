"""The numbered migrations. Package data of `gateway.stores.sql` (pyproject maps it here)."""
