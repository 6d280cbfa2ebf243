"""A migration that changes its session for good (``SET search_path``, ``SET ROLE``,
``set_config(..., false)``) does not change the migrations after it in the same run:
the schema a run builds never depends on how migrations were grouped into runs."""

from __future__ import annotations

from tests.runner.conftest import Project

APP = "CREATE SCHEMA app;\nSET search_path = app;\nCREATE TABLE t1 (id int);\n"
AS_OWNER = "SET ROLE migrator_test_owner;\nCREATE TABLE owned (id int);\n"


def _schemas_of(project: Project, *tables: str) -> dict[str, str]:
    rows = project.query(
        "SELECT tablename, schemaname FROM pg_tables WHERE tablename = ANY(%s)", list(tables)
    )
    return dict(rows)


def test_search_path_set_by_a_migration_does_not_reach_the_next(project: Project) -> None:
    project.write(
        {
            "001_app.up.sql": APP,
            "002_t2.up.sql": "CREATE TABLE t2 (id int);\n",
            "003_config.up.sql": "SELECT set_config('search_path', 'app', false);\n",
            "004_t4.up.sql": "CREATE TABLE t4 (id int);\n",
            "005_t5.up.sql": "CREATE TABLE t5 (id int);\n",
        }
    )

    result = project.migrate("up")

    assert result.code == 0, result.stderr
    assert _schemas_of(project, "t1", "t2", "t4", "t5") == {
        "t1": "app",
        "t2": "public",
        "t4": "public",
        "t5": "public",
    }


def test_a_role_set_by_a_migration_does_not_own_the_next_ones_objects(project: Project) -> None:
    login = project.scalar("SELECT current_user")
    project.query("DROP ROLE IF EXISTS migrator_test_owner")
    project.query("CREATE ROLE migrator_test_owner")
    project.query("GRANT CREATE ON SCHEMA public TO migrator_test_owner")
    try:
        project.write(
            {"001_as_owner.up.sql": AS_OWNER, "002_next.up.sql": "CREATE TABLE mine (id int);\n"}
        )

        result = project.migrate("up")

        assert result.code == 0, result.stderr
        owners = dict(
            project.query(
                "SELECT tablename, tableowner FROM pg_tables WHERE tablename IN ('owned', 'mine')"
            )
        )
        assert owners == {"owned": "migrator_test_owner", "mine": login}
    finally:
        project.query("DROP OWNED BY migrator_test_owner")
        project.query("DROP ROLE migrator_test_owner")


def test_a_failed_no_transaction_migration_is_recorded_even_after_going_read_only(
    project: Project,
) -> None:
    project.write(
        {
            "001_ro.up.sql": (
                "-- migrate:no-transaction\n"
                "SET default_transaction_read_only = on;\n"
                "CREATE TABLE nope (id int);\n"
            ),
        }
    )

    result = project.migrate("up")

    assert result.code == 4
    assert project.ledger() == [(1, "failed", 1)]
