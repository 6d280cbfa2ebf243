"""The throwaway PostgreSQL server: starts, serves, always cleans up, as root or not."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from migrator import ephemeral
from migrator.ephemeral import EphemeralServer, find_server_binaries, remove_stale_directories
from migrator.errors import ExitCode, ServerUnavailable
from tests.helpers_db import python_for, unprivileged_user

REPO = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) no longer runs.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" not in status


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


async def _server_user(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SELECT current_user"))
    finally:
        await connection.close()


def test_server_starts_accepts_connections_and_is_removed() -> None:
    with EphemeralServer() as server:
        assert server.dsn() == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        assert server.dsn("other").endswith(f":{server.port}/other")
        assert asyncio.run(_server_user(server.dsn())) == "postgres"
        assert server.startup_seconds is not None
        pid, base = server.pid, server.base_dir
        assert pid is not None and base is not None and base.is_dir()
        assert server.data_dir is not None and server.data_dir.is_dir()
    assert not _alive(pid)
    assert not base.exists()
    assert not server.running


def test_server_processes_never_run_as_root() -> None:
    with EphemeralServer() as server:
        assert server.pid is not None
        uid = _process_uid(server.pid)
    assert uid != 0
    if os.geteuid() != 0:
        assert uid == os.geteuid()


def test_exception_inside_block_still_removes_server() -> None:
    server = EphemeralServer()
    with pytest.raises(RuntimeError, match="boom"), server:
        pid, base = server.pid, server.base_dir
        raise RuntimeError("boom")
    assert pid is not None and base is not None
    assert not _alive(pid)
    assert not base.exists()


def test_stop_is_idempotent_and_start_stop_api() -> None:
    server = EphemeralServer().start()
    base = server.base_dir
    server.stop()
    server.stop()
    assert base is not None and not base.exists()


def test_bogus_pg_bin_gives_one_line_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(ServerUnavailable) as caught:
        EphemeralServer().start()
    line = caught.value.one_line()
    assert "nowhere" in line
    assert "apt-get install postgresql" in line
    assert "brew install postgresql@15" in line
    assert "--database-url" in line
    assert "\n" not in line
    assert caught.value.exit_code == ExitCode.CONNECTION


def test_find_server_binaries_prefers_explicit_override() -> None:
    found = find_server_binaries()
    assert (found / "initdb").is_file() and (found / "postgres").is_file()
    assert find_server_binaries(str(found)) == found


def test_failed_startup_reports_server_output_and_cleans_up(tmp_path: Path) -> None:
    server = EphemeralServer(settings={"shared_buffers": "not-a-size"})
    with pytest.raises(ServerUnavailable) as caught:
        server.start()
    assert "shared_buffers" in caught.value.one_line()
    assert server.base_dir is None
    assert not server.running


class _InterruptedWhileComingUp(EphemeralServer):
    """Ctrl-C lands while the server is starting (the postmaster is spawned, not ready)."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[int] = []

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> str:
        self.spawned.append(process.pid)
        super()._wait_until_ready(process)
        raise KeyboardInterrupt


def test_interrupt_while_the_server_comes_up_stops_the_postmaster() -> None:
    server = _InterruptedWhileComingUp()
    with pytest.raises(KeyboardInterrupt):
        server.start()
    assert server.spawned
    assert not _alive(server.spawned[-1]), "the postmaster outlived an interrupted start"
    assert server.base_dir is None and not server.running


class _SecondCtrlCWhileStopping(EphemeralServer):
    """The user presses Ctrl-C again while the server is being stopped."""

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        super()._terminate(process)


def test_second_ctrl_c_while_stopping_still_stops_and_removes_everything() -> None:
    # another thread is alive, as in most real programs: the kernel may hand it the signal
    release = threading.Event()
    bystander = threading.Thread(target=release.wait)
    bystander.start()
    try:
        server = _SecondCtrlCWhileStopping().start()
        pid, base = server.pid, server.base_dir
        assert pid is not None and base is not None
        with pytest.raises(KeyboardInterrupt):
            server.stop()
    finally:
        release.set()
        bystander.join()
    assert not _alive(pid)
    assert not base.exists()


