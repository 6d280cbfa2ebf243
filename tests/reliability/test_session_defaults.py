"""A migration that changes the defaults of new sessions (``ALTER DATABASE ... SET``,
``ALTER ROLE ... SET``, their ``RESET``) is seen by the migrations after it in the same
run, exactly as when the files run one by one in ``psql`` (each file a new session).

Differential: the same files, run once by ``migrate up`` (one run) and once file by
file through ``psql`` on a second database; a probe migration after the attack records
the settings it runs under and where its table lands. The two must agree, whether the
probe shares a string with the attack (one-statement migrations are batched), runs
alone, or runs statement by statement.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from tests.conftest import fresh_database
from tests.runner.conftest import Project

#: a login role of this test process: ``ALTER ROLE CURRENT_USER SET`` changes it for
#: every database of the shared server, so no other test may log in as it
ROLE = f"session_defaults_{os.getpid()}"

SETUP = """CREATE SCHEMA other;
CREATE TABLE probe (what text);
"""

#: the settings the probe records (none of them is one the runner sets itself; the
#: runner always sets lock_timeout and statement_timeout, whatever the defaults say)
PROBE = """INSERT INTO probe SELECT concat_ws(' | ', current_setting('search_path'),
    current_setting('DateStyle'), current_setting('work_mem'),
    current_setting('default_transaction_isolation'))"""
MADE_BY_PROBE = "CREATE TABLE made_by_probe (id int)"

#: (id, attack); {db} is the database's quoted name
ATTACKS = [
    ("database-set-search-path", "ALTER DATABASE {db} SET search_path = other, public"),
    ("database-set-datestyle", "ALTER DATABASE {db} SET DateStyle = 'SQL, DMY'"),
    ("role-set-search-path", "ALTER ROLE CURRENT_USER SET search_path = other, public"),
    ("role-in-database-set", "ALTER ROLE CURRENT_USER IN DATABASE {db} SET work_mem = '7MB'"),
    ("database-reset-all", "ALTER DATABASE {db} RESET ALL"),
    (  # how a migration names its own database: current_database() in a DO block
        "do-block-database-set",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = other, public', "
        "current_database()); END $$",
    ),
    (
        "user-set-isolation",
        "ALTER USER CURRENT_USER SET default_transaction_isolation = 'repeatable read'",
    ),
]
#: a database default set before the run (the session starts with it), for
#: ``database-reset-all`` to reset
DEFAULT_BEFORE = "ALTER DATABASE {db} SET work_mem = '5MB'"

#: (attack mode, probe mode)
SHAPES = [("transaction", "batched"), ("no-transaction", "alone"),
          ("transaction", "no-transaction")]  # fmt: skip


def _quoted(db: str) -> str:
    return '"' + db.replace('"', '""') + '"'


def _files(attack: str, attack_mode: str, probe_mode: str, db: str) -> dict[str, str]:
    header = "-- migrate:no-transaction\n"
    files = {
        "001_setup.up.sql": SETUP,
        "002_attack.up.sql": (header if attack_mode == "no-transaction" else "")
        + attack.format(db=_quoted(db))
        + ";\n",
    }
    if probe_mode == "batched":  # one statement each: they share strings
        files["003_probe.up.sql"] = f"{PROBE};\n"
        files["004_made_by_probe.up.sql"] = f"{MADE_BY_PROBE};\n"
    else:
        files["003_probe.up.sql"] = (header if probe_mode == "no-transaction" else "") + (
            f"{PROBE};\n{MADE_BY_PROBE};\n"
        )
    return files


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def role(pg_server: EphemeralServer) -> Iterator[str]:
    """A superuser login role for this test, without defaults before and after it."""
    admin = pg_server.dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f'CREATE ROLE "{ROLE}" LOGIN SUPERUSER')
        conn.execute(f'ALTER ROLE "{ROLE}" RESET ALL')
    yield ROLE
    _admin(admin, f'ALTER ROLE "{ROLE}" RESET ALL')


def _probe(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT what FROM probe").fetchall()
        landed = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'made_by_probe'"
        ).fetchall()
    return rows + landed


def _psql_file_by_file(server: EphemeralServer, url: str, directory: Path) -> None:
    psql = (server.bin_dir or Path("/usr/lib/postgresql/15/bin")) / "psql"
    for path in sorted(directory.glob("*.up.sql")):
        subprocess.run(
            [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
            check=True,
            capture_output=True,
        )


def _cases() -> list[object]:
    cases = []
    for name, attack in ATTACKS:
        for shape in SHAPES:
            marks = [pytest.mark.slow] if shape != SHAPES[0] and name != ATTACKS[0][0] else []
            cases.append(
                pytest.param(attack, *shape, marks=marks, id=f"{name}-{shape[0]}-{shape[1]}")
            )
    return cases


@pytest.mark.parametrize(("attack", "attack_mode", "probe_mode"), _cases())
def test_later_migrations_see_new_session_defaults_as_psql_does(
    attack: str,
    attack_mode: str,
    probe_mode: str,
    pg_server: EphemeralServer,
    role: str,
    tmp_path: Path,
) -> None:
    databases = [fresh_database(pg_server, "session_defaults") for _ in range(2)]
    try:
        ours, theirs = (_as_role(next(database), role) for database in databases)
        for url in (ours, theirs):
            _admin(url, DEFAULT_BEFORE.format(db=_quoted(urlsplit(url).path[1:])))
        _admin(pg_server.dsn(), f'ALTER ROLE "{role}" RESET ALL')
        project = Project(tmp_path / "migrate", ours, tmp_path)
        project.write(_files(attack, attack_mode, probe_mode, urlsplit(ours).path[1:]))
        result = project.migrate("up")
        assert result.code == 0, result.output
        seen = _probe(ours)

        _admin(pg_server.dsn(), f'ALTER ROLE "{role}" RESET ALL')
        reference = tmp_path / "psql"
        reference.mkdir()
        files = _files(attack, attack_mode, probe_mode, urlsplit(theirs).path[1:])
        for name, text in files.items():
            (reference / name).write_text(text)
        _psql_file_by_file(pg_server, theirs, reference)

        assert seen == _probe(theirs)
        versions = [version for version, _ in project.history()]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        for database in databases:
            next(database, None)


def test_the_probe_sees_the_new_default(database_url: str, tmp_path: Path) -> None:
    """The differential above is not vacuous: the probe, batched after the attack in
    the same run, does see the database's new search path."""
    project = Project(tmp_path / "m", database_url, tmp_path)
    project.write(_files(ATTACKS[0][1], *SHAPES[0], urlsplit(database_url).path[1:]))

    result = project.migrate("up")

    assert result.code == 0, result.output
    assert project.query("SELECT what FROM probe")[0][0].startswith("other, public | ")
    assert (
        project.scalar(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'made_by_probe'"
        )
        == "other"
    )
