"""A ledger altered by hand (round 3): every command refuses it with one line naming
what is wrong and how to restore it, and changes nothing (P6)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.helpers import run_cli
from tests.helpers_db import write_migrations

FILES = {
    "001_t.up.sql": "CREATE TABLE t (id int);\n",
    "001_t.down.sql": "DROP TABLE t;\n",
    "002_u.up.sql": "CREATE TABLE u (id int);\n",
    "002_u.down.sql": "DROP TABLE u;\n",
}


def _first_applied(tmp_path: Path, database_url: str) -> tuple[str, ...]:
    """Write FILES, apply 001 only; return the common arguments of the commands."""
    directory = write_migrations(tmp_path / "m", FILES)
    args = ("--dir", str(directory), "--database-url", database_url)
    assert run_cli(*args, "up", "--to", "1").code == 0
    return args


@pytest.mark.parametrize(
    "command",
    [("status",), ("verify",), ("up",), ("down",), ("down", "--to", "0"), ("baseline", "2")],
)
def test_a_ledger_with_a_version_twice_is_refused(
    tmp_path: Path, database_url: str, command: tuple[str, ...]
) -> None:
    # P6: with the primary key dropped and a row copied, status and verify said all was
    # well, and `down` of 001 failed in the ledger write ("more than one row returned by
    # a subquery", exit 4) blaming the migration: "fix the migration"
    args = _first_applied(tmp_path, database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE migrator_ledger DROP CONSTRAINT migrator_ledger_pkey")
        conn.execute("INSERT INTO migrator_ledger SELECT * FROM migrator_ledger")
        before = conn.execute("SELECT * FROM migrator_ledger_history ORDER BY 1").fetchall()

    result = run_cli(*args, *command)
    assert result.code == 4, result.output
    assert result.stderr.splitlines() == [
        "error: the ledger public.migrator_ledger has more than one row for the migration t "
        "(its primary key was dropped outside migrator) (delete the extra rows by hand, then "
        'restore the key: ALTER TABLE "public"."migrator_ledger" ADD PRIMARY KEY (version))'
    ]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrator_ledger").fetchone() == (2,)
        assert conn.execute("SELECT * FROM migrator_ledger_history ORDER BY 1").fetchall() == before
        assert conn.execute("SELECT to_regclass('t') IS NOT NULL, to_regclass('u')").fetchone() == (
            True,
            None,
        )


@pytest.mark.parametrize("command", [("status",), ("up",), ("down",)])
def test_a_ledger_version_that_is_not_whole_is_refused(
    tmp_path: Path, database_url: str, command: tuple[str, ...]
) -> None:
    # P6: with the ledger's check dropped, a row of version 1.5 was read as version 1 and
    # reported as two rows of version 1 (the key was not dropped)
    args = _first_applied(tmp_path, database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE migrator_ledger DROP CONSTRAINT migrator_ledger_version_check")
        conn.execute(
            "INSERT INTO migrator_ledger (version, name, up_checksum, transactional, state) "
            "VALUES (1.5, 'half', 'x', true, 'applied')"
        )
    result = run_cli(*args, *command)
    assert result.code == 4, result.output
    assert result.stderr.startswith(
        "error: the ledger public.migrator_ledger has a version that is not a whole number: "
        "1.5 (half) (its check was dropped outside migrator)"
    ), result.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrator_ledger").fetchone() == (2,)
        assert conn.execute("SELECT to_regclass('t') IS NOT NULL").fetchone() == (True,)