async def _still_serves(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_sleep(0.2)")
        return int(await connection.fetchval("SELECT 1"))
    finally:
        await connection.close()


def test_server_started_from_a_thread_outlives_the_thread() -> None:
    """Linux's parent-death signal follows the starting *thread*; the server must not
    stop when a worker thread that started it ends."""
    server = EphemeralServer()
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        assert server.running
        assert asyncio.run(_still_serves(server.dsn())) == 1
        assert server.running
    finally:
        server.stop()


def test_only_stale_server_directories_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    old = time.time() - 3600

    def server_dir(owner: str | None, *, aged: bool = True) -> Path:
        base = Path(tempfile.mkdtemp(prefix="migrator-pg-", dir=tmp_path))
        if owner is not None:
            (base / "owner").write_text(owner)
        if aged:
            os.utime(base, (old, old))
        return base

    stale = server_dir(f"{gone.pid} 1")
    live = server_dir(_own_mark())
    young = server_dir(f"{gone.pid} 1", aged=False)
    unmarked = server_dir(None)
    assert remove_stale_directories(tmp_path) == [stale]
    assert not stale.exists()
    assert live.exists() and young.exists() and unmarked.exists()


@pytest.fixture
def root_only_tmpdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``TMPDIR`` naming a directory only root may enter (mode 700, as /root/tmp is)."""
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to another OS user")
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    assert Path(tempfile.gettempdir()) == private
    return private


def test_as_root_a_tmpdir_the_server_user_cannot_enter_is_replaced_by_a_shared_one(
    root_only_tmpdir: Path,
) -> None:
    with EphemeralServer() as server:
        assert asyncio.run(_server_user(server.dsn())) == "postgres"
        base, pid = server.base_dir, server.pid
        assert base is not None and pid is not None
        assert str(base.parent) in ("/tmp", "/var/tmp")
        status = base.stat()
        assert status.st_mode & 0o777 == 0o700
        assert status.st_uid == _process_uid(pid) != 0
    assert not base.exists()
    assert _wait_gone(pid)
    assert list(root_only_tmpdir.iterdir()) == []


def test_as_root_with_no_directory_the_server_user_can_enter_says_what_to_do(
    root_only_tmpdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ephemeral, "_SHARED_TEMP_DIRS", (str(root_only_tmpdir),))
    server = EphemeralServer()
    with pytest.raises(ServerUnavailable) as caught:
        server.start()
    line = caught.value.one_line()
    assert f"cannot enter any temporary directory ({root_only_tmpdir})" in line
    user = ephemeral._unprivileged_user().pw_name
    assert f"set TMPDIR to a directory {user} can enter" in line
    assert "\n" not in line
    assert caught.value.exit_code == ExitCode.CONNECTION
    assert server.base_dir is None and not server.running
    assert list(root_only_tmpdir.iterdir()) == []


def _own_mark() -> str:
    """What a running server's directory holds for this process: "PID START-TIME"."""
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return f"{os.getpid()} {fields[19]}"


# -- other processes: signals, and the normal-user path when we are root --------------

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from migrator.ephemeral import EphemeralServer
    with EphemeralServer() as server:
        print(json.dumps({"pid": server.pid, "base": str(server.base_dir),
                          "port": server.port}), flush=True)
        time.sleep(float(sys.argv[1]))
    print("cleaned", flush=True)
    """
)


def _start_script(
    python: str, sleep: float, prefix: list[str] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [*(prefix or []), python, "-c", _SCRIPT, str(sleep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=env,
    )


def _first_line(process: subprocess.Popen[str]) -> dict[str, object]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"script failed: {err}")
    data: dict[str, object] = json.loads(line)
    return data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_to_owner_stops_server_and_removes_directory(sig: signal.Signals) -> None:
    process = _start_script(sys.executable, 60)
    info = _first_line(process)
    process.send_signal(sig)
    process.communicate(timeout=30)
    assert process.returncode != 0
    assert _wait_gone(int(str(info["pid"])))
    assert not Path(str(info["base"])).exists()


def test_killed_owner_takes_the_server_with_it() -> None:
    """SIGKILL cannot be handled; the parent-death signal still stops the server."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is what delivers the parent-death signal")
    process = _start_script(sys.executable, 60)
    info = _first_line(process)
    process.kill()
    process.communicate(timeout=30)
    assert _wait_gone(int(str(info["pid"])))
    # the directory it left is removed by the next start once it is old enough
    base = Path(str(info["base"]))
    assert base.is_dir()
    old = time.time() - 3600
    os.utime(base, (old, old))
    assert base in remove_stale_directories(base.parent)
    assert not base.exists()


def test_works_as_a_normal_user() -> None:
    """As root, run the launcher as the unprivileged user; otherwise we already are one."""
    if os.geteuid() == 0:
        user = unprivileged_user()
        command = python_for(user)
        process = _start_script(command[-1], 0, command[:-1])
        expected_uid = pwd.getpwnam(user).pw_uid
    else:
        process = _start_script(sys.executable, 0)
        expected_uid = os.geteuid()
    info = _first_line(process)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "cleaned" in out
    assert not Path(str(info["base"])).exists()
    assert _wait_gone(int(str(info["pid"])))
    assert expected_uid != 0


# -- the suite's own fixtures ----------------------------------------------------------


async def _tables_and_name(dsn: str) -> tuple[int, str]:
    connection = await asyncpg.connect(dsn)
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        )
        await connection.execute("CREATE TABLE left_behind (id int)")
        return int(count), str(await connection.fetchval("SELECT current_database()"))
    finally:
        await connection.close()


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_empty_database(database_url: str, round_: int) -> None:
    count, name = asyncio.run(_tables_and_name(database_url))
    assert count == 0, "a table left by another test leaked into this database"
    assert name.startswith("test_")


def test_cached_cluster_is_reused_and_a_damaged_one_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with EphemeralServer() as first:
        assert asyncio.run(_server_user(first.dsn())) == "postgres"
    caches = list((tmp_path / "cache" / "migrator").glob("initdb-*"))
    assert len(caches) == 1 and (caches[0] / "PG_VERSION").is_file()
    with EphemeralServer() as second:
        assert asyncio.run(_server_user(second.dsn())) == "postgres"
    # damage the cache: the server still starts, from a fresh initdb, and re-caches
    (caches[0] / "global" / "pg_control").write_bytes(b"garbage")
    with EphemeralServer() as third:
        assert asyncio.run(_server_user(third.dsn())) == "postgres"
    assert (caches[0] / "global" / "pg_control").read_bytes() != b"garbage"
