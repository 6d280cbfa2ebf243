"""Issue 14: ``migrate lint`` reports a broken ``-- migrate:backfill`` (before, ``up``
was the first to complain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config import Settings
from migrator.lint import run_lint

BASE = "CREATE TABLE users (id bigint PRIMARY KEY, a int);\n"


@pytest.mark.parametrize(
    ("directive", "body", "message"),
    [
        ("table=public.users batch-size=abc key=id", "", "batch-size='abc'"),
        ("table=public.users", "", "needs key="),
        ("table=public.users key=id", "UPDATE users SET a = 1", "must use $1 and $2"),
        ("table=public.orders key=id", "", "directive says table=public.orders"),
    ],
    ids=["batch-size", "no-key", "no-parameters", "other-table"],
)
def test_a_broken_backfill_directive_is_an_invalid_directive_error(
    migrations_dir: Path, directive: str, body: str, message: str
) -> None:
    (migrations_dir / "001_users.up.sql").write_text(BASE)
    statement = body or "UPDATE users SET a = 1 WHERE id BETWEEN $1 AND $2 AND a IS NULL"
    (migrations_dir / "002_fill.sql").write_text(f"-- migrate:backfill {directive}\n{statement};\n")
    report = run_lint(Settings(migrations_dir=migrations_dir))
    found = [
        (f.rule, f.severity.value, f.message)
        for f in report.findings
        if str(f.file).endswith("002_fill.sql")
    ]
    assert [(rule, severity) for rule, severity, _ in found] == [("invalid-directive", "error")]
    assert message in found[0][2]


def test_a_right_backfill_directive_has_no_finding(migrations_dir: Path) -> None:
    (migrations_dir / "001_users.up.sql").write_text(BASE)
    (migrations_dir / "002_fill.sql").write_text(
        "-- migrate:backfill table=public.users key=id batch-size=500\n"
        "UPDATE users SET a = 1 WHERE id BETWEEN $1 AND $2 AND a IS NULL;\n"
    )
    report = run_lint(Settings(migrations_dir=migrations_dir))
    assert [f.rule for f in report.findings if str(f.file).endswith("002_fill.sql")] == []
