"""``up --resume`` continues in the session the failed run had: a ``SET search_path``
(or ``SET ROLE``) that completed before the failure still decides where the rest of
the file builds, as it would have without the failure.

Each case fails at a statement that needs ``app.orders`` (missing at first, while a
``public.orders`` exists), the test then creates ``app.orders`` and resumes: the index or
the row must land in ``app``, never in ``public``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner.conftest import Project

SETUP = "CREATE SCHEMA app;\nCREATE TABLE public.orders (id int, x int);\n"

#: a no-transaction file, and a transactional one with a commit point
CASES = {
    "no-transaction": (
        "-- migrate:no-transaction\n"
        "SET search_path = app;\n"
        "CREATE TABLE IF NOT EXISTS marker (x int);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_x ON orders (x);\n",
        "SELECT schemaname FROM pg_indexes WHERE indexname = 'orders_x'",
    ),
    "segments": (
        "SET search_path = app;\n"
        "CREATE TABLE marker (x int);\n"
        "COMMIT;\n"
        "INSERT INTO orders VALUES (1, 1);\n",
        "SELECT 'app' FROM app.orders UNION ALL SELECT 'public' FROM public.orders",
    ),
}


@pytest.fixture
def project(database_url: str, migrations_dir: Path, tmp_path: Path) -> Project:
    return Project(migrations_dir, database_url, tmp_path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_runs_in_the_session_the_completed_statements_left(
    project: Project, case: str
) -> None:
    text, where = CASES[case]
    project.write({"001_setup.up.sql": SETUP, "002_work.up.sql": text})
    failed = project.migrate("up")
    assert failed.code == 4 and 'relation "orders" does not exist' in failed.stderr
    assert project.scalar("SELECT to_regclass('app.marker') IS NOT NULL")

    project.query("CREATE TABLE app.orders (id int, x int)")
    shown = project.migrate("up", "--resume", "--sql")
    resumed = project.migrate("up", "--resume")
    assert resumed.code == 0, resumed.output
    assert [row[0] for row in project.query(where)] == ["app"]
    assert project.ledger()[-1][:2] == (2, "applied")
    assert "SET search_path = app;" in shown.stdout, shown.output  # --sql shows it too


def test_resume_replays_a_select_that_only_sets_the_session(project: Project) -> None:
    text = CASES["no-transaction"][0].replace(
        "SET search_path = app;", "SELECT set_config('search_path', 'app', false);"
    )
    project.write({"001_setup.up.sql": SETUP, "002_work.up.sql": text})
    assert project.migrate("up").code == 4
    project.query("CREATE TABLE app.orders (id int, x int)")

    shown = project.migrate("up", "--resume", "--sql")
    resumed = project.migrate("up", "--resume")

    assert resumed.code == 0, resumed.output
    assert [row[0] for row in project.query(CASES["no-transaction"][1])] == ["app"]
    assert "SELECT set_config('search_path', 'app', false);" in shown.stdout


#: statements that set the session as a side effect: sending them again would do more
UNREPLAYABLE = {
    "do-perform": "DO $$ BEGIN PERFORM set_config('search_path', 'app', false); END $$;",
    "do-set": "DO $$ BEGIN SET search_path = app; END $$;",
    "do-execute": "DO $$ BEGIN EXECUTE 'SET search_path TO app'; END $$;",
    "select-from": "SELECT set_config('search_path', nspname, false) FROM pg_namespace "
    "WHERE nspname = 'app';",
    "create-as": "CREATE TABLE settings_log AS SELECT set_config('search_path', 'app', false);",
}


@pytest.mark.parametrize("attack", sorted(UNREPLAYABLE))
def test_resume_refuses_after_a_session_change_it_cannot_replay(
    project: Project, attack: str
) -> None:
    text = CASES["no-transaction"][0].replace("SET search_path = app;", UNREPLAYABLE[attack])
    project.write({"001_setup.up.sql": SETUP, "002_work.up.sql": text})
    assert project.migrate("up").code == 4
    project.query("CREATE TABLE app.orders (id int, x int)")
    ledger = project.ledger()

    for args in (("up", "--resume", "--sql"), ("up", "--resume")):
        refused = project.migrate(*args)
        assert refused.code == 4, refused.output
        assert "statement 1 (line 2)" in refused.stderr and "changed the" in refused.stderr
        assert "migrate repair 2 --mark-applied" in refused.stderr
        assert "Traceback" not in refused.output
    assert project.ledger() == ledger
    assert project.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_x'") == 0
