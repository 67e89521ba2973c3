"""SQL and nothing else: one module per aggregate, raw SQL with $n parameters, typed rows."""
