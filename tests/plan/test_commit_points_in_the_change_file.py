"""A ``COMMIT [AND CHAIN]`` / ``END`` between the statements of a change file is a commit
point its authors chose (sourcegraph: "We COMMIT AND CHAIN after each table is altered to
prevent a single transaction over all the alters"): the planner refuses it with exit 1
and a reason that does not ask to merge the transactions (finding F-hostile-4: it was
exit 2, "remove it"). A ``BEGIN`` is still unusable input (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

BASE = "CREATE TABLE a (id int PRIMARY KEY, t int);\nCREATE TABLE b (id int PRIMARY KEY, t int);\n"
TWO_TABLES = (
    "ALTER TABLE a ALTER COLUMN t SET DEFAULT 1;\n{commit};\n"
    "ALTER TABLE b ALTER COLUMN t SET DEFAULT 1;\n{commit};\n"
)


def _plan(tmp_path: Path, change: str) -> tuple[int, str, list[str]]:
    directory = tmp_path / "database" / "migrations"
    directory.mkdir(parents=True)
    (directory / "001_base.up.sql").write_text(BASE)
    (directory / "001_base.down.sql").write_text("SELECT 1;\n")
    (tmp_path / "x.sql").write_text(change)
    result = run_cli("plan", "x.sql", cwd=tmp_path)
    return result.code, result.stderr, sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("commit", ["COMMIT AND CHAIN", "COMMIT", "END"])
def test_a_commit_point_is_refused_with_exit_1_and_its_reason(tmp_path: Path, commit: str) -> None:
    code, stderr, files = _plan(tmp_path, TWO_TABLES.format(commit=commit))

    assert code == 1
    assert stderr.startswith("error: x.sql:2: COMMIT in the change file: a commit point")
    assert "plan each part between the commit points as a file of its own" in stderr
    assert "remove it" not in stderr
    assert files == ["001_base.down.sql", "001_base.up.sql"]


def test_a_begin_is_still_unusable_input(tmp_path: Path) -> None:
    code, stderr, _ = _plan(
        tmp_path, "BEGIN;\nALTER TABLE a ALTER COLUMN t SET DEFAULT 1;\nCOMMIT;\n"
    )

    assert code == 2
    assert "BEGIN in the change file" in stderr
