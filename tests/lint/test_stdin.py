"""``migrate lint -``: SQL piped in (an ORM's generated SQL, `sqlmigrate`, Alembic's
offline mode) is linted on its own, shown under ``--stdin-filename``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.helpers import Result, run_cli
from tests.helpers_db import write_migrations


def _piped(
    monkeypatch: pytest.MonkeyPatch, data: bytes, *args: str, cwd: Path | None = None
) -> Result:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return run_cli("lint", *args, cwd=cwd)


def test_sql_from_stdin_is_linted_under_its_given_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sql = b"SELECT 1;\nALTER TABLE users ADD COLUMN a int NOT NULL DEFAULT random();\n"

    result = _piped(
        monkeypatch, sql, "--format", "json", "--stdin-filename", "app/0042.sql", "-", cwd=tmp_path
    )

    assert result.code == 1
    (finding,) = json.loads(result.stdout)
    assert (finding["file"], finding["line"], finding["rule"]) == (
        "app/0042.sql",
        2,
        "add-column-rewrite",
    )
    # there is no file to plan from: the help says to save one
    assert finding["help"].endswith("or save it to a file and run: migrate plan FILE")


def test_only_stdin_is_linted_when_it_is_the_only_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_migrations(
        tmp_path / "database" / "migrations",
        {  # linting the directory would find the index on an existing table
            "001_a.up.sql": "CREATE TABLE a (id int);\n",
            "002_a_id.up.sql": "CREATE INDEX a_id ON a (id);\n",
        },
    )

    clean = _piped(monkeypatch, b"SELECT 1;\n", "-", cwd=tmp_path)

    assert clean.code == 0
    assert "in 1 file(s)" in clean.stdout


def test_stdin_and_files_together(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loose = tmp_path / "loose.sql"
    loose.write_text("CREATE INDEX i ON t (a);\n")

    result = _piped(
        monkeypatch, b"DROP TABLE users;\n", "--format", "json", str(loose), "-", cwd=tmp_path
    )

    files = {finding["file"] for finding in json.loads(result.stdout)}
    assert files == {"loose.sql", "stdin.sql"}


def test_broken_stdin_is_a_finding_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _piped(monkeypatch, b"\xff\xfe not utf-8", "-", cwd=tmp_path)

    assert result.code == 1
    assert "stdin.sql:1:1: error [invalid-migration-file]" in result.stdout
    assert "not UTF-8" in result.stdout
