"""Migrations that attack the runner itself: release its lock, race a second runner,
edit a file between a failure and ``--resume``, lock or damage the ledger. Each
migration is applied exactly once, and every failure says what happened."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from migrator.db.ledger import Ledger
from tests.reliability.processes import PATIENT, MigrateProcess
from tests.runner.conftest import Project

#: how long an attacking migration keeps its run going once the lock is (or was) gone
HOLD_S = 1.5

COUNTED = {
    "001_counter.up.sql": "CREATE TABLE counter (n int);\n",
    "003_count.up.sql": "INSERT INTO counter VALUES (1);\n",
    "004_count_again.up.sql": "INSERT INTO counter VALUES (1);\nSELECT 1;\n",
}

UNLOCKS = [
    ("unlock-all", "", "SELECT pg_advisory_unlock_all()"),
    ("unlock-our-key", "", f"SELECT pg_advisory_unlock({Ledger().lock_key})"),
    ("unlock-all-no-transaction", "-- migrate:no-transaction\n", "SELECT pg_advisory_unlock_all()"),
    ("discard-all-no-transaction", "-- migrate:no-transaction\n", "DISCARD ALL"),
    (
        "unlock-in-a-function",
        "",
        "DO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$",
    ),
]


@pytest.fixture
def project(database_url: str, tmp_path: Path) -> Project:
    return Project(tmp_path / "migrations", database_url, tmp_path)


def _lock_taken(database_url: str, key: int) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objid = (%s::bigint & 4294967295)::oid",
            (key,),
        ).fetchone()
    return bool(row and row[0])


#: the unlock attacks the default suite runs (each costs two processes and HOLD_S)
DEFAULT_UNLOCKS = {"unlock-all", "unlock-our-key", "discard-all-no-transaction"}


@pytest.mark.parametrize(
    ("header", "attack"),
    [
        pytest.param(h, a, id=i, marks=[] if i in DEFAULT_UNLOCKS else [pytest.mark.slow])
        for i, h, a in UNLOCKS
    ],
)
def test_a_migration_cannot_release_the_lock_to_a_second_runner(
    header: str, attack: str, project: Project, tmp_path: Path
) -> None:
    project.write(
        {
            **COUNTED,
            "002_attack.up.sql": f"{header}{attack};\nSELECT pg_sleep({HOLD_S});\n",
        }
    )
    first = MigrateProcess(
        project.directory, project.database_url, "up", workdir=tmp_path / "a", env=PATIENT
    )
    deadline = time.monotonic() + 30
    while not _lock_taken(project.database_url, Ledger().lock_key):
        assert time.monotonic() < deadline, "the first runner never took the lock"
        time.sleep(0.05)
    second = MigrateProcess(
        project.directory, project.database_url, "up", workdir=tmp_path / "b", env=PATIENT
    )

    results = [first.wait(timeout=60), second.wait(timeout=60)]

    assert [result.code for result in results] == [0, 0], [r.output for r in results]
    assert project.scalar("SELECT count(*) FROM counter") == 2  # 003 and 004 once each
    assert project.history() == [(1, "up"), (2, "up"), (3, "up"), (4, "up")]


def test_a_migration_that_ends_the_lock_session_stops_the_run(project: Project) -> None:
    project.write(
        {
            **COUNTED,
            "002_kill.up.sql": (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'migrate' AND pid <> pg_backend_pid() "
                "AND datname = current_database();\nSELECT 1;\n"
            ),
        }
    )

    result = project.migrate("up")

    assert result.code == 3, result.output
    assert "lost the migration lock" in result.stderr
    assert "Traceback" not in result.output
    # what committed is recorded once, what did not run is not
    assert project.history() == [(1, "up"), (2, "up")]
    assert project.scalar("SELECT count(*) FROM counter") == 0


def test_the_ledger_refuses_to_record_an_applied_version_twice(project: Project) -> None:
    project.write({"001_counter.up.sql": COUNTED["001_counter.up.sql"]})
    assert project.migrate("up").code == 0
    # a second runner that believed 002 pending: its row appears under it mid-run
    project.write(
        {
            "002_race.up.sql": (
                "INSERT INTO counter VALUES (1);\n"
                "INSERT INTO migrator_ledger (version, name, up_checksum, transactional, state) "
                "VALUES (2, 'race', 'x', true, 'applied');\n"
            )
        }
    )

    result = project.migrate("up")

    assert result.code == 3, result.output
    assert "already recorded as applied" in result.stderr and "rolled back" in result.stderr
    assert project.scalar("SELECT count(*) FROM counter") == 0
    assert project.ledger() == [(1, "applied", 1)]


# -- resume after an edit ----------------------------------------------------------------

BALANCE = {"001_account.up.sql": "CREATE TABLE acc (b int);\nINSERT INTO acc VALUES (100);\n"}
STOPPING = (
    "-- migrate:no-transaction\nUPDATE acc SET b = b + 50;\nINSERT INTO missing VALUES (1);\n"
)
FIXED = "UPDATE acc SET b = b + 50;\nCREATE TABLE missing (id int);\n"

EDITS = [
    ("insert-before-done", "-- migrate:no-transaction\nUPDATE acc SET b = b * 2;\n" + FIXED),
    ("remove-done", "-- migrate:no-transaction\nCREATE TABLE missing (id int);\n"),
    (
        "edit-done-constant",
        "-- migrate:no-transaction\nUPDATE acc SET b = b + 60;\nCREATE TABLE missing (id int);\n",
    ),
    (
        "swap-order",
        "-- migrate:no-transaction\nCREATE TABLE missing (id int);\nUPDATE acc SET b = b + 50;\n",
    ),
]


@pytest.mark.parametrize("edited", [e for _, e in EDITS], ids=[i for i, _ in EDITS])
def test_resume_refuses_a_file_changed_before_the_stop(edited: str, project: Project) -> None:
    project.write({**BALANCE, "002_pay.up.sql": STOPPING})
    assert project.migrate("up").code == 4
    project.write({"002_pay.up.sql": edited})

    resumed = project.migrate("up", "--resume")
    verified = project.migrate("verify")

    assert resumed.code == 4, resumed.output
    assert "cannot resume" in resumed.stderr and "migrate repair 2" in resumed.stderr
    assert project.scalar("SELECT b FROM acc") == 150
    assert project.ledger()[-1] == (2, "failed", 1)
    assert verified.code == 1 and "changed since its run stopped" in verified.output


@pytest.mark.parametrize(
    "edited",
    [
        "-- migrate:no-transaction\n" + FIXED,
        "-- migrate:no-transaction\n-- pay\nupdate  acc\n  SET b = b + 50 ;\n"
        "CREATE TABLE missing (id int);\n",
    ],
    ids=["fix-the-failed-statement", "reformat-the-done-statement"],
)
def test_resume_continues_after_the_statements_that_ran(edited: str, project: Project) -> None:
    project.write({**BALANCE, "002_pay.up.sql": STOPPING})
    assert project.migrate("up").code == 4
    project.write({"002_pay.up.sql": edited})

    assert project.migrate("verify").code == 1  # still failed, but no mismatch
    assert "changed since" not in project.migrate("verify").output
    resumed = project.migrate("up", "--resume")

    assert resumed.code == 0, resumed.output
    assert project.scalar("SELECT b FROM acc") == 150
    assert project.ledger()[-1] == (2, "applied", 2)


# -- no indefinite waits -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("up", "--lock-timeout", "1s", "--lock-wait", "2s"), id="up"),
        pytest.param(("status",), id="status"),
        pytest.param(("verify",), id="verify", marks=pytest.mark.slow),
        pytest.param(("down",), id="down", marks=pytest.mark.slow),
    ],
)
def test_a_locked_ledger_ends_the_wait_naming_the_holder(
    command: tuple[str, ...], project: Project
) -> None:
    project.write(
        {**BALANCE, "002_more.up.sql": "SELECT 1;\n", "001_account.down.sql": "DROP TABLE acc;\n"}
    )
    assert project.migrate("up", "--to", "1").code == 0
    with psycopg.connect(project.database_url, application_name="ledger-squatter") as holder:
        holder.execute("LOCK TABLE migrator_ledger IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid

        result = project.migrate(*command, env={"MIGRATOR_LOCK_WAIT": "2s"})

    assert result.code == 3, result.output
    line = result.stderr
    assert f"pid {pid}" in line and "ledger-squatter" in line and "idle in transaction" in line
    assert "held for" in line and "Traceback" not in line
    assert project.history() == [(1, "up")]


# -- a migration that damages the ledger -------------------------------------------------

DAMAGE = [
    ("drop-ledger", "", "DROP TABLE migrator_ledger", "dropped (or renamed) the ledger table"),
    ("drop-history", "", "DROP TABLE migrator_ledger_history", "dropped (or renamed)"),
    ("rename-ledger", "", "ALTER TABLE migrator_ledger RENAME TO gone", "dropped (or renamed)"),
    (
        "drop-ledger-no-transaction",
        "-- migrate:no-transaction\n",
        "DROP TABLE migrator_ledger",
        "dropped (or renamed) the ledger table",
    ),
]


@pytest.mark.parametrize(
    ("header", "attack", "says"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE]
)
def test_a_migration_that_damages_the_ledger_is_named(
    header: str, attack: str, says: str, project: Project
) -> None:
    project.write({**BALANCE, "002_damage.up.sql": f"{header}{attack};\nSELECT 1;\n"})

    result = project.migrate("up")

    assert result.code == 4, result.output
    assert "002_damage" in result.stderr and says in result.stderr
    assert "the ledger marks" not in result.stderr and "Traceback" not in result.output
    if not header:  # rolled back: the ledger is as before
        assert "rolled back" in result.stderr
        assert project.history() == [(1, "up")]


def test_revoking_the_runners_privileges_on_the_ledger_is_named(project: Project) -> None:
    role = "ledger_runner_role"
    project.query(f"DROP ROLE IF EXISTS {role}")
    project.query(f"CREATE ROLE {role} LOGIN")
    project.query(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = project.database_url.replace("postgres@", f"{role}@", 1)
    try:
        project.write(
            {**BALANCE, "002_revoke.up.sql": f"REVOKE ALL ON migrator_ledger FROM {role};\n"}
        )

        result = project.migrate("up", url=url)

        assert result.code == 4, result.output
        assert f"not writable as role {role} after migration 002_revoke" in result.stderr
        assert project.history() == [(1, "up")]
    finally:
        project.query(f"DROP OWNED BY {role}")
        project.query(f"DROP ROLE {role}")


# -- a ledger damaged outside migrator ---------------------------------------------------


def test_a_ledger_whose_history_was_dropped_outside_is_named_not_blamed_on_a_migration(
    project: Project,
) -> None:
    project.write({**COUNTED})
    assert project.migrate("up", "--to", "1").code == 0
    project.query("DROP TABLE migrator_ledger_history")

    for args in (("status",), ("up",), ("verify",)):
        result = project.migrate(*args)
        assert result.code == 4, result.output
        assert "history table public.migrator_ledger_history is gone" in result.stderr
        assert "003_count" not in result.stderr and "privileges" not in result.stderr
    assert project.scalar("SELECT to_regclass('counter') IS NOT NULL")
    assert project.ledger() == [(1, "applied", 1)]


def test_a_ledger_missing_a_column_names_the_column(project: Project) -> None:
    project.write({**COUNTED})
    assert project.migrate("up", "--to", "1").code == 0
    project.query("ALTER TABLE migrator_ledger DROP COLUMN up_checksum")

    result = project.migrate("status")

    assert result.code == 2, result.output
    assert 'column "up_checksum" does not exist' in result.stderr
    assert "a column was dropped outside migrator" in result.stderr
