"""`migrate dry-run --database-url` on a server others use: the roles the migrations
create are dropped afterwards, other sessions' role changes are not blamed on a
migration, a role without CREATEDB is one line, and SIGTERM cleans up like Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from migrator.ephemeral import EphemeralServer
from tests.helpers import run_cli
from tests.helpers_db import write_migrations
from tests.rehearse.test_dry_run import ACCOUNTS, _by_version, _dry_run

REPO = Path(__file__).resolve().parents[2]


async def _query(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def _roles(server: EphemeralServer, *names: str) -> set[str]:
    rows = asyncio.run(
        _query(server.dsn(), "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])", names)
    )
    return {row["rolname"] for row in rows}


def _scratch_databases(server: EphemeralServer) -> list[str]:
    rows = asyncio.run(
        _query(server.dsn(), "SELECT datname FROM pg_database WHERE datname LIKE 'migrator_reh%'")
    )
    return [row["datname"] for row in rows]


def test_roles_the_migrations_create_are_dropped_even_after_a_failure(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            **ACCOUNTS,
            "002_role.up.sql": "CREATE ROLE rehearsal_probe_ok; GRANT SELECT ON accounts"
            " TO rehearsal_probe_ok;",
            "002_role.down.sql": "REVOKE ALL ON accounts FROM rehearsal_probe_ok;"
            " DROP ROLE rehearsal_probe_ok;",
        },
    )
    for _ in range(2):  # the second rehearsal on the same server starts clean
        code, report, _ = _dry_run(migrations_dir, server=pg_server)
        assert code == 0, report
        assert _roles(pg_server, "rehearsal_probe_ok") == set()

    write_migrations(
        migrations_dir,
        {
            "003_leaky.up.sql": 'CREATE ROLE "Rehearsal Probe Left";',
            "003_leaky.down.sql": "SELECT 1;",
        },
    )
    code, report, _ = _dry_run(migrations_dir, server=pg_server)
    assert code == 1
    assert "role Rehearsal Probe Left added" in _by_version(report)[3]["round_trip_diff"]
    assert _roles(pg_server, "Rehearsal Probe Left") == set()


def test_other_sessions_role_changes_are_not_blamed_on_the_migration(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    # While 002 runs, another session (dblink) creates a role whose name 002 never
    # spells out: that is someone else's change, not the migration's.
    bystander = """
    DO $$
    DECLARE name text := 'rehearsal_by' || 'stander';
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
        PERFORM dblink_exec(format('host=127.0.0.1 port=%s user=postgres dbname=postgres',
                                   current_setting('port')), 'CREATE ROLE ' || name);
      END IF;
    END $$;
    """
    write_migrations(
        migrations_dir,
        {
            "001_dblink.up.sql": "CREATE EXTENSION dblink;",
            "001_dblink.down.sql": "DROP EXTENSION dblink;",
            "002_busy_neighbour.up.sql": bystander,
            "002_busy_neighbour.down.sql": "SELECT 1;",
        },
    )
    try:
        code, report, _ = _dry_run(migrations_dir, server=pg_server)
        assert code == 0, report
        assert _by_version(report)[2]["round_trip_diff"] == []
        # and it is not the rehearsal's to drop
        assert _roles(pg_server, "rehearsal_bystander") == {"rehearsal_bystander"}
    finally:
        asyncio.run(_query(pg_server.dsn(), "DROP ROLE IF EXISTS rehearsal_bystander"))


def test_a_role_without_createdb_is_one_line(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(migrations_dir, ACCOUNTS)
    asyncio.run(_query(pg_server.dsn(), "CREATE ROLE rehearsal_weak LOGIN PASSWORD 'sekrit'"))
    try:
        url = pg_server.dsn().replace(f"{pg_server.user}@", "rehearsal_weak:sekrit@")
        result = run_cli(
            "--dir", str(migrations_dir), "dry-run", "--no-lint", "--database-url", url
        )
    finally:
        asyncio.run(_query(pg_server.dsn(), "DROP ROLE rehearsal_weak"))
    assert result.code == 3, result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lacks CREATEDB" in lines[0], lines
    assert "sekrit" not in result.output


async def _sleeping(dsn: str) -> bool:
    rows = await _query(
        dsn,
        "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%'"
        " AND pid <> pg_backend_pid()",
    )
    return bool(rows)


def test_sigterm_acts_as_ctrl_c_and_drops_the_throwaway_database(
    migrations_dir: Path, pg_server: EphemeralServer
) -> None:
    write_migrations(
        migrations_dir,
        {
            "001_role.up.sql": "CREATE ROLE rehearsal_probe_term;",
            "001_role.down.sql": "DROP ROLE rehearsal_probe_term;",
            "002_slow.up.sql": "SELECT pg_sleep(60);",
            "002_slow.down.sql": "SELECT 1;",
        },
    )
    command = [sys.executable, "-m", "migrator", "--dir", str(migrations_dir), "dry-run"]
    process = subprocess.Popen(
        [*command, "--no-lint", "--database-url", pg_server.dsn()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while not asyncio.run(_sleeping(pg_server.dsn())):
            assert time.monotonic() < deadline, "the slow migration never started"
            time.sleep(0.1)
        assert _scratch_databases(pg_server)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _scratch_databases(pg_server) == []
    assert _roles(pg_server, "rehearsal_probe_term") == set()
