"""Connecting: every failure is one plain line with exit code 3, and no password ever
appears in any output."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from migrator.config import Settings
from migrator.db.connection import APPLICATION_NAME
from migrator.db.target import parse_target
from migrator.ephemeral import EphemeralServer
from migrator.errors import SourceError, UsageError
from migrator.runner import flows
from tests.helpers import Result, run_cli
from tests.runner.conftest import USERS, Project

PASSWORD_ROLE = "migrator_pw_role"
RIGHT_PASSWORD = "Right-S3cret-pw-4417"
WRONG_PASSWORD = "Wr0ng-S3cret-pw-9928"


def _migrate(directory: Path, url: str, *args: str, **env: str | None) -> Result:
    return run_cli(
        "--dir",
        str(directory),
        "--database-url",
        url,
        *args,
        env={"DATABASE_URL": None, "PGPASSWORD": None, **env},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_gives_exit_3(migrations_dir: Path) -> None:
    port = _free_port()
    url = f"postgresql://app:{WRONG_PASSWORD}@127.0.0.1:{port}/app"

    for command in ("up", "status", "verify"):
        result = _migrate(migrations_dir, url, command)
        assert result.code == 3, result.output
        assert f"nothing is listening on 127.0.0.1:{port}" in result.stderr
        assert f"postgresql://app:***@127.0.0.1:{port}/app" in result.stderr
        assert WRONG_PASSWORD not in result.output
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_host(migrations_dir: Path) -> None:
    result = _migrate(migrations_dir, "postgresql://app@no-such-host.invalid/app", "status")

    assert result.code == 3
    assert "unknown host 'no-such-host.invalid'" in result.stderr


def test_missing_database(migrations_dir: Path, pg_server: EphemeralServer) -> None:
    result = _migrate(migrations_dir, pg_server.dsn("no_such_database"), "status")

    assert result.code == 3
    assert "database 'no_such_database' does not exist" in result.stderr


def _fake_server(reply: bytes | None) -> tuple[int, threading.Event]:
    """A TCP server that answers every connection with ``reply`` (or never answers)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        held = []
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            client.recv(1024)
            if reply is None:
                held.append(client)
            else:
                client.sendall(reply)
                client.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1]), stop


def test_a_server_that_is_not_postgresql(migrations_dir: Path) -> None:
    port, stop = _fake_server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        result = _migrate(migrations_dir, f"postgresql://app@127.0.0.1:{port}/app", "status")
    finally:
        stop.set()

    assert result.code == 3
    assert f"the server at 127.0.0.1:{port} does not speak the PostgreSQL protocol" in (
        result.stderr
    )


def test_a_server_that_never_answers_times_out(migrations_dir: Path) -> None:
    port, stop = _fake_server(None)
    try:
        result = _migrate(
            migrations_dir,
            f"postgresql://app@127.0.0.1:{port}/app",
            "status",
            MIGRATOR_CONNECT_TIMEOUT="300ms",
        )
    finally:
        stop.set()

    assert result.code == 3
    assert f"no answer from 127.0.0.1:{port} within 0.3s" in result.stderr


@pytest.fixture
def password_role(pg_server: EphemeralServer, project: Project) -> Iterator[str]:
    """A role that must log in with a password (scram) on the session server."""
    assert pg_server.data_dir is not None
    hba = pg_server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    project.query(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PASSWORD_ROLE}') "
        f"THEN CREATE ROLE {PASSWORD_ROLE} LOGIN; END IF; END $$"
    )
    project.query(f"ALTER ROLE {PASSWORD_ROLE} PASSWORD '{RIGHT_PASSWORD}'")
    database = urlsplit(project.database_url).path.lstrip("/")
    project.query(f'ALTER DATABASE "{database}" OWNER TO {PASSWORD_ROLE}')
    project.query(f"GRANT CREATE ON SCHEMA public TO {PASSWORD_ROLE}")
    project.query("SELECT pg_reload_conf()")
    try:
        yield database
    finally:
        hba.write_text(original)
        project.query("SELECT pg_reload_conf()")


