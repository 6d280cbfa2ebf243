"""`migrate dry-run` on real PostgreSQL: the stairway, locks and rewrites, schema files,
seeded rows, and the throwaway server/database always removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.ephemeral import EphemeralServer
from tests.helpers import Result, run_cli
from tests.helpers_db import write_migrations

ACCOUNTS = {
    "001_accounts.up.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY, balance integer);",
    "001_accounts.down.sql": "DROP TABLE accounts;",
}
REGION = {
    "002_region.up.sql": "ALTER TABLE accounts ADD COLUMN region text;",
    "002_region.down.sql": "ALTER TABLE accounts DROP COLUMN region;",
}


def _dry_run(
    migrations_dir: Path, *args: str, server: EphemeralServer | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run `migrate dry-run --format json`; on the session server when given (a
    throwaway database is created there), else on its own embedded server."""
    target = ["--database-url", server.dsn()] if server is not None else []
    result = run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--no-lint",
        "--format",
        "json",
        *target,
        *args,
        cwd=migrations_dir,
    )
    assert result.stdout, result.stderr
    return result.code, json.loads(result.stdout), result.stderr


def _dry_run_text(migrations_dir: Path, server: EphemeralServer) -> Result:
    """Run `migrate dry-run` (the text report) on the session server."""
    return run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--no-lint",
        "--database-url",
        server.dsn(),
        cwd=migrations_dir,
    )


def _by_version(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {entry["version"]: entry for entry in report["migrations"]}


def test_a_clean_stairway_passes(migrations_dir: Path, pg_server: EphemeralServer) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            **REGION,
            "003_seed.sql": "INSERT INTO accounts VALUES (1, 0);",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    assert report["ok"] is True
    entries = _by_version(report)
    assert entries[1]["round_trip_ok"] is True and entries[1]["reversible"] is True
    assert entries[2]["ok"] is True
    assert entries[3]["reversible"] is False and entries[3]["ok"] is True
    assert entries[3]["round_trip_ok"] is None
    for entry in entries.values():
        for key in (
            "version",
            "name",
            "ok",
            "reversible",
            "round_trip_ok",
            "duration_ms",
            "locks",
            "rewrites",
            "error",
        ):
            assert key in entry


def test_a_down_that_forgets_what_its_up_created_is_caught_with_the_diff(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_region.up.sql": (
                "ALTER TABLE accounts ADD COLUMN region text;\n"
                "CREATE INDEX accounts_region_idx ON accounts (region);"
            ),
            "002_region.down.sql": "DROP INDEX accounts_region_idx;",
        },
    )
    code, report, stderr = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    assert "dry-run failed" in stderr
    second = _by_version(report)[2]
    assert second["ok"] is False
    assert second["round_trip_ok"] is False
    assert second["round_trip_diff"] == ["table accounts: column region added"]
    # and the text report says the same, readably
    result = _dry_run_text(migrations_dir, pg_server)
    assert result.code == 1
    assert "schema after down differs: table accounts: column region added" in result.stdout
    assert "FAILED round trip" in result.stdout


