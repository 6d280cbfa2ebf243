"""No password is ever printed: generated passwords (all printable ASCII), written raw
or percent-encoded in URLs, quoted or raw in ``key=value`` strings, given by flag or
by ``DATABASE_URL``, through every command that takes a database, with and without
``--verbose`` and ``--wait``; every byte of output is searched for the password.

Commands run twice: against a port where nothing listens (every command fails fast,
and most failure paths print the target), and against the session's server with a
role that logs in with that very password (the commands succeed and print reports).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from migrator.dsn import MASK, forget_secrets, mask_dsn, mask_text, register_dsn_secrets
from migrator.ephemeral import EphemeralServer
from tests.helpers import Result, run_cli

pytest_plugins = ["pytester"]

PRINTABLE = string.printable.replace("\n", "").replace("\r", "").replace("\x0b", "")
PRINTABLE = PRINTABLE.replace("\x0c", "").replace("\t", "")
#: passwords of every printable character; long and varied enough that no output
#: contains one by chance
PASSWORDS = st.text(alphabet=PRINTABLE, min_size=8, max_size=24).filter(
    lambda text: len(set(text)) >= 5 and text.strip() == text
)
DEAD = "127.0.0.1:1"  # nothing listens on port 1: every connection fails at once

#: every command that takes a database (the directory and a file come first)
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("status", "--format", "json"),
    ("up",),
    ("up", "--sql"),
    ("down",),
    ("verify",),
    ("verify", "--format", "json"),
    ("baseline", "1"),
    ("repair", "--forget"),
    ("lint",),
    ("dry-run", "--no-lint"),
    ("dry-run", "--format", "json", "--no-lint"),
    ("schema", "dump"),
)
#: the commands that succeed on the session's server with a password role
SUCCEEDING: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("status", "--format", "json"),
    ("up", "--sql"),
    ("up",),
    ("verify", "--format", "json"),
    ("lint",),
    ("schema", "dump"),
    ("dry-run", "--no-lint", "--format", "json"),
)
ROLE = "hostile_dsn_role"


def url_raw(password: str, where: str = DEAD, user: str = "red", database: str = "db") -> str:
    return f"postgresql://{user}:{password}@{where}/{database}"


def url_encoded(password: str, where: str = DEAD, user: str = "red", database: str = "db") -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@{where}/{database}"


def keyword_quoted(
    password: str, where: str = DEAD, user: str = "red", database: str = "db"
) -> str:
    host, port = where.split(":")
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return f"host={host} port={port} user={user} dbname={database} password='{escaped}'"


def keyword_raw(password: str, where: str = DEAD, user: str = "red", database: str = "db") -> str:
    host, port = where.split(":")
    return f"host={host} port={port} user={user} dbname={database} password={password}"


def query_password(
    password: str, where: str = DEAD, user: str = "red", database: str = "db"
) -> str:
    return f"postgresql://{user}@{where}/{database}?password={quote(password, safe='')}"


FORMS = (url_raw, url_encoded, keyword_quoted, keyword_raw, query_password)


def leaks(password: str, dsn: str, result: Result) -> list[str]:
    """The forms of ``password`` found in ``result``'s output."""
    forms = {password, quote(password, safe="")}
    if "password='" in dsn:
        forms.add(password.replace("\\", "\\\\").replace("'", "\\'"))
    return [form for form in forms if len(form) >= 4 and form in result.output]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with one migration, a file to plan, and no configuration above."""
    root = tmp_path_factory.mktemp("hostile_dsn")
    migrations = root / "database" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "001_items.up.sql").write_text("CREATE TABLE items (id bigint PRIMARY KEY);\n")
    (migrations / "001_items.down.sql").write_text("DROP TABLE items;\n")
    return root


@given(password=PASSWORDS)
@example(password="&A=00001")  # a setting-like text at the start, quoted or not
@settings(max_examples=300, deadline=None)
def test_mask_dsn_hides_every_printable_password_in_every_form(password: str) -> None:
    for form in FORMS:
        dsn = form(password)
        masked = mask_dsn(dsn)
        assert password not in masked, (dsn, masked)
        assert quote(password, safe="") not in masked, (dsn, masked)
        register_dsn_secrets(dsn)  # and free text naming it, however it is cut
        try:
            for text in (f"cannot connect to {dsn}: refused", f'{{"url": "{dsn}"}}', repr(dsn)):
                assert password not in mask_text(text), (text, mask_text(text))
        finally:
            forget_secrets()


@given(password=PASSWORDS, form=st.sampled_from(FORMS), verbose=st.booleans())
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_command_prints_the_password_when_the_server_is_down(
    project: Path, password: str, form: object, verbose: bool
) -> None:
    check_server_down(project, password, form, verbose)


@pytest.mark.slow
@given(password=PASSWORDS, form=st.sampled_from(FORMS), verbose=st.booleans())
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_command_prints_the_password_when_the_server_is_down_many(
    project: Path, password: str, form: object, verbose: bool
) -> None:
    check_server_down(project, password, form, verbose)


def check_server_down(project: Path, password: str, form: object, verbose: bool) -> None:
    """Every command, by flag, by DATABASE_URL and with --wait, against a dead port."""
    dsn = form(password)  # type: ignore[operator]
    extra = ("-v",) if verbose else ()
    for command in COMMANDS:
        for how in ("flag", "env", "wait"):
            if how == "flag":
                args, env = (*extra, "--database-url", dsn, *command), {}
            elif how == "env":
                args, env = (*extra, *command), {"DATABASE_URL": dsn}
            else:
                args, env = (*extra, "--wait", "50ms", "--database-url", dsn, *command), {}
            if command == ("dry-run", "--no-lint") or command[:2] == ("dry-run", "--format"):
                args = (*extra, *command, "--database-url", dsn)
                env = {}
            result = run_cli(*args, env={"DATABASE_URL": None, **env}, cwd=project)
            # lint reads only --database-url (never DATABASE_URL): it may pass
            assert result.code in (2, 3) or (command, how) == (("lint",), "env"), result
            assert not leaks(password, dsn, result), (args, result.output)


@pytest.fixture(scope="module")
def password_role(pg_server: EphemeralServer) -> Iterator[str]:
    """A role that must log in with a password (scram) on the session server, owning a
    database of its own; its password is set by each example."""
    assert pg_server.data_dir is not None
    hba = pg_server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    database = "hostile_dsn_db"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(ROLE)
            )
        )
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield database
    finally:
        hba.write_text(original)
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


@given(password=PASSWORDS, form=st.sampled_from((url_encoded, keyword_quoted, query_password)))
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_command_prints_the_password_when_it_is_right(
    project: Path, pg_server: EphemeralServer, password_role: str, password: str, form: object
) -> None:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password))
        )
    where = f"{pg_server.host}:{pg_server.port}"
    dsn = form(password, where, ROLE, password_role)  # type: ignore[operator]
    for command in SUCCEEDING:
        for extra in ((), ("-v",)) if command[0] != "dry-run" else ((),):
            args = (*extra, "--database-url", dsn, *command)
            if command[0] == "dry-run":  # its --database-url is its own option
                args = (*extra, *command, "--database-url", dsn)
            result = run_cli(*args, env={"DATABASE_URL": None}, cwd=project)
            assert result.code == 0, (args, result.output)
            assert not leaks(password, dsn, result), (args, result.output)
    report = project / "dry-run.md"
    written = run_cli(
        "dry-run", "--no-lint", "--format", "markdown", "--output", str(report),
        "--database-url", dsn, env={"DATABASE_URL": None}, cwd=project,
    )  # fmt: skip
    assert written.code == 0, written.output
    assert not leaks(password, dsn, Result(0, report.read_text(), written.output))
    down = run_cli("--database-url", dsn, "down", env={"DATABASE_URL": None}, cwd=project)
    assert down.code == 0, down.output


PLUGIN_PASSWORD = "Plug#in/Pw?[x]@9 'q'"
FAILING_USER_TEST = """
def test_uses_the_fixtures(migrator_server_url, migrator_database_url, migrator_settings):
    assert migrator_database_url.startswith("postgresql")
    assert False, "a failing test shows its fixtures"
