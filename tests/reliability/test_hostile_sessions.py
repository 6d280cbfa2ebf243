"""Every migration starts from the same session, whatever the one before it did.

Differential: a probe migration records what its session looks like (into table
``probe``) right after an attacking migration, once in the same run and once in a run
of its own (a fresh connection). The two must agree, for every attack, whether the
attack runs in a transaction or ``-- migrate:no-transaction``, and whether the probe
shares a string with it (one-statement migrations are batched), runs alone, or runs
statement by statement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import fresh_database
from tests.runner.conftest import Project

ROLE = "hostile_session_role"

SETUP = f"""
CREATE SCHEMA other;
CREATE TABLE users (id int);
CREATE TABLE probe (what text);
CREATE SEQUENCE seq;
CREATE FUNCTION seq_currval() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN currval('seq')::text;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RETURN 'no currval';
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE};
    END IF;
END $$;
GRANT ALL ON SCHEMA public, other TO {ROLE};
GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE};
"""

#: what the probe records: everything an attack below could leak
PROBE = """INSERT INTO probe SELECT concat_ws(' | ',
    current_user, session_user, current_setting('search_path'),
    current_setting('default_transaction_read_only'),
    current_setting('default_transaction_isolation'), current_setting('DateStyle'),
    (SELECT count(*) FROM pg_prepared_statements WHERE from_sql
        AND name NOT LIKE 'migrator%'),
    (SELECT count(*) FROM pg_listening_channels()),
    (SELECT count(*) FROM pg_cursors),
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
    (SELECT count(*) FROM pg_class WHERE relpersistence = 't'),
    pg_my_temp_schema() <> 0 AND to_regclass('pg_temp.users') IS NOT NULL,
    public.seq_currval(),
    (SELECT string_agg(table_schema || '.' || table_name, ',' ORDER BY table_schema)
        FROM information_schema.tables WHERE table_name = 'made_by_probe'))"""
#: what the probe's own table lands in and whether a shadowing temp table took its row
PROBE_TAIL = "CREATE TABLE made_by_probe (id int);\nINSERT INTO users VALUES (7)"

#: attacks: (id, SQL, unused)
ATTACKS: list[tuple[str, str, bool]] = [
    ("set-search-path", "SET search_path = other", True),
    ("set-config-select", "SELECT set_config('search_path', 'other', false)", True),
    (
        "set-config-ctas",
        "CREATE TABLE leak AS SELECT set_config('search_path', 'other', false)",
        True,
    ),
    (
        "set-config-insert-cte",
        "WITH x AS (SELECT set_config('search_path', 'other', false) AS v) "
        "INSERT INTO probe SELECT v FROM x WHERE v IS NULL",
        True,
    ),
    (
        "set-config-do",
        "DO $$ BEGIN PERFORM set_config('search_path', 'other', false); END $$",
        True,
    ),
    ("set-role", f"SET ROLE {ROLE}", True),
    ("session-authorization", f"SET SESSION AUTHORIZATION {ROLE}", True),
    ("read-only-characteristics", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", True),
    ("read-only-default", "SET default_transaction_read_only = on", True),
    (
        "serializable-default",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        True,
    ),
    ("datestyle", "SET DateStyle = 'SQL, DMY'", True),
    ("temp-table-shadows-users", "CREATE TEMP TABLE users AS SELECT 1 AS id", True),
    ("temp-table", "CREATE TEMP TABLE scratch (id int)", True),
    ("prepare", "PREPARE hostile_plan AS SELECT 1", True),
    ("prepare-in-function", "DO $$ BEGIN EXECUTE 'PREPARE hostile_fn AS SELECT 2'; END $$", True),
    ("listen", "LISTEN hostile_channel", True),
    ("cursor-with-hold", "DECLARE hostile_cursor CURSOR WITH HOLD FOR SELECT 1", True),
    ("advisory-lock", "SELECT pg_advisory_lock(4242)", True),
    ("advisory-lock-shared", "SELECT pg_advisory_lock_shared(4243)", True),
    ("nextval", "SELECT nextval('seq')", True),
]

#: (attack mode, probe mode): the probe batched with the attack, alone, or statement
#: by statement
SHAPES = [("transaction", "batched"), ("no-transaction", "batched"), ("transaction", "alone"),
          ("transaction", "no-transaction")]  # fmt: skip


def _attack_file(sql: str, mode: str) -> str:
    header = "-- migrate:no-transaction\n" if mode == "no-transaction" else ""
    return f"{header}{sql};\n"


def _probe_file(mode: str) -> str:
    if mode == "batched":
        return f"{PROBE};\n"
    header = "-- migrate:no-transaction\n" if mode == "no-transaction" else ""
    return f"{header}{PROBE};\n{PROBE_TAIL};\n"


#: attacks every shape runs in the default suite; the others run all shapes with -m slow
KEY_ATTACKS = {"temp-table-shadows-users", "set-config-ctas", "read-only-characteristics"}


class FreshReference:
    """What the probe records in a session nothing ran in before: the probe applied in
    a run of its own after a harmless migration 002, once per probe mode."""

    def __init__(self, server: EphemeralServer, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self.rows: dict[str, list[tuple[object, ...]]] = {}
        self.cleanups: list[Iterator[str]] = []

    def of(self, probe_mode: str) -> list[tuple[object, ...]]:
        if probe_mode not in self.rows:
            databases = fresh_database(self.server, "session_ref")
            self.cleanups.append(databases)
            project = Project(self.directory / probe_mode, next(databases), self.directory)
            project.write(
                {
                    "001_setup.up.sql": SETUP,
                    "002_attack.up.sql": "SELECT 1;\n",
                    "003_probe.up.sql": _probe_file(probe_mode),
                }
            )
            results = [project.migrate("up", "--to", "2"), project.migrate("up")]
            assert [result.code for result in results] == [0, 0], [r.output for r in results]
            self.rows[probe_mode] = _probe_rows(project)
        return self.rows[probe_mode]


@pytest.fixture(scope="module")
def fresh_reference(
    pg_server: EphemeralServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FreshReference]:
    reference = FreshReference(pg_server, tmp_path_factory.mktemp("fresh"))
    yield reference
    for cleanup in reference.cleanups:
        next(cleanup, None)


def _probe_rows(project: Project) -> list[tuple[object, ...]]:
    return project.query("SELECT what FROM probe ORDER BY what") + project.query(
        "SELECT count(*) FROM public.users"
    )


def _cases() -> list[object]:
    cases = []
    for name, sql, _ in ATTACKS:
        for attack_mode, probe_mode in SHAPES:
            marks = []
            if (attack_mode, probe_mode) != SHAPES[0] and name not in KEY_ATTACKS:
                marks.append(pytest.mark.slow)
            cases.append(
                pytest.param(
                    sql, attack_mode, probe_mode, marks=marks,
                    id=f"{name}-{attack_mode}-then-{probe_mode}",
                )
            )  # fmt: skip
    return cases


@pytest.mark.parametrize(("sql", "attack_mode", "probe_mode"), _cases())
def test_the_next_migration_sees_a_fresh_session(
    sql: str,
    attack_mode: str,
    probe_mode: str,
    database_url: str,
    fresh_reference: FreshReference,
    tmp_path: Path,
) -> None:
    project = Project(tmp_path / "m", database_url, tmp_path)
    project.write(
        {
            "001_setup.up.sql": SETUP,
            "002_attack.up.sql": _attack_file(sql, attack_mode),
            "003_probe.up.sql": _probe_file(probe_mode),
        }
    )

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert _probe_rows(project) == fresh_reference.of(probe_mode)
    assert project.history() == [(1, "up"), (2, "up"), (3, "up")]
