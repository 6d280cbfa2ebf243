"""A down file linted on its own (its up not a migration of the same directory): what
it reverts counts as new, as when the whole directory is linted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli

UP = """\
CREATE TABLE sessions (id bigint PRIMARY KEY);
CREATE TABLE feedback (id bigint PRIMARY KEY, session_id bigint REFERENCES sessions);
"""
DOWN = """\
REVOKE SELECT ON feedback FROM reader;
DROP TABLE feedback;
DROP TABLE sessions;
"""


def _rules(directory: Path, *paths: str) -> list[tuple[str, str]]:
    result = run_cli("lint", "--format", "json", *paths, cwd=directory)
    assert result.code in (0, 1), result.stderr
    return [(Path(f["file"]).name, f["rule"]) for f in json.loads(result.stdout)]


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.migrator]\n")
    migrations = tmp_path / "database" / "migrations"
    migrations.mkdir(parents=True)
    return migrations


def test_down_alone_in_its_directory_drops_no_existing_table(tmp_path: Path) -> None:
    migrations = _project(tmp_path)
    (migrations / "0002_feedback.down.sql").write_text(DOWN)
    rules = _rules(tmp_path, "database/migrations/0002_feedback.down.sql")
    assert ("0002_feedback.down.sql", "drop-table") not in rules
    assert ("0002_feedback.down.sql", "statements-after-access-exclusive") not in rules


def test_down_alone_agrees_with_the_directory_run(tmp_path: Path) -> None:
    migrations = _project(tmp_path)
    (migrations / "0002_feedback.up.sql").write_text(UP)
    (migrations / "0002_feedback.down.sql").write_text(DOWN)
    whole = [r for r in _rules(tmp_path) if r[0] == "0002_feedback.down.sql"]
    alone = _rules(tmp_path, "database/migrations/0002_feedback.down.sql")
    assert whole == alone == []


def test_an_up_file_alone_still_treats_unknown_tables_as_existing(tmp_path: Path) -> None:
    migrations = _project(tmp_path)
    (migrations / "0003_cleanup.sql").write_text("DROP TABLE legacy;\n")
    rules = _rules(tmp_path, "database/migrations/0003_cleanup.sql")
    assert ("0003_cleanup.sql", "drop-table") in rules


def test_down_of_a_pair_still_flags_tables_its_up_did_not_create(tmp_path: Path) -> None:
    migrations = _project(tmp_path)
    (migrations / "0002_feedback.up.sql").write_text(UP)
    (migrations / "0002_feedback.down.sql").write_text(DOWN + "DROP TABLE users;\n")
    rules = _rules(tmp_path, "database/migrations/0002_feedback.down.sql")
    assert rules.count(("0002_feedback.down.sql", "drop-table")) == 1
