"""Hostile and odd files in the migrations directory, through every command that reads
it: a symlink loop, editor backups, versions in non-ASCII digits, names with control
characters or ANSI escapes, empty files, and a version 0 against ``down --to 0``.

Each refusal is one clear ``error:`` line (exit 2, never 70), with nothing raw echoed
to the terminal, and the database left exactly as it was."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.helpers import Result, run_cli

#: the commands that read the directory (dry-run refuses before it starts a server)
READERS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("lint",),
    ("up", "--sql"),
    ("dry-run",),
    ("up",),
    ("down",),
    ("verify",),
)


def migrate(directory: Path, database_url: str, *args: str, verbose: bool = False) -> Result:
    flags = ("-v",) if verbose else ()
    return run_cli(*flags, "--dir", str(directory), "--database-url", database_url, *args)


def ledger_rows(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.migrator_ledger')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return conn.execute(
            "SELECT version, name, state FROM public.migrator_ledger ORDER BY version"
        ).fetchall()


def tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def assert_refused_everywhere(directory: Path, database_url: str, says: str) -> list[Result]:
    before = (ledger_rows(database_url), tables(database_url))
    results = []
    for command in READERS:
        result = migrate(directory, database_url, *command)
        where = f"{command}: {result.output!r}"
        assert "Traceback" not in result.output and "\x1b" not in result.output, where
        if command == ("lint",):
            assert result.code == 1 and says in result.stdout, where
        else:
            assert result.code == 2, where
            errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and says in result.stderr, where
        results.append(result)
    assert (ledger_rows(database_url), tables(database_url)) == before
    return results


def base(directory: Path) -> Path:
    (directory / "001_users.up.sql").write_text("CREATE TABLE users (id int);\n")
    (directory / "001_users.down.sql").write_text("DROP TABLE users;\n")
    return directory


def test_a_symlink_loop_is_one_clear_error(migrations_dir: Path, database_url: str) -> None:
    base(migrations_dir)
    os.symlink("002_loop.up.sql", migrations_dir / "002_loop.up.sql")
    os.symlink("b", migrations_dir / "a")
    os.symlink("a", migrations_dir / "b")
    results = assert_refused_everywhere(
        migrations_dir, database_url, "cannot read (Too many levels of symbolic links)"
    )
    assert all("002_loop.up.sql" in result.output for result in results)


def test_editor_backups_are_ignored_and_listed_by_status_v(
    migrations_dir: Path, database_url: str
) -> None:
    base(migrations_dir)
    backups = ["001_u.sql~", "001_users.up.sql.orig", "001_users.up.sql.swp", "#001_u.sql#"]
    for name in backups:
        (migrations_dir / name).write_text("DROP TABLE users;\n")
    applied = migrate(migrations_dir, database_url, "up")
    assert applied.code == 0, applied.output
    assert tables(database_url) == ["migrator_ledger", "migrator_ledger_history", "users"]
    plain = migrate(migrations_dir, database_url, "status")
    assert plain.code == 0 and "layout migrator (detected)" in plain.stdout
    assert "001_u.sql~" not in plain.stdout
    for verbose in (
        migrate(migrations_dir, database_url, "status", verbose=True),
        migrate(migrations_dir, database_url, "status", "-v"),
    ):
        for name in backups:
            assert f"ignored (not a migration of this layout): {migrations_dir / name}" in (
                verbose.stdout
            )
    assert migrate(migrations_dir, database_url, "verify").code == 0


@pytest.mark.parametrize("name", ["٣_b.sql", "\uff17_c.sql", "0\u0663_d.sql"])
def test_versions_in_non_ascii_digits_are_refused(
    migrations_dir: Path, database_url: str, name: str
) -> None:
    base(migrations_dir)
    (migrations_dir / "003_a.sql").write_text("SELECT 1;\n")
    (migrations_dir / name).write_text("SELECT 2;\n")
    results = assert_refused_everywhere(migrations_dir, database_url, "not in ASCII digits 0-9")
    assert not any("more than one migration" in result.output for result in results)


@pytest.mark.parametrize(
    "name", ["002_\x1b[31mred.up.sql", "002_bell\x07.sql", "002_new\nline.sql", "\x1b]0;x\x07.sql"]
)
def test_names_with_control_characters_are_refused_escaped(
    migrations_dir: Path, database_url: str, name: str
) -> None:
    base(migrations_dir)
    (migrations_dir / name).write_text("DROP TABLE users;\n")
    results = assert_refused_everywhere(
        migrations_dir, database_url, "file name holds control characters"
    )
    for result in results:
        assert not any(ord(c) < 32 and c != "\n" for c in result.output), result.output


def test_empty_and_comment_only_files_are_no_ops(migrations_dir: Path, database_url: str) -> None:
    base(migrations_dir)
    (migrations_dir / "001_users.down.sql").write_text("")  # nothing to undo
    (migrations_dir / "002_later.up.sql").write_text("-- filled in by a later release\n")
    (migrations_dir / "002_later.down.sql").write_text("  \n")
    assert migrate(migrations_dir, database_url, "lint").code == 0
    sql = migrate(migrations_dir, database_url, "up", "--sql")
    assert sql.code == 0, sql.output
    dry = migrate(migrations_dir, database_url, "dry-run")
    assert dry.code == 0, dry.output
    assert migrate(migrations_dir, database_url, "up").code == 0
    assert [row[:2] for row in ledger_rows(database_url)] == [(1, "users"), (2, "later")]
    assert migrate(migrations_dir, database_url, "verify").code == 0
    down = migrate(migrations_dir, database_url, "down", "--to", "0")
    assert down.code == 0, down.output
    assert ledger_rows(database_url) == []
    assert "users" in tables(database_url)  # its empty down undid nothing


def test_down_to_0_keeps_a_version_0(migrations_dir: Path, database_url: str) -> None:
    (migrations_dir / "0_setup.up.sql").write_text("CREATE TABLE setup (id int);\n")
    (migrations_dir / "0_setup.down.sql").write_text("DROP TABLE setup;\n")
    base(migrations_dir)
    assert migrate(migrations_dir, database_url, "up").code == 0
    down = migrate(migrations_dir, database_url, "down", "--to", "0")
    assert down.code == 0, down.output
    assert [row[0] for row in ledger_rows(database_url)] == [0]
    assert migrate(migrations_dir, database_url, "down").code == 0
    assert ledger_rows(database_url) == []
    assert "setup" not in tables(database_url)