"""


def test_the_pytest_plugin_shows_no_password_in_a_failing_test(
    pytester: pytest.Pytester, pg_server: EphemeralServer, password_role: str
) -> None:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(PLUGIN_PASSWORD)
            )
        )
    migrations = pytester.path / "database" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "001_items.up.sql").write_text("CREATE TABLE items (id bigint);\n")
    (migrations / "001_items.down.sql").write_text("DROP TABLE items;\n")
    pytester.makepyfile(test_user=FAILING_USER_TEST)
    where = f"{pg_server.host}:{pg_server.port}"
    url = url_encoded(PLUGIN_PASSWORD, where, ROLE, password_role)
    result = pytester.runpytest_subprocess("--migrator-server-url", url, "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = "\n".join(result.outlines + result.errlines)
    assert "migrator_server_url = 'postgresql://hostile_dsn_role:***@" in output
    assert "migrator_database_url = 'postgresql://hostile_dsn_role:***@" in output
    assert PLUGIN_PASSWORD not in output
    assert quote(PLUGIN_PASSWORD, safe="") not in output


# -- connection settings as libpq reads them ----------------------------------------

PSQL = Path("/usr/lib/postgresql/15/bin/psql")
#: a password with libpq's password-file separators and escapes in it
COLON_PASSWORD = "pa:ss\\wo:rd#1"


def _set_password(pg_server: EphemeralServer, password: str) -> None:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password))
        )


def _psql_agrees(env: dict[str, str], conninfo: str) -> None:
    """psql (libpq itself) connects with the same settings: the test's files are
    what libpq accepts, not only what we accept."""
    if not PSQL.is_file():
        return
    import subprocess

    completed = subprocess.run(
        [str(PSQL), "-X", "-A", "-t", "-c", "SELECT current_user", conninfo],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.stdout.strip() == ROLE, completed.stderr


def test_a_service_file_and_a_password_file_with_escapes_work_as_in_psql(
    project: Path, pg_server: EphemeralServer, password_role: str, tmp_path: Path
) -> None:
    _set_password(pg_server, COLON_PASSWORD)
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        "# the team's services\n[other]\nhost=192.0.2.1\n\n"
        f"[app]\nhost={pg_server.host}\nport={pg_server.port}\nuser={ROLE}\n"
        f"dbname={password_role}\n"
    )
    passfile = tmp_path / "pgpass"
    escaped = COLON_PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    passfile.write_text(f"# comment\n*:*:*:{ROLE}:{escaped}\n")
    passfile.chmod(0o600)
    env = {"PGSERVICEFILE": str(service_file), "PGPASSFILE": str(passfile), "PGSERVICE": "app"}
    _psql_agrees(env, "service=app")

    by_variable = run_cli("status", env={"DATABASE_URL": None, **env}, cwd=project)
    assert by_variable.code == 0, by_variable.output
    by_keyword = run_cli(
        "--database-url", "service=app", "status",
        env={"DATABASE_URL": None, **env, "PGSERVICE": None}, cwd=project,
    )  # fmt: skip
    assert by_keyword.code == 0, by_keyword.output
    assert COLON_PASSWORD not in by_variable.output + by_keyword.output

    missing = run_cli(
        "--database-url", "service=nowhere", "status", env={"DATABASE_URL": None, **env},
        cwd=project,
    )  # fmt: skip
    assert missing.code == 2, missing.output
    assert "connection service 'nowhere' is not defined" in missing.stderr


def test_an_unknown_keyword_is_a_usage_error_naming_it(project: Path) -> None:
    for dsn in ("host=127.0.0.1 port=1 bogus_key=1", "postgresql://u@127.0.0.1:1/db?bogus_key=1"):
        result = run_cli("--database-url", dsn, "status", env={"DATABASE_URL": None}, cwd=project)
        assert result.code == 2, result.output
        assert "unknown connection keyword 'bogus_key'" in result.stderr
        assert "Traceback" not in result.output


def test_a_missing_root_certificate_is_a_configuration_error_not_retried(
    project: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-root.crt"
    for dsn in (
        f"host=127.0.0.1 port=1 sslmode=verify-full sslrootcert={missing}",
        f"postgresql://u@127.0.0.1:1/db?sslmode=verify-ca&sslrootcert={missing}",
    ):
        result = run_cli(
            "--wait", "30s", "--database-url", dsn, "status",
            env={"DATABASE_URL": None}, cwd=project,
        )  # fmt: skip
        assert result.code == 2, result.output
        assert f"the root certificate file {missing} does not exist" in result.stderr
        assert "waiting" not in result.output  # not retried: nothing would change


def test_a_keyword_string_keeps_every_setting(pg_server: EphemeralServer) -> None:
    """sslrootcert, options and the rest reach the driver instead of being dropped."""
    from migrator.db.target import parse_target

    target = parse_target(
        f"host={pg_server.host} port={pg_server.port} user=postgres dbname=postgres "
        "sslmode=require sslrootcert=/etc/hostname options='-c search_path=app,public' "
        "target_session_attrs=read-write",
        {},
    )
    dsn, arguments = target.driver_arguments()
    assert "sslrootcert=%2Fetc%2Fhostname" in dsn
    assert "target_session_attrs=read-write" in dsn
    assert arguments["server_settings"] == {"search_path": "app,public"}
    assert (arguments["host"], arguments["port"]) == (pg_server.host, pg_server.port)


#: passwords too short to be masked wherever their characters occur (a letter of
#: "postgresql", a digit of the port, a URL's own ``:`` or ``@``)
SHORT_PASSWORDS = ("p", "o", "1", ":", "@", "ab", "st=")


@pytest.mark.parametrize("password", SHORT_PASSWORDS)
@pytest.mark.parametrize("form", [url_raw, url_encoded, keyword_quoted, query_password])
def test_a_short_password_is_masked_only_where_it_is_the_password(
    project: Path, password: str, form: object
) -> None:
    dsn = form(password)  # type: ignore[operator]
    for command in (("status",), ("up", "--sql"), ("status", "--format", "json")):
        result = run_cli("--database-url", dsn, *command, env={"DATABASE_URL": None}, cwd=project)
        assert result.code == 3, result.output
        assert "cannot connect to postgresql://" in result.output or "host=127" in result.output
        # every mask stands where the password stood, nowhere else
        masks = [match.start() for match in re.finditer(re.escape(MASK), result.output)]
        assert masks, result.output
        for start in masks:
            before = result.output[max(0, start - 10) : start]
            assert before.endswith(("red:", "password=")), result.output
        assert not leaks(password, dsn, result)
