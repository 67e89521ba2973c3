"""The HTTP edge: app factory, middleware, auth, rate limits, problem+json, OpenAPI,
request parsing and the routes (parse → call a service → render)."""
