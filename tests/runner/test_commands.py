"""``new``, ``up``, ``down``, ``status``, ``verify``, ``baseline`` through the CLI, on a
real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.runner.conftest import USERS, Project


def test_up_applies_pending_migrations_and_records_them(project: Project) -> None:
    project.write(USERS)

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert "applied 2 migrations; now at version 2" in result.stdout
    assert "applied 001_create_users" in result.stderr
    assert {"users", "orders"} <= project.tables()
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2)]
    assert project.history() == [(1, "up"), (2, "up")]
    checksum = project.scalar("SELECT up_checksum FROM migrator_ledger WHERE version = 1")
    expected = hashlib.sha256((project.directory / "001_create_users.up.sql").read_bytes())
    assert checksum == expected.hexdigest()
    applied_by = project.scalar("SELECT applied_by FROM migrator_ledger WHERE version = 1")
    assert applied_by.startswith("postgres via ")


def test_up_twice_applies_nothing_the_second_time(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")

    again = project.migrate("up")

    assert again.code == 0
    assert "nothing to apply; now at version 2" in again.stdout
    assert project.history() == [(1, "up"), (2, "up")]


def test_up_to_stops_at_the_given_version(project: Project) -> None:
    project.write(USERS)

    result = project.migrate("up", "--to", "1")

    assert result.code == 0, result.output
    assert project.ledger() == [(1, "applied", 1)]
    assert "orders" not in project.tables()


def test_up_sql_prints_the_plan_and_changes_nothing(project: Project) -> None:
    project.write(
        {
            **USERS,
            "003_index.up.sql": "-- migrate:no-transaction\n-- migrate:lock-timeout 2s\n"
            "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            "003_index.down.sql": (
                "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY users_email;\n"
            ),
        }
    )

    result = project.migrate("up", "--sql", "--lock-timeout", "750ms")

    assert result.code == 0, result.output
    out = result.stdout
    assert out.count("BEGIN;") == 2 and out.count("COMMIT;") == 2
    assert "SET LOCAL lock_timeout = '750ms';" in out
    assert "SET LOCAL statement_timeout = 0;" in out
    assert "CREATE TABLE users (id bigint PRIMARY KEY, email text);" in out
    # the file's directive wins over the flag; no transaction: session SET and RESET
    assert "SET lock_timeout = '2s';" in out
    assert "CREATE INDEX CONCURRENTLY users_email ON users (email);" in out
    assert "RESET lock_timeout;" in out
    assert project.tables() == set()  # nothing ran, not even the ledger was created


def test_down_reverts_one_step_by_default_then_to_zero(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")

    one = project.migrate("down")
    assert one.code == 0, one.output
    assert "reverted 1 migration; now at version 1" in one.stdout
    assert "orders" not in project.tables() and "users" in project.tables()

    project.migrate("up")
    everything = project.migrate("down", "--to", "0")
    assert everything.code == 0, everything.output
    assert project.ledger() == []
    assert {"users", "orders"} & project.tables() == set()
    assert project.history()[-2:] == [(2, "down"), (1, "down")]  # newest first


def test_down_steps(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")

    result = project.migrate("down", "--steps", "2")

    assert result.code == 0, result.output
    assert project.ledger() == []


@pytest.mark.parametrize("applied", [0, 1, 2])
def test_down_steps_beyond_the_applied_count_is_refused_reverting_nothing(
    project: Project, applied: int
) -> None:
    project.write(USERS)
    project.migrate("up", "--to", str(applied or 1))
    if not applied:  # a ledger with nothing applied
        project.migrate("down")
    before, history = project.ledger(), project.history()

    result = project.migrate("down", "--steps", str(applied + 1))

    assert result.code == 2, result.output
    assert f"--steps {applied + 1}" in result.stderr and "nothing reverted" in result.stderr
    assert ("--to 0" in result.stderr) == (applied > 0)
    assert "Traceback" not in result.output
    assert project.ledger() == before and project.history() == history
    if applied:  # the exact count still reverts them all
        assert project.migrate("down", "--steps", str(applied)).code == 0
        assert project.ledger() == []


def test_down_refuses_an_up_only_migration_before_reverting_anything(project: Project) -> None:
    project.write(
        {
            **USERS,
            "003_backfill.sql": "INSERT INTO users VALUES (1, 'a@example.com');\n",
        }
    )
    project.migrate("up")

    result = project.migrate("down", "--to", "0")

    assert result.code == 4
    assert "003_backfill is up-only" in result.stderr
    assert "Traceback" not in result.output
    assert [version for version, _, _ in project.ledger()] == [1, 2, 3]


def test_status_table_and_json(project: Project) -> None:
    project.write(USERS)
    project.migrate("up", "--to", "1")

    table = project.migrate("status")
    as_json = project.migrate("status", "--format", "json")

    assert table.code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "NAME", "STATE"]
    # the version as the file names it
    assert lines[1].split()[:3] == ["001", "create_users", "applied"]
    assert lines[2].split()[:3] == ["002", "create_orders", "pending"]
    assert "1 applied, 1 pending" in table.stdout
    payload = json.loads(as_json.stdout)
    assert payload["current_version"] == 1
    states = {m["version"]: m["state"] for m in payload["migrations"]}
    assert states == {1: "applied", 2: "pending"}
    assert payload["migrations"][0]["duration_ms"] is not None
    assert payload["migrations"][0]["version_text"] == "001"
    assert payload["layout"] == "migrator"


def test_status_on_a_database_without_ledger_creates_nothing(project: Project) -> None:
    project.write(USERS)

    result = project.migrate("status")

    assert result.code == 0, result.output
    assert "0 applied, 2 pending" in result.stdout
    assert project.tables() == set()


def test_verify_passes_then_catches_drift_missing_files_and_out_of_order(
    project: Project,
) -> None:
    project.write(USERS)
    project.migrate("up")
    assert project.migrate("verify").code == 0

    project.write({"001_create_users.up.sql": "CREATE TABLE users (id int PRIMARY KEY);\n"})
    project.remove("002_create_orders.up.sql", "002_create_orders.down.sql")
    project.write({"000_early.up.sql": "SELECT 1;\n", "000_early.down.sql": "SELECT 1;\n"})
    result = project.migrate("verify")

    assert result.code == 1
    assert "drift: " in result.stdout and "001_create_users.up.sql changed" in result.stdout
    assert "missing-file: version 2 (create_orders)" in result.stdout
    assert "out-of-order: " in result.stdout and "000_early.up.sql" in result.stdout
    assert "verify found 3 problem(s)" in result.stderr
    status = project.migrate("status").stdout
    assert "drifted" in status and "missing file" in status


def test_verify_json(project: Project) -> None:
    project.write(USERS)
    project.migrate("up")
    project.write({"002_create_orders.down.sql": "DROP TABLE orders CASCADE;\n"})

    result = project.migrate("verify", "--format", "json")

    assert result.code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert [(p["kind"], p["version"]) for p in payload["problems"]] == [("drift", 2)]
    assert payload["problems"][0]["message"].endswith(
        "restore it from version control, or record the new checksum with `migrate repair --yes`"
    )


def test_baseline_records_without_running(project: Project) -> None:
    project.write(USERS)
    project.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)")

    result = project.migrate("baseline", "1")

    assert result.code == 0, result.output
    assert "recorded 001_create_users as applied (not run)" in result.stdout
    assert project.ledger() == [(1, "applied", 1)]
    assert project.history() == [(1, "baseline")]
    up = project.migrate("up")
    assert up.code == 0, up.output
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2)]
    status = project.migrate("status")
    lines = status.stdout.splitlines()
    assert lines[1].split()[:3] == ["001", "create_users", "baselined"]
    assert lines[2].split()[:3] == ["002", "create_orders", "applied"]
    assert "2 applied (1 baselined), 0 pending" in status.stdout
    payload = json.loads(project.migrate("status", "--format", "json").stdout)
    assert [(m["state"], m["baselined"]) for m in payload["migrations"]] == [
        ("applied", True),
        ("applied", False),
    ]


def test_a_baselined_migration_run_again_after_down_is_no_longer_baselined(
    project: Project,
) -> None:
    project.write(USERS)
    project.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)")
    project.migrate("baseline", "1")
    assert project.migrate("down", "--to", "0").code == 0
    assert project.migrate("up", "--to", "1").code == 0
    status = project.migrate("status")
    assert status.stdout.splitlines()[1].split()[:3] == ["001", "create_users", "applied"]


def test_new_numbers_like_the_directory(project: Project) -> None:
    project.write(USERS)

    result = project.migrate("new", "Add Invoices")
    concurrent = project.migrate("new", "index_invoices", "--no-transaction")

    assert result.code == 0, result.output
    assert (project.directory / "003_add_invoices.up.sql").exists()
    assert (project.directory / "003_add_invoices.down.sql").exists()
    up = (project.directory / "004_index_invoices.up.sql").read_text()
    assert concurrent.code == 0
    assert up.startswith("-- migrate:no-transaction\n")
    # the new (comment-only) migrations are valid and apply as no-ops
    assert project.migrate("up").code == 0
    assert [version for version, _, _ in project.ledger()] == [1, 2, 3, 4]


def test_commands_refuse_a_broken_directory_with_every_problem(
    project: Project, tmp_path: Path
) -> None:
    project.write(
        {
            **USERS,
            "002_duplicate.up.sql": "SELECT 1;\n",
            "003_orphan.down.sql": "SELECT 1;\n",
            "notaversion_x.up.sql": "SELECT 1;\n",
        }
    )

    for command in ("up", "down", "status", "verify"):
        result = project.migrate(command)
        assert result.code == 2, (command, result.output)
        assert "version 2 is used by more than one migration" in result.stderr
        assert "003_orphan.down.sql: down migration has no up migration" in result.stderr
        assert "notaversion_x.up.sql: name does not parse" in result.stderr
        assert "Traceback" not in result.output
        first, *listed = result.stderr.strip().splitlines()  # one problem per line
        assert first == f"error: {len(listed)} problems in the migrations:"
        assert len(listed) >= 3 and all(line.startswith("  ") for line in listed)
    assert project.tables() == set()
    missing = project.migrate("--dir", str(tmp_path / "nope"), "status")
    assert missing.code == 2 and "does not exist" in missing.stderr


def test_up_lists_each_rollback_in_a_transactional_file_on_its_own_line(project: Project) -> None:
    project.write(
        {
            **USERS,
            "003_chained.up.sql": "SELECT 1; ROLLBACK;\nSELECT 2; ROLLBACK;\n",
            "003_chained.down.sql": "SELECT 1;\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 2
    first, *listed, hint = result.stderr.strip().splitlines()
    assert first == "error: 2 problems in the migrations:"
    assert [line.split(": ")[0].rsplit("/", 1)[1] for line in listed] == [
        "003_chained.up.sql:1",
        "003_chained.up.sql:2",
    ]
    assert all("ROLLBACK inside a migration that runs in a transaction" in line for line in listed)
    assert hint.startswith("(nothing was run")
    assert project.ledger() == []


def test_up_refuses_a_file_with_syntax_errors_before_running_anything(project: Project) -> None:
    project.write(
        {
            **USERS,
            "003_broken.up.sql": "CREATE TABLE t (id int);\nCREATE TABLEX nope;\n",
            "003_broken.down.sql": "DROP TABLE t;\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 2
    assert "003_broken.up.sql:2" in result.stderr
    assert "nothing was run: fix the file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert project.ledger() == []
    assert project.tables() == set()


def test_every_run_command_has_an_example_in_its_help() -> None:
    from tests.helpers import run_cli

    for command in ("new", "up", "down", "status", "verify", "baseline", "repair"):
        result = run_cli(command, "--help")
        assert result.code == 0
        assert "Example" in result.stdout and f"migrate {command}" in result.stdout, command


def test_status_exit_code_says_whether_anything_is_pending(project: Project) -> None:
    project.write(USERS)

    pending = project.migrate("status", "--exit-code")
    assert project.migrate("up", "--to", "1").code == 0
    one_pending = project.migrate("status", "--exit-code")
    assert project.migrate("up").code == 0
    up_to_date = project.migrate("status", "--exit-code")
    plain = project.migrate("down")

    assert (pending.code, one_pending.code, up_to_date.code) == (1, 1, 0)
    assert "pending" in one_pending.stdout  # the table is still printed
    assert plain.code == 0 and project.migrate("status").code == 0  # only with the flag


def test_status_exit_code_fails_a_database_left_with_a_failed_migration(project: Project) -> None:
    project.write(
        {"001_partial.up.sql": "-- migrate:no-transaction\nCREATE TABLE a (id int);\nSELECT 1/0;\n"}
    )
    assert project.migrate("up").code == 4

    result = project.migrate("status", "--exit-code")

    assert result.code == 1
    assert "failed" in result.stdout


def test_repair_refuses_both_mark_applied_and_forget(project: Project) -> None:
    project.write(
        {"001_partial.up.sql": "-- migrate:no-transaction\nCREATE TABLE a (id int);\nSELECT 1/0;\n"}
    )
    assert project.migrate("up").code == 4
    before = project.ledger()

    result = project.migrate("repair", "1", "--forget", "--mark-applied", "--yes")

    assert result.code == 2
    assert "contradict" in result.stderr
    assert project.ledger() == before


def test_verbose_keeps_the_documented_exit_code_and_the_one_line(project: Project) -> None:
    project.write({"001_bad.up.sql": "SELECT 1/0;\n"})

    result = project.migrate("--verbose", "up")

    assert result.code == 4
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_strict_up_refuses_over_drift_and_out_of_order_versions_running_nothing(
    project: Project,
) -> None:
    project.write({**USERS, "004_later.up.sql": "SELECT 1;\n", "004_later.down.sql": "SELECT 1;\n"})
    project.remove("002_create_orders.up.sql", "002_create_orders.down.sql")
    assert project.migrate("up").code == 0  # 1 and 4
    project.write(
        {
            **USERS,  # 002 arrives late: out of order
            "001_create_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);\n",  # drift
            "005_next.up.sql": "CREATE TABLE next (id int);\n",
            "005_next.down.sql": "DROP TABLE next;\n",
        }
    )

    refused = project.migrate("up", "--strict")

    assert refused.code == 4
    first, *listed, hint = refused.stderr.strip().splitlines()
    assert first == "error: strict: the ledger and the files disagree:"
    assert "001_create_users.up.sql changed after it was applied" in listed[0]
    assert "002_create_orders.up.sql is pending but older than" in listed[1]
    assert hint.startswith("(nothing was run")
    assert [row[0] for row in project.ledger()] == [1, 4]
    assert "next" not in project.tables()

    from_env = project.migrate("up", env={"MIGRATOR_STRICT": "true"})
    assert from_env.code == 4
    project.write({"002_create_orders.up.sql": USERS["002_create_orders.up.sql"]})
    assert project.migrate("up", "--no-strict", env={"MIGRATOR_STRICT": "1"}).code == 0
    assert [row[0] for row in project.ledger()] == [1, 2, 4, 5]


def test_strict_up_ignores_an_out_of_order_version_this_run_leaves_pending(
    project: Project,
) -> None:
    project.write({"003_c.up.sql": "SELECT 1;\n", "003_c.down.sql": "SELECT 1;\n"})
    assert project.migrate("up").code == 0
    project.write(USERS)  # 001 and 002 are older than 003

    assert project.migrate("up", "--strict", "--to", "0").code == 0
    assert project.migrate("up", "--strict").code == 4


def test_new_timestamp_versions_by_flag_or_configuration(project: Project) -> None:
    import re

    project.write(USERS)  # 001, 002: sequential so far
    stamped = project.migrate("new", "add_orders", "--timestamp")
    assert stamped.code == 0, stamped.output
    (created,) = re.findall(r"created .*/(\d{14})_add_orders\.up\.sql", stamped.stdout)
    then = project.migrate("new", "more")  # after a timestamp, timestamps go on
    (after,) = re.findall(r"created .*/(\d+)_more\.up\.sql", then.stdout)
    assert len(after) == 14 and int(after) > int(created)


def test_new_timestamp_from_pyproject(tmp_path: Path) -> None:
    import re

    from tests.helpers import run_cli

    (tmp_path / "pyproject.toml").write_text('[tool.migrator]\nversions = "timestamp"\n')
    result = run_cli("new", "first", cwd=tmp_path)
    assert result.code == 0, result.output
    assert re.search(r"database/migrations/\d{14}_first\.up\.sql", result.stdout)
    wrong = tmp_path / "other"
    wrong.mkdir()
    (wrong / "pyproject.toml").write_text('[tool.migrator]\nversions = "uuid"\n')
    refused = run_cli("new", "first", cwd=wrong)
    assert refused.code == 2 and "give sequential or timestamp" in refused.stderr


def test_next_timestamp_version_never_goes_backwards(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from migrator.runner.scaffold import next_version

    now = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    assert next_version(tmp_path, now, timestamp=True) == "20261206120000"
    (tmp_path / "003_x.up.sql").write_text("SELECT 1;")
    assert next_version(tmp_path, now) == "004"
    assert next_version(tmp_path, now, timestamp=True) == "20261206120000"
    (tmp_path / "20261206120000_y.up.sql").write_text("SELECT 1;")  # a clock behind it
    assert next_version(tmp_path, now, timestamp=True) == "20261206120001"
