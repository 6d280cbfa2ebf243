"""Linting a directory that holds no migration says so (hostile O10), the parent of the
migrations directory is refused naming it, and a ``--dir`` that is a file is not linted
as SQL (hostile O12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.helpers_db import write_migrations

PAIR = {"001_a.up.sql": "CREATE TABLE a (id int);\n", "001_a.down.sql": "DROP TABLE a;\n"}


def test_an_empty_directory_says_no_migrations_where_and_in_which_layout(
    tmp_path: Path,
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "README.md").write_text("migrations go here\n")

    result = run_cli("--dir", "m", "lint", cwd=tmp_path)

    assert result.code == 0, result.output
    assert f"no migrations in {tmp_path / 'm'} (migrator layout, detected)" in result.stdout


@pytest.mark.parametrize("nested", ["migrations", "postgres/migrations"])
def test_the_parent_of_the_migrations_directory_is_refused_naming_it(
    tmp_path: Path, nested: str
) -> None:
    write_migrations(tmp_path / "database" / nested, PAIR)

    result = run_cli("--dir", "database", "lint", cwd=tmp_path)

    assert result.code == 2, result.output
    assert "holds no migrations" in result.stderr
    assert f"migrate --dir {tmp_path / 'database' / nested} lint" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_directory_with_migrations_has_no_such_line(tmp_path: Path) -> None:
    write_migrations(tmp_path / "m", PAIR)

    result = run_cli("--dir", "m", "lint", cwd=tmp_path)

    assert result.code == 0 and "no migrations" not in result.output
    assert "in 2 file(s)" in result.stdout


def test_a_dir_that_is_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE a (id int);\n")

    result = run_cli("--dir", "schema.sql", "lint", cwd=tmp_path)

    assert result.code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "schema.sql is not a directory" in line and "migrate lint" in line
