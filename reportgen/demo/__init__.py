"""The demo: the reference incident, planted in an embedded PostgreSQL, then assessed."""
