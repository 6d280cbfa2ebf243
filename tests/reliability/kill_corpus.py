"""The migrations the kill tests interrupt: transactional ones with several statements,
a no-transaction one with two concurrent index builds, a lock-queue step, and a
no-transaction index build that is not idempotent. Gate statements (see
:mod:`tests.reliability.control`) mark the points a test can stop a run at; an open
gate costs nothing, so the same files serve every kill point and the reference run."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers_db import write_migrations
from tests.reliability.control import gate_statement

# gates inside migration files
ACCOUNTS_CREATED = 710_001
ACCOUNTS_LOADED = 710_002
EVENTS_CREATED = 710_003
INDEXES_FIRST_STATEMENT = 710_004
BETWEEN_INDEXES = 710_005
BEFORE_ACCOUNTS_ALTER = 710_006
BETWEEN_INDEX_DROPS = 710_007

#: rows in ``accounts``: enough for index builds to do real work, small enough for CI
CI_ROWS = 5_000
#: rows for the long variant (bench/reliability_long.py --rows sets it)
SLOW_ROWS = int(os.environ.get("RELIABILITY_ROWS", "200000"))
#: keys per backfill batch
BACKFILL_BATCH = 1_000


def corpus(rows: int = CI_ROWS) -> dict[str, str]:
    """The migration files (name -> text)."""
    return {
        "001_accounts.up.sql": (
            "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL,\n"
            "                       plan text NOT NULL DEFAULT 'free');\n"
            f"{gate_statement(ACCOUNTS_CREATED)}\n"
            "INSERT INTO accounts (id, email)\n"
            f"SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {rows}) g;\n"
            f"{gate_statement(ACCOUNTS_LOADED)}\n"
            "CREATE INDEX accounts_plan ON accounts (plan);\n"
        ),
        "001_accounts.down.sql": "DROP TABLE accounts;\n",
        "002_events.up.sql": (
            "CREATE TABLE events (\n"
            "    id bigserial PRIMARY KEY,\n"
            "    account_id bigint NOT NULL REFERENCES accounts,\n"
            "    kind text NOT NULL,\n"
            "    at timestamptz NOT NULL DEFAULT now()\n"
            ");\n"
            f"{gate_statement(EVENTS_CREATED)}\n"
            "ALTER TABLE accounts ADD COLUMN created_at timestamptz;\n"
            "COMMENT ON TABLE events IS 'what accounts did';\n"
        ),
        "002_events.down.sql": (
            "ALTER TABLE accounts DROP COLUMN created_at;\nDROP TABLE events;\n"
        ),
        "003_account_indexes.up.sql": (
            "-- migrate:no-transaction\n"
            f"{gate_statement(INDEXES_FIRST_STATEMENT)}\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON accounts (email);\n"
            f"{gate_statement(BETWEEN_INDEXES)}\n"
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_lower\n"
            "    ON accounts (lower(email));\n"
            "ANALYZE accounts;\n"
        ),
        "003_account_indexes.down.sql": (
            "-- migrate:no-transaction\n"
            "DROP INDEX CONCURRENTLY IF EXISTS accounts_email_lower;\n"
            f"{gate_statement(BETWEEN_INDEX_DROPS)}\n"
            "DROP INDEX CONCURRENTLY IF EXISTS accounts_email;\n"
        ),
        "004_events_source.up.sql": (
            "ALTER TABLE events ADD COLUMN source text;\n"
            f"{gate_statement(BEFORE_ACCOUNTS_ALTER)}\n"
            "ALTER TABLE accounts ADD COLUMN last_seen timestamptz;\n"
            "CREATE INDEX events_kind ON events (kind);\n"
        ),
        "004_events_source.down.sql": (
            "DROP INDEX events_kind;\n"
            "ALTER TABLE accounts DROP COLUMN last_seen;\n"
            "ALTER TABLE events DROP COLUMN source;\n"
        ),
        # deliberately not idempotent: a second run fails with "already exists"
        "005_events_at.up.sql": (
            "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY events_at ON events (at);\n"
        ),
        "005_events_at.down.sql": (
            "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS events_at;\n"
        ),
        "006_accounts_domain.up.sql": "ALTER TABLE accounts ADD COLUMN email_domain text;\n",
        "006_accounts_domain.down.sql": "ALTER TABLE accounts DROP COLUMN email_domain;\n",
        # a batched backfill: one transaction per BACKFILL_BATCH keys, progress in the ledger
        "007_accounts_domain_backfill.up.sql": (
            "-- migrate:phase backfill\n"
            f"-- migrate:backfill table=accounts key=id batch-size={BACKFILL_BATCH}\n"
            "UPDATE accounts SET email_domain = split_part(email, '@', 2)\n"
            "WHERE id BETWEEN $1 AND $2\n"
            "  AND email_domain IS DISTINCT FROM split_part(email, '@', 2);\n"
        ),
        "007_accounts_domain_backfill.down.sql": "UPDATE accounts SET email_domain = NULL;\n",
    }


#: statements per up file, by version
STATEMENTS = {1: 5, 2: 4, 3: 5, 4: 4, 5: 1, 6: 1, 7: 1}
HEAD = 7


def write_corpus(directory: Path, rows: int = CI_ROWS) -> Path:
    return write_migrations(directory, corpus(rows))