def test_a_dropped_column_added_back_last_is_a_note_not_a_failure(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    """An up that drops a column has a down that adds it back, always last: PostgreSQL
    cannot move a column, so a different column order alone is noted, not failed. A
    down that changes the column itself still fails."""
    write_migrations(
        migrations_dir,
        {
            "001_people.up.sql": "CREATE TABLE people (id int, nick text, age int, email text);",
            "001_people.down.sql": "DROP TABLE people;",
            "002_drop_nick.up.sql": "ALTER TABLE people DROP COLUMN nick;",
            "002_drop_nick.down.sql": "ALTER TABLE people ADD COLUMN nick text;",
            "003_drop_age.up.sql": "ALTER TABLE people DROP COLUMN age;",
            "003_drop_age.down.sql": "ALTER TABLE people ADD COLUMN age bigint;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)

    dropped_nick, dropped_age = _by_version(report)[2], _by_version(report)[3]
    assert dropped_nick["ok"] is True and dropped_nick["round_trip_diff"] == []
    assert (
        "table people: column order differs after down (nick moved; a column added back "
        "goes last, and PostgreSQL cannot move it)"
    ) in dropped_nick["notes"]
    assert dropped_age["ok"] is False
    assert dropped_age["round_trip_diff"] == [
        "table people: column age: type changed from integer to bigint"
    ]
    assert code == 1


def test_rewrite_and_access_exclusive_lock_on_existing_table_are_reported(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_widen.up.sql": "ALTER TABLE accounts ALTER COLUMN balance TYPE bigint;",
            "002_widen.down.sql": "ALTER TABLE accounts ALTER COLUMN balance TYPE integer;",
            "003_comment.up.sql": "COMMENT ON TABLE accounts IS 'money';",
            "003_comment.down.sql": "COMMENT ON TABLE accounts IS NULL;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    widen = _by_version(report)[2]
    assert widen["rewrites"] == ["accounts"]
    assert {"relation": "accounts", "mode": "ACCESS EXCLUSIVE"} in [
        {"relation": lock["relation"], "mode": lock["mode"]} for lock in widen["locks"]
    ]
    assert widen["locks"][0]["statement"] == "002_widen.up.sql:1"
    comment = _by_version(report)[3]
    assert comment["rewrites"] == []
    # the first migration created the table: nothing pre-existing to lock or rewrite
    assert _by_version(report)[1]["locks"] == [] and _by_version(report)[1]["rewrites"] == []


def test_from_schema_rehearses_only_pending_migrations(
    migrations_dir: Path, pg_server: EphemeralServer, tmp_path: Path
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            **REGION,
        },
    )
    schema = tmp_path / "schema.sql"
    # what production has: 001 applied, plus a column added by hand
    schema.write_text(
        "\\restrict k3y\n"
        "CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance integer, note text);\n"
        "\\unrestrict k3y\n"
    )
    code, report, _ = _dry_run(
        migrations_dir, "--from-schema", str(schema), "--applied-through", "1", server=pg_server
    )
    assert code == 0, report
    entries = _by_version(report)
    assert entries[1]["status"] == "already applied"
    assert entries[1]["duration_ms"] is None
    assert entries[2]["status"] == "rehearsed" and entries[2]["ok"] is True
    # the pre-existing table from the schema file is observed
    assert any(lock["relation"] == "accounts" for lock in entries[2]["locks"])


def test_from_schema_reads_applied_versions_from_a_schema_dump(
    migrations_dir: Path, pg_server: EphemeralServer, tmp_path: Path
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            **REGION,
        },
    )
    only_first = tmp_path / "first"
    write_migrations(only_first, ACCOUNTS)
    schema = tmp_path / "schema.sql"
    dumped = run_cli(
        "--dir",
        str(only_first),
        "schema",
        "dump",
        "--from-migrations",
        "--output",
        str(schema),
        cwd=tmp_path,
    )
    assert dumped.code == 0, dumped.output
    assert "-- migrator:applied-versions 1" in schema.read_text()
    code, report, _ = _dry_run(migrations_dir, "--from-schema", str(schema), server=pg_server)
    assert code == 0
    assert [e["status"] for e in report["migrations"]] == ["already applied", "rehearsed"]


def test_seed_rows_make_a_not_null_column_without_default_fail(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_required.up.sql": "ALTER TABLE accounts ADD COLUMN region text NOT NULL;",
            "002_required.down.sql": "ALTER TABLE accounts DROP COLUMN region;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0, "on empty tables the migration applies"
    code, report, _ = _dry_run(migrations_dir, "--seed-rows", "50", server=pg_server)
    assert code == 1
    failed = _by_version(report)[2]
    assert failed["ok"] is False
    assert "contains null values" in failed["error"]
    assert report["seed_rows"] == 50


def test_markdown_report_is_a_pr_comment(migrations_dir: Path, pg_server: EphemeralServer) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    result = run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--no-lint",
        "--format",
        "markdown",
        "--database-url",
        pg_server.dsn(),
        cwd=migrations_dir,
    )
    assert result.code == 0
    assert result.stdout.startswith("### ✅ migrate dry-run")
    assert "| `001_accounts` | ok (up, down, up) |" in result.stdout


def test_a_failing_migration_stops_the_rehearsal(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_broken.up.sql": "ALTER TABLE nowhere ADD COLUMN x int;",
            "002_broken.down.sql": "SELECT 1;",
            "003_after.up.sql": "SELECT 1;",
            "003_after.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    entries = _by_version(report)
    assert entries[2]["ok"] is False and "nowhere" in entries[2]["error"]
    assert entries[3]["status"] == "not run"


def test_a_down_that_changes_nothing_fails_but_the_rehearsal_goes_on(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    """A down that runs but changes nothing (squashed migrations) fails the round trip
    and the second up, but leaves the schema as up built it: the later migrations are
    still rehearsed, and a failing later one is still found. (An empty or comment-only
    down says "nothing to undo": see test_an_empty_down_is_nothing_to_undo.)"""
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "001_accounts.down.sql": "SELECT 1; -- Nothing",
            **REGION,
            "003_broken.up.sql": "ALTER TABLE accounts ADD COLUMN nope integer REFERENCES x;",
            "003_broken.down.sql": "SELECT 1;",
            "004_after.up.sql": "SELECT 1;",
            "004_after.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    entries = _by_version(report)
    first = entries[1]
    assert first["ok"] is False and first["round_trip_ok"] is False
    assert first["reapply_ok"] is False and "already exists" in first["error"]
    assert first["went_on"] is True
    assert any("rehearsed on it" in note for note in first["notes"])
    assert entries[2]["ok"] is True and entries[2]["status"] == "rehearsed"
    assert entries[3]["ok"] is False and entries[3]["went_on"] is False
    assert entries[4]["status"] == "not run"


def test_a_failing_transactional_down_leaves_up_s_schema_and_the_rehearsal_goes_on(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_region.up.sql": "ALTER TABLE accounts ADD COLUMN region text;",
            "002_region.down.sql": "ALTER TABLE accounts DROP COLUMN region;\nSELECT 1/0;",
            "003_more.up.sql": "ALTER TABLE accounts ADD COLUMN more text;",
            "003_more.down.sql": "ALTER TABLE accounts DROP COLUMN more;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    entries = _by_version(report)
    assert entries[2]["down_ok"] is False and "division by zero" in entries[2]["error"]
    assert entries[2]["went_on"] is True
    assert entries[3]["ok"] is True


def test_a_no_transaction_down_that_fails_stops_the_rehearsal(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    """Statements before the failing one stay applied: the schema is neither before
    nor after, so nothing after it can be rehearsed."""
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_region.up.sql": "ALTER TABLE accounts ADD COLUMN region text;",
            "002_region.down.sql": (
                "-- migrate:no-transaction\nALTER TABLE accounts DROP COLUMN region;\nSELECT 1/0;"
            ),
            "003_more.up.sql": "SELECT 1;",
            "003_more.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    entries = _by_version(report)
    assert entries[2]["down_ok"] is False and entries[2]["went_on"] is False
    assert entries[3]["status"] == "not run"


def test_files_the_runner_cannot_run_are_refused_before_the_rehearsal(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    """ROLLBACK in a transactional file, a syntax error in a down file: every problem
    listed, one per line, exit 2, and no server or database used."""
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_chained.up.sql": "SELECT 1; ROLLBACK;\nSELECT 2;",
            "002_chained.down.sql": "SELEC 1;",
        },
    )
    result = run_cli(
        "--dir", str(migrations_dir), "dry-run", "--no-lint", "--database-url", pg_server.dsn()
    )
    assert result.code == 2 and result.stdout == ""
    first, *listed, hint = result.stderr.strip().splitlines()
    assert first == "error: 2 problems in the migrations:"
    assert "002_chained.up.sql:1: ROLLBACK inside a migration" in listed[0]
    assert "002_chained.down.sql:1: syntax error" in listed[1]
    assert hint == "(nothing was rehearsed; fix the files and run it again)"


def test_database_url_never_touches_existing_databases(
    migrations_dir: Path, pg_server: EphemeralServer, database_url: str
) -> None:
    import asyncio

    import asyncpg

    async def databases() -> set[str]:
        connection = await asyncpg.connect(pg_server.dsn())
        try:
            return {r["datname"] for r in await connection.fetch("SELECT datname FROM pg_database")}
        finally:
            await connection.close()

    write_migrations(migrations_dir, ACCOUNTS)
    before = asyncio.run(databases())
    result = run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--no-lint",
        "--database-url",
        database_url,
        cwd=migrations_dir,
    )
    assert result.code == 0, result.output
    assert asyncio.run(databases()) == before


def test_lint_errors_fail_the_dry_run_unless_skipped(
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
    linted = run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--format",
        "json",
        "--database-url",
        pg_server.dsn(),
        cwd=migrations_dir,
    )
    assert linted.code == 1
    report = json.loads(linted.stdout)
    assert report["lint"]["ran"] is True
    assert any("truncate" in error for error in report["lint"]["errors"])
    assert all(entry["ok"] for entry in report["migrations"]), "the rehearsal itself passed"
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0 and report["lint"]["ran"] is False


def test_locks_of_a_no_transaction_migration_are_sampled_while_it_runs(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_scan.up.sql": "-- migrate:no-transaction\n"
            "SELECT 1;\nSELECT count(*) FROM accounts, pg_sleep(0.3);\n",
            "002_scan.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    scan = _by_version(report)[2]
    assert scan["transactional"] is False
    assert [(lock["relation"], lock["mode"], lock["statement"]) for lock in scan["locks"]] == [
        ("accounts", "ACCESS SHARE", "002_scan.up.sql:3")
    ]


def test_missing_server_binaries_and_bad_files_are_one_line_errors(
    migrations_dir: Path, tmp_path: Path
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    missing = run_cli(
        "--dir",
        str(migrations_dir),
        "dry-run",
        "--no-lint",
        env={"PG_BIN": str(tmp_path / "nowhere")},
        cwd=migrations_dir,
    )
    assert missing.code == 3
    assert missing.stderr.count("\n") == 1
    assert "apt-get install postgresql" in missing.stderr and "Traceback" not in missing.stderr
    write_migrations(migrations_dir, {"002_orphan.down.sql": "SELECT 1;"})
    bad = run_cli("--dir", str(migrations_dir), "dry-run", "--no-lint", cwd=migrations_dir)
    assert bad.code == 2
    assert "002_orphan.down.sql" in bad.stderr


def test_backfill_batches_are_reported(migrations_dir: Path, pg_server: EphemeralServer) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_add.up.sql": "ALTER TABLE accounts ADD COLUMN balance2 bigint;",
            "002_add.down.sql": "ALTER TABLE accounts DROP COLUMN balance2;",
            "003_fill.up.sql": "-- migrate:phase backfill\n"
            "-- migrate:backfill table=public.accounts key=id batch-size=4\n"
            "UPDATE public.accounts SET balance2 = balance\n"
            "WHERE id BETWEEN $1 AND $2 AND balance2 IS DISTINCT FROM balance;\n",
            "003_fill.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, "--seed-rows", "9", server=pg_server)
    assert code == 0, report
    fill = _by_version(report)[3]
    assert fill["backfill"] == {"batches": 3, "rows_updated": 9}
    assert _by_version(report)[2]["backfill"] is None


def test_reindex_reports_the_index_lock_and_its_rebuild(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_reindex.up.sql": "REINDEX TABLE accounts;",
            "002_reindex.down.sql": "SELECT 1;",
            "003_insert.up.sql": "INSERT INTO accounts VALUES (1, 1);",
            "003_insert.down.sql": "DELETE FROM accounts;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    reindex = _by_version(report)[2]
    locks = {(lock["relation"], lock["mode"]) for lock in reindex["locks"]}
    assert ("accounts", "SHARE") in locks
    assert ("accounts_pkey", "ACCESS EXCLUSIVE") in locks
    assert (
        "rebuilt index accounts_pkey (reads that use it wait for the rebuild)" in (reindex["notes"])
    )
    assert reindex["rewrites"] == []
    # an index lock no stronger than its table's says nothing more
    insert = _by_version(report)[3]
    assert [lock["relation"] for lock in insert["locks"]] == ["accounts"]


def test_a_no_transaction_rewrite_reports_the_lock_it_held(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_widen.up.sql": "-- migrate:no-transaction\n"
            "ALTER TABLE accounts ALTER COLUMN balance TYPE bigint;",
            "002_widen.down.sql": "ALTER TABLE accounts ALTER COLUMN balance TYPE integer;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    widen = _by_version(report)[2]
    assert widen["rewrites"] == ["accounts"]
    assert ("accounts", "ACCESS EXCLUSIVE") in {
        (lock["relation"], lock["mode"]) for lock in widen["locks"]
    }


def test_an_empty_down_is_nothing_to_undo(migrations_dir: Path, pg_server: EphemeralServer) -> None:
    """Issue 16: an empty or comment-only down is a no-op; the rehearsal applies the
    up once, says there is nothing to undo, and goes on."""
    write_migrations(migrations_dir, {**ACCOUNTS, "001_accounts.down.sql": "-- Nothing", **REGION})
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 0
    first = _by_version(report)[1]
    assert first["ok"] is True and first["status"] == "rehearsed"
    assert "empty down: nothing to undo" in first["notes"]
    assert _by_version(report)[2]["ok"] is True
    text = _dry_run_text(migrations_dir, pg_server)
    assert text.code == 0, text.output
    headline = next(line for line in text.stdout.splitlines() if "001_accounts" in line)
    assert "ok (empty down: nothing to undo)" in headline and "irreversible" not in headline
