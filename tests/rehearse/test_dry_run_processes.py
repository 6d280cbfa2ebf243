"""`migrate dry-run` as a process: as root and as a normal user, and interrupted
(Ctrl-C, SIGTERM) in the middle of a migration: the embedded server never survives."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.helpers_db import python_for, unprivileged_user, write_migrations

REPO = Path(__file__).resolve().parents[2]
SLEEPY = {
    "001_table.up.sql": "CREATE TABLE t (id int);",
    "001_table.down.sql": "DROP TABLE t;",
    "002_slow.up.sql": "SELECT pg_sleep(60);",
    "002_slow.down.sql": "SELECT 1;",
}


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory every OS user can enter (the server's user must reach the
    files and its data directory under it)."""
    path = Path(tempfile.mkdtemp(prefix="migrator-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _server_dirs(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob("migrator-pg-*"))


def _postmaster(tmpdir: Path, timeout: float = 30.0) -> tuple[int, int]:
    """(pid, port) of the embedded server once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for directory in _server_dirs(tmpdir):
            try:
                lines = (directory / "data" / "postmaster.pid").read_text().splitlines()
            except OSError:
                continue
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return int(lines[0]), int(lines[3])
        time.sleep(0.05)
    raise AssertionError("the embedded server did not come up")


async def _sleeping(port: int) -> bool:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    try:
        return bool(
            await connection.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%'"
                " AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await connection.close()


def _wait_for_the_slow_migration(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if asyncio.run(_sleeping(port)):
            return
        time.sleep(0.1)
    raise AssertionError("the slow migration never started")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_dry_run_removes_the_embedded_server(
    shared_tmp: Path, sig: signal.Signals
) -> None:
    migrations = write_migrations(shared_tmp / "migrations", SLEEPY)
    process = subprocess.Popen(
        [sys.executable, "-m", "migrator", "--dir", str(migrations), "dry-run", "--no-lint"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=shared_tmp,
        env={**os.environ, "TMPDIR": str(shared_tmp), "PYTHONPATH": str(REPO)},
    )
    try:
        pid, port = _postmaster(shared_tmp)
        _wait_for_the_slow_migration(port)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the embedded postmaster survived"
    assert _server_dirs(shared_tmp) == [], "the embedded server's directory survived"


def test_dry_run_as_root_and_as_a_normal_user(shared_tmp: Path) -> None:
    migrations = write_migrations(
        shared_tmp / "migrations",
        {"001_table.up.sql": "CREATE TABLE t (id int);", "001_table.down.sql": "DROP TABLE t;"},
    )
    runs = [[sys.executable]]
    if os.geteuid() == 0:
        runs.append(python_for(unprivileged_user()))
    for prefix in runs:
        result = subprocess.run(
            [*prefix, "-m", "migrator", "--dir", str(migrations), "dry-run", "--no-lint"],
            capture_output=True,
            text=True,
            cwd=shared_tmp,
            env={**os.environ, "TMPDIR": str(shared_tmp), "PYTHONPATH": str(REPO)},
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (prefix, result.stderr)
        assert "001_table: ok (up, down, up)" in result.stdout
        assert _server_dirs(shared_tmp) == []
