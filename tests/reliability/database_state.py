"""What a database holds, as comparable values: its schema (``migrator.schema``
introspection, ledger tables left out), the ledger rows and the history; and
throwaway databases on the session server to build reference states in."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg
from pytest_postgresql.janitor import DatabaseJanitor

from migrator.ephemeral import EphemeralServer
from migrator.schema.diff import diff_lines
from migrator.schema.introspect import read_schema
from migrator.schema.model import Schema, SchemaObject
from tests.conftest import TEMPLATE_DATABASE

LEDGER = "public.migrator_ledger"
HISTORY = "public.migrator_ledger_history"

_counter = itertools.count(1)


async def _read(database_url: str) -> Schema:
    conn = await asyncpg.connect(database_url)
    try:
        return await read_schema(conn)
    finally:
        await conn.close()


def schema_of(database_url: str) -> Schema:
    """The schema of the database at ``database_url`` (ledger tables left out)."""
    return asyncio.run(_read(database_url))


def assert_same_schema(actual: Schema, expected: Schema, what: str) -> None:
    assert actual == expected, f"{what}: " + "; ".join(diff_lines(expected, actual))


def with_index_valid(schema: Schema, index: str) -> Schema:
    """``schema`` with index ``index`` (``public.name``) marked valid and ready, so a
    database holding an INVALID leftover compares with one whose build finished."""
    objects: list[SchemaObject] = []
    for obj in schema:
        if obj.kind == "index" and obj.name == index:
            attributes = tuple(
                (key, "yes" if key == "valid" else value)
                for key, value in obj.attributes
                if key != "ready"
            )
            obj = SchemaObject(obj.kind, obj.name, attributes, obj.parent, obj.label)
        objects.append(obj)
    return Schema.of(objects)


def index_validity(database_url: str) -> dict[str, bool]:
    """``{index name: indisvalid}`` of every index in ``public``."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).fetchall()
    return {name: valid for name, valid in rows}


@dataclass(frozen=True)
class LedgerState:
    """(version, state, statements_done, direction) of each row; (version, action) of
    each history row, oldest first."""

    rows: tuple[tuple[int, str, int, str], ...]
    history: tuple[tuple[int, str], ...]

    def applies_of(self, version: int) -> int:
        return self.history.count((version, "up"))


def ledger_state(database_url: str) -> LedgerState:
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LEDGER,)).fetchone()
        if not exists or not exists[0]:
            return LedgerState((), ())
        rows = conn.execute(
            f"SELECT version, state, statements_done, direction FROM {LEDGER} ORDER BY version"
        ).fetchall()
        history = conn.execute(f"SELECT version, action FROM {HISTORY} ORDER BY id").fetchall()
    return LedgerState(
        tuple((int(v), s, d, direction) for v, s, d, direction in rows),
        tuple((int(v), a) for v, a in history),
    )


def ledger_progress(database_url: str, version: int) -> dict[str, Any]:
    """The ``progress`` JSON of a ledger row (empty when there is none)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT progress FROM {LEDGER} WHERE version = %s", (version,)
        ).fetchone()
    return dict(row[0]) if row and row[0] else {}


def full_ledger_rows(database_url: str, table: str = LEDGER) -> list[tuple[Any, ...]]:
    """Every column of every ledger and history row (for "exactly as before")."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        if not found or not found[0]:
            return []
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        history = conn.execute(f"SELECT * FROM {table}_history ORDER BY 1").fetchall()
    return [*rows, *history]


class ScratchDatabases:
    """Fresh databases on the session server, all dropped at the end."""

    def __init__(self, server: EphemeralServer) -> None:
        self.server = server
        self._janitors: list[DatabaseJanitor] = []

    def create(self, template: str = TEMPLATE_DATABASE) -> str:
        """A new database cloned from ``template`` (a database name); its URL."""
        name = f"scratch_{os.getpid()}_{next(_counter)}"
        janitor = DatabaseJanitor(
            user=self.server.user,
            host=self.server.host,
            port=self.server.port,
            dbname=name,
            template_dbname=template,
        )
        janitor.init()
        self._janitors.append(janitor)
        return self.server.dsn(name)

    def drop(self, database_url: str) -> None:
        name = database_url.rsplit("/", 1)[1]
        for janitor in self._janitors:
            if janitor.dbname == name:
                janitor.drop()
                self._janitors.remove(janitor)
                return

    def drop_all(self) -> None:
        for janitor in self._janitors:
            janitor.drop()
        self._janitors.clear()


def scratch_databases(server: EphemeralServer) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(server)
    try:
        yield databases
    finally:
        databases.drop_all()
