"""The one place that knows PostgreSQL syntax (pglast / libpg_query). No database."""
