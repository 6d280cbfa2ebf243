"""A migrations directory plus a fresh database, driven through the CLI as a user would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import Result, run_cli
from tests.helpers_db import write_migrations

#: fast retries for tests: a lock timeout is retried after about 20-40 ms
FAST_RETRIES = {
    "MIGRATOR_RETRY_DELAY": "40ms",
    "MIGRATOR_RETRY_MAX_DELAY": "200ms",
}


@dataclass
class Project:
    """A migrations directory and the database ``migrate`` runs against."""

    directory: Path
    database_url: str
    cwd: Path

    def write(self, files: Mapping[str, str]) -> None:
        write_migrations(self.directory, files)

    def remove(self, *names: str) -> None:
        for name in names:
            (self.directory / name).unlink()

    def migrate(
        self, *args: str, env: Mapping[str, str | None] | None = None, url: str | None = None
    ) -> Result:
        """``migrate --dir DIR --database-url URL ARGS`` in this process (``url``: another
        URL than the project's database)."""
        environment: dict[str, str | None] = {
            "DATABASE_URL": None,
            "MIGRATOR_LOCK_TIMEOUT": None,
            "MIGRATOR_LOCK_RETRIES": None,
            "MIGRATOR_WAIT": None,
            "MIGRATOR_STRICT": None,
            **FAST_RETRIES,
            **(env or {}),
        }
        return run_cli(
            "--dir",
            str(self.directory),
            "--database-url",
            url or self.database_url,
            *args,
            env=environment,
            cwd=self.cwd,
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

    def scalar(self, sql: str, *params: Any) -> Any:
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None

    def tables(self) -> set[str]:
        return {
            name
            for (name,) in self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }

    def ledger(self) -> list[tuple[Any, ...]]:
        """(version, state, statements_done) of every ledger row."""
        if not self.scalar("SELECT to_regclass('public.migrator_ledger') IS NOT NULL"):
            return []
        return [
            (int(version), state, done)
            for version, state, done in self.query(
                "SELECT version, state, statements_done FROM migrator_ledger ORDER BY version"
            )
        ]

    def history(self) -> list[tuple[int, str]]:
        """(version, action) of every history row, oldest first."""
        return [
            (int(version), action)
            for version, action in self.query(
                "SELECT version, action FROM migrator_ledger_history ORDER BY id"
            )
        ]


@pytest.fixture
def project(database_url: str, migrations_dir: Path, tmp_path: Path) -> Project:
    return Project(migrations_dir, database_url, tmp_path)


#: two ordinary migrations used by many tests
USERS = {
    "001_create_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
    "001_create_users.down.sql": "DROP TABLE users;\n",
    "002_create_orders.up.sql": (
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);\n"
        "CREATE INDEX orders_user_id ON orders (user_id);\n"
    ),
    "002_create_orders.down.sql": "DROP TABLE orders;\n",
}
