"""Where a run should end up: the schemas of uninterrupted runs of the kill corpus
(built once per state on scratch databases, then cached), the ledger rows that go with
them, and the check that a database reached head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from migrator.schema.model import Schema
from migrator.source.discovery import load_file
from tests.reliability import kill_corpus as kc
from tests.reliability.database_state import (
    ScratchDatabases,
    assert_same_schema,
    index_validity,
    ledger_state,
    schema_of,
)
from tests.reliability.processes import run_in_process

#: (version, state, statements_done, direction) of a ledger row
Row = tuple[int, str, int, str]


def applied(*versions: int) -> tuple[Row, ...]:
    return tuple((v, "applied", kc.STATEMENTS[v], "up") for v in versions)


def partial(version: int, done: int, direction: str = "up") -> Row:
    return (version, "partial", done, direction)


@dataclass(frozen=True)
class SchemaAt:
    """Migrations up to ``through`` applied, plus the first ``statements`` statements
    of the up file of ``version`` (a no-transaction migration part-way)."""

    through: int
    version: int | None = None
    statements: int = 0


class References:
    """Schemas of uninterrupted runs: migrations up to V, plus the first statements of
    the next no-transaction file run by hand (built once per state, then cached)."""

    def __init__(self, databases: ScratchDatabases, directory: Path) -> None:
        self.databases = databases
        self.directory = directory
        self._cache: dict[SchemaAt, Schema] = {}

    def schema(self, at: SchemaAt) -> Schema:
        if at not in self._cache:
            url = self.databases.create()
            if at.through:
                result = run_in_process(self.directory, url, "up", "--to", str(at.through))
                assert result.code == 0, result.output
            if at.version is not None:
                (path,) = self.directory.glob(f"{at.version:03d}_*.up.sql")
                statements = load_file(path).statements[: at.statements]
                with psycopg.connect(url, autocommit=True) as conn:
                    for statement in statements:
                        conn.execute(statement.text)  # type: ignore[arg-type]
            self._cache[at] = schema_of(url)
        return self._cache[at]


def check_at_head(directory: Path, database_url: str, references: References) -> None:
    state = ledger_state(database_url)
    assert state.rows == applied(*range(1, kc.HEAD + 1))
    for version in range(1, kc.HEAD + 1):
        net = state.history.count((version, "up")) - state.history.count((version, "down"))
        assert net in (0, 1), state.history
    assert all(valid for valid in index_validity(database_url).values())
    assert_same_schema(
        schema_of(database_url), references.schema(SchemaAt(kc.HEAD)), "schema at head"
    )
    verify = run_in_process(directory, database_url, "verify")
    assert verify.code == 0, verify.output
    assert backfill_missing(database_url) == 0


def backfilled_rows(database_url: str) -> int:
    """Rows of ``accounts`` the backfill (007) has set."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM accounts WHERE email_domain = split_part(email, '@', 2)"
        ).fetchone()
    return int(row[0]) if row else 0


def backfill_missing(database_url: str) -> int:
    """Rows of ``accounts`` the backfill has not set yet."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM accounts WHERE email_domain IS DISTINCT FROM "
            "split_part(email, '@', 2)"
        ).fetchone()
    return int(row[0]) if row else 0
