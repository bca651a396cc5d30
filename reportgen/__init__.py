"""reportgen: read-only PostgreSQL incident evidence, analysis and reports."""

__version__ = "0.1.0"