def test_passwords_are_never_printed(
    project: Project, pg_server: EphemeralServer, password_role: str
) -> None:
    project.write(USERS)
    base = f"127.0.0.1:{pg_server.port}/{password_role}"
    wrong = f"postgresql://{PASSWORD_ROLE}:{WRONG_PASSWORD}@{base}"
    right = f"postgresql://{PASSWORD_ROLE}:{RIGHT_PASSWORD}@{base}"

    outputs = []
    for command in ("up", "status", "verify", "down"):
        result = _migrate(project.directory, wrong, command)
        assert result.code == 3, result.output
        assert f"password authentication failed for user '{PASSWORD_ROLE}'" in result.stderr
        assert f"postgresql://{PASSWORD_ROLE}:***@{base}" in result.stderr
        outputs.append(result.output)
    from_env = _migrate(
        project.directory,
        f"postgresql://{PASSWORD_ROLE}@{base}",
        "status",
        PGPASSWORD=WRONG_PASSWORD,
    )
    assert from_env.code == 3
    outputs.append(from_env.output)
    # the right password works, and is not printed either
    for command in ("up", "status", "verify", "down", "up", "repair"):
        result = _migrate(project.directory, right, command)
        assert result.code == 0, result.output
        outputs.append(result.output)
    failing = {"003_bad.up.sql": "SELECT 1/0;\n", "003_bad.down.sql": "SELECT 1;\n"}
    project.write(failing)
    failed = _migrate(project.directory, right, "up")
    assert failed.code == 4, failed.output
    outputs.append(failed.output)

    for output in outputs:
        assert WRONG_PASSWORD not in output
        assert RIGHT_PASSWORD not in output


def test_keyword_connection_string(project: Project, pg_server: EphemeralServer) -> None:
    project.write(USERS)
    database = urlsplit(project.database_url).path.lstrip("/")
    keywords = f"host=127.0.0.1 port={pg_server.port} user=postgres dbname={database}"

    result = _migrate(project.directory, keywords, "up")

    assert result.code == 0, result.output
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2)]


def test_parse_target_reads_urls_keywords_and_environment() -> None:
    url = parse_target("postgresql://app:pw@db.example:6432/shop?sslmode=require", {})
    assert (url.host, url.port, url.user, url.database, url.password, url.sslmode) == (
        "db.example",
        6432,
        "app",
        "shop",
        "pw",
        "require",
    )
    assert url.describe() == "postgresql://app:***@db.example:6432/shop?sslmode=require"

    keywords = parse_target("host=/tmp/sock port=5433 user=me dbname=x password='a b'", {})
    assert (keywords.host, keywords.port, keywords.password) == ("/tmp/sock", 5433, "a b")
    assert keywords.driver_arguments()[1]["database"] == "x"
    assert "a b" not in keywords.describe()

    env = parse_target(None, {"PGHOST": "h", "PGPORT": "7", "PGUSER": "u", "PGPASSWORD": "s"})
    assert env.describe() == "u@h:7/u (from PG* variables)"
    assert env.secrets() == ["s"]

    nothing = parse_target(None, {})  # a newcomer with nothing configured is told so
    assert nothing.describe().endswith(
        "(libpq's defaults: no --database-url, DATABASE_URL or PG* variable is set)"
    )

    with pytest.raises(UsageError):
        parse_target("mysql://x@y/z", {})
    with pytest.raises(UsageError):
        parse_target("postgresql://x@y:notaport/z", {})


def _sessions(project: Project) -> int:
    """The runner's sessions on the project's database, once the ended ones are gone
    (a backend leaves ``pg_stat_activity`` shortly after its client closed)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = %s"
    )
    deadline = time.monotonic() + 10
    while (count := int(project.scalar(sql, APPLICATION_NAME))) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


@pytest.mark.parametrize("refused", [True, False])
def test_the_connection_opened_while_planning_is_closed_whatever_the_plan(
    project: Project, refused: bool
) -> None:
    """``up`` opens the migrations' connection while it parses the files to run: a plan
    refused then (a pending file that does not parse) creates nothing and, as a plan
    that runs, leaves no session behind."""
    files = dict(USERS)
    if refused:
        files["003_broken.up.sql"] = "CREATE TABLE (;\n"
    project.write(files)
    settings = Settings(migrations_dir=project.directory, database_url=project.database_url)

    if refused:
        with pytest.raises(SourceError, match=r"003_broken\.up\.sql:1"):
            asyncio.run(flows.up(settings))
        assert project.tables() == set()
    else:
        asyncio.run(flows.up(settings))
        assert {"users", "orders"} <= project.tables()
    assert _sessions(project) == 0
