"""migrator: PostgreSQL migrations that run exactly once, lint with schema knowledge,
plan expand/contract changes, and rehearse in CI."""

__version__ = "0.1.0"
