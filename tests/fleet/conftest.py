"""Fixtures of the fleet tests: many databases on the session's server, a second
server on another port, and a targets file over them."""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import TEMPLATE_DATABASE
from tests.helpers_db import write_migrations

_prefix_counter = itertools.count(1)

#: three migrations; 002 inserts one row, so a second apply would show as a second row
MIGRATIONS = {
    "001_events.up.sql": (
        "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text);"
    ),
    "001_events.down.sql": "DROP TABLE events;",
    "002_seed.up.sql": "INSERT INTO events (kind) VALUES ('once');",
    "002_seed.down.sql": "DELETE FROM events WHERE kind = 'once';",
    "003_index.up.sql": (
        "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);"
    ),
    "003_index.down.sql": "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY events_kind_idx;",
}


def _admin(server: EphemeralServer) -> psycopg.Connection:
    return psycopg.connect(server.dsn("postgres"), autocommit=True)


class Databases:
    """Databases named ``<prefix>_NNN`` made from the test template on ``server``."""

    def __init__(self, server: EphemeralServer, count: int) -> None:
        self.server = server
        self.prefix = f"fleet{os.getpid()}x{next(_prefix_counter)}"
        self.names = [f"{self.prefix}_{i:03d}" for i in range(count)]
        with _admin(server) as conn:
            for name in self.names:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE_DATABASE}')

    def url(self, name: str) -> str:
        return self.server.dsn(name)

    def drop(self) -> None:
        """Drop them over several connections at once: each DROP DATABASE waits for a
        checkpoint, and concurrent requests share one."""
        from concurrent.futures import ThreadPoolExecutor

        def drop_one(name: str) -> None:
            with _admin(self.server) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(drop_one, self.names))

    def scalar(self, name: str, sql: str) -> object:
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            cursor = conn.execute(sql)
            if cursor.description is None:  # a statement that returns no rows
                return None
            row = cursor.fetchone()
            return None if row is None else row[0]

    def seeded_rows(self) -> dict[str, object]:
        """``events`` rows of kind 'once' per database (None: no table yet)."""
        counts: dict[str, object] = {}
        for name in self.names:
            exists = self.scalar(name, "SELECT to_regclass('public.events') IS NOT NULL")
            counts[name] = (
                self.scalar(name, "SELECT count(*) FROM events WHERE kind = 'once'")
                if exists
                else None
            )
        return counts

    def versions(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in self.names:
            exists = self.scalar(name, "SELECT to_regclass('public.migrator_ledger') IS NOT NULL")
            out[name] = (
                self.scalar(
                    name, "SELECT max(version) FROM migrator_ledger WHERE state = 'applied'"
                )
                if exists
                else None
            )
        return out


@pytest.fixture
def make_databases(pg_server: EphemeralServer) -> Iterator[object]:
    made: list[Databases] = []

    def make(count: int, server: EphemeralServer | None = None) -> Databases:
        databases = Databases(server or pg_server, count)
        made.append(databases)
        return databases

    yield make
    for databases in made:
        databases.drop()


@pytest.fixture(scope="module")
def second_server(pg_server: EphemeralServer) -> Iterator[EphemeralServer]:
    """Another PostgreSQL on another port, with the same empty template."""
    with EphemeralServer() as server:
        with _admin(server) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE_DATABASE} IS_TEMPLATE true")
        yield server


@pytest.fixture
def fleet_migrations(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "migrations", MIGRATIONS)


def dead_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def targets_file(
    path: Path, *, targets: list[tuple[str, str]] = (), discover: list[tuple[str, str, str]] = ()
) -> Path:  # type: ignore[assignment]
    """Write a targets file: ``targets`` as (name, url), ``discover`` as
    (url, query, name-prefix)."""
    lines: list[str] = []
    for name, url in targets:
        lines += ["[[target]]", f"name = {_toml(name)}", f"url = {_toml(url)}", ""]
    for url, query, prefix in discover:
        lines += [
            "[[discover]]",
            f"url = {_toml(url)}",
            f"query = {_toml(query)}",
            f"name-prefix = {_toml(prefix)}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
