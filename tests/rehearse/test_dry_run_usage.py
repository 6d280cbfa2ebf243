"""`migrate dry-run` / `migrate schema dump`: mistakes refused before any work
(`--applied-through` past the last migration, an `--output` that cannot be written),
and reports that speak about the rehearsal, not about a production run."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from tests.helpers import run_cli
from tests.helpers_db import write_migrations
from tests.rehearse.test_dry_run import ACCOUNTS, _by_version, _dry_run


def _one_line_usage_error(result: object, *words: str) -> None:
    code, stdout, stderr = result.code, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0]


def test_applied_through_past_the_last_migration_is_a_usage_error(
    migrations_dir: Path, tmp_path: Path
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance integer);\n")
    for wrong in ("99", "-1"):
        result = run_cli(
            "--dir", str(migrations_dir), "dry-run", "--no-lint", "--from-schema", str(schema),
            "--applied-through", wrong, env={"PG_BIN": str(tmp_path / "no-server-needed")},
        )  # fmt: skip
        _one_line_usage_error(result, f"--applied-through {wrong}", "up to 1")


@pytest.mark.parametrize("command", [("dry-run", "--no-lint"), ("schema", "dump")])
def test_an_output_that_cannot_be_written_is_refused_before_the_work(
    migrations_dir: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    # PG_BIN points nowhere: a refused --output never gets as far as starting a server
    env = {"PG_BIN": str(tmp_path / "no-server-needed")}
    extra = ("--from-migrations",) if command[0] == "schema" else ()
    missing = tmp_path / "nowhere" / "report.txt"
    result = run_cli(
        "--dir", str(migrations_dir), *command, *extra, "--output", str(missing), env=env
    )
    _one_line_usage_error(result, "does not exist")
    result = run_cli(
        "--dir", str(migrations_dir), *command, *extra, "--output", str(tmp_path), env=env
    )
    _one_line_usage_error(result, "is a directory")


def test_schema_dump_to_stdout_is_byte_identical_to_output(
    migrations_dir: Path, tmp_path: Path
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    target = tmp_path / "schema.sql"
    to_file = run_cli(
        "--dir", str(migrations_dir), "schema", "dump", "--from-migrations",
        "--output", str(target),
    )  # fmt: skip
    to_stdout = run_cli("--dir", str(migrations_dir), "schema", "dump", "--from-migrations")
    assert to_file.code == 0 and to_stdout.code == 0, to_stdout.stderr
    assert to_stdout.stdout == target.read_text()
    assert to_stdout.stdout.endswith(";\n") or not to_stdout.stdout.endswith("\n\n")


def test_failures_advise_fixing_the_file_not_running_the_runner(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_bad_down.up.sql": "ALTER TABLE accounts ADD COLUMN note text;",
            "002_bad_down.down.sql": "ALTER TABLE accounts DROP COLUMN nothing_here;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    error = _by_version(report)[2]["error"]
    assert error.startswith("down failed: ") and "fix 002_bad_down.down.sql" in error
    assert "migrate down" not in error and "rolled back" not in error

    (migrations_dir / "002_bad_down.up.sql").unlink()
    (migrations_dir / "002_bad_down.down.sql").unlink()
    write_migrations(
        migrations_dir,
        {
            "002_no_tx.up.sql": "-- migrate:no-transaction\n"
            "CREATE INDEX CONCURRENTLY accounts_balance_idx ON accounts (balance);\n"
            "CREATE INDEX CONCURRENTLY nope_idx ON nowhere (x);\n",
            "002_no_tx.down.sql": "-- migrate:no-transaction\n"
            "DROP INDEX CONCURRENTLY accounts_balance_idx;\n",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    error = _by_version(report)[2]["error"]
    assert "002_no_tx.up.sql:3" in error and "fix 002_no_tx.up.sql" in error
    assert "would stay applied" in error
    for runner_advice in ("--resume", "migrate repair", "--mark-applied"):
        assert runner_advice not in error


def test_truncate_is_reported_as_truncate_not_as_a_rewrite(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_empty.up.sql": "TRUNCATE accounts;",
            "002_empty.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0, report
    entry = _by_version(report)[2]
    assert entry["rewrites"] == []
    assert "truncated accounts (every row deleted)" in entry["notes"]


def test_one_rehearsal_is_written_in_several_formats(
    migrations_dir: Path, tmp_path: Path, pg_server: EphemeralServer
) -> None:
    import json

    write_migrations(migrations_dir, ACCOUNTS)
    markdown, data = tmp_path / "dry-run.md", tmp_path / "dry-run.json"
    result = run_cli(
        "--dir", str(migrations_dir), "dry-run", "--no-lint", "--database-url", pg_server.dsn(),
        "--format", "markdown", "--output", str(markdown), "--report", f"json:{data}",
    )  # fmt: skip
    assert result.code == 0, result.output
    report = json.loads(data.read_text())
    (migration,) = report["migrations"]
    assert migration["status"] == "rehearsed"
    # the same run: the markdown's summary line carries the JSON's total time
    total = report["total_ms"]
    shown = f"{total} ms" if total < 1000 else f"{total / 1000:.2f} s"
    assert f"in {shown}" in markdown.read_text()
    assert f"`{migration['version']:03d}_{migration['name']}`" in markdown.read_text()


def test_a_report_option_that_is_not_format_and_file_is_a_usage_error(
    migrations_dir: Path, tmp_path: Path
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    for wrong in ("yaml:out.yaml", "json", f"json:{tmp_path / 'missing' / 'x.json'}"):
        result = run_cli(
            "--dir", str(migrations_dir), "dry-run", "--report", wrong,
            env={"PG_BIN": str(tmp_path / "no-server-needed")},
        )  # fmt: skip
        _one_line_usage_error(result, "--")
