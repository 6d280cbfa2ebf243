"""The server side fails under a running ``migrate up``: its connection is cut
(``pg_terminate_backend``), the server restarts (``pg_ctl restart``), or a backend
crash makes the server reset every session. Each time: one clear line, exit code 3,
nothing recorded falsely, and a clean re-run to head."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from migrator.ephemeral import EphemeralServer
from tests.reliability import kill_corpus as kc
from tests.reliability.control import Control, wait_for
from tests.reliability.database_state import ledger_state
from tests.reliability.processes import PATIENT, MigrateProcess, run_in_process
from tests.reliability.reference import References, applied, check_at_head, partial

TRANSACTIONAL_LOST = "nothing from this migration was committed"
PARTIAL_LOST = (
    "2 of its statements had completed; the ledger marks it partial: once reconnected, see "
    "`migrate status`, then `migrate up --resume` or `migrate repair`"
)


def _fault_at_gate(
    gate: int,
    database_url: str,
    tmp_path: Path,
    fault: Callable[[Control, int], None],
) -> tuple[int, str, str]:
    """Run ``migrate up`` to ``gate``, inflict ``fault`` on its backend, and return the
    exit code, its last stderr line and all its output."""
    directory = kc.write_corpus(tmp_path / "migrations")
    ctl = Control(database_url)
    try:
        ctl.close_gate(gate)
        process = MigrateProcess(
            directory, database_url, "up", workdir=tmp_path / "runs", env=PATIENT
        )
        pid = wait_for(lambda: ctl.gate_waiter(gate), f"gate {gate}", process)
        fault(ctl, pid)
    finally:
        ctl.close()
    finished = process.wait(timeout=60)
    lines = finished.stderr.strip().splitlines()
    return finished.code, lines[-1] if lines else "", finished.output


def _assert_one_clear_line(code: int, last: str, output: str) -> None:
    assert code == 3, output
    assert last.startswith("error: ") and "lost the connection" in last, output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("error: ")] == [last]


def _terminate(ctl: Control, pid: int) -> None:
    ctl.terminate(pid)


def test_connection_cut_inside_a_transactional_migration(
    database_url: str, tmp_path: Path, references: References
) -> None:
    code, last, output = _fault_at_gate(kc.EVENTS_CREATED, database_url, tmp_path, _terminate)

    _assert_one_clear_line(code, last, output)
    assert "002_events.up.sql:7: lost the connection while applying 002_events" in last
    assert "terminating connection due to administrator command" in last
    assert TRANSACTIONAL_LOST in last
    assert ledger_state(database_url).rows == applied(1)
    directory = tmp_path / "migrations"
    assert run_in_process(directory, database_url, "verify").code == 0
    assert run_in_process(directory, database_url, "up").code == 0
    check_at_head(directory, database_url, references)


def test_connection_cut_between_statements_of_a_no_transaction_migration(
    database_url: str, tmp_path: Path, references: References
) -> None:
    code, last, output = _fault_at_gate(kc.BETWEEN_INDEXES, database_url, tmp_path, _terminate)

    _assert_one_clear_line(code, last, output)
    assert "003_account_indexes.up.sql:4: lost the connection while applying" in last
    assert PARTIAL_LOST in last
    assert ledger_state(database_url).rows == (*applied(1, 2), partial(3, 2))
    directory = tmp_path / "migrations"
    verify = run_in_process(directory, database_url, "verify")
    assert verify.code == 1
    assert "partial: applying 003_account_indexes was interrupted" in verify.stdout
    assert run_in_process(directory, database_url, "up").code == 4
    assert run_in_process(directory, database_url, "up", "--resume").code == 0
    check_at_head(directory, database_url, references)


# -- a dedicated server that the tests restart -------------------------------------------


class RestartableServer:
    """An :class:`EphemeralServer` plus ``pg_ctl`` restarts (as its OS user). After a
    ``pg_ctl`` restart the postmaster is no longer the server object's child, so
    :meth:`close` stops it with ``pg_ctl`` before the server object cleans up."""

    def __init__(self) -> None:
        # durable commits: with the ephemeral default (synchronous_commit=off) a crash
        # may lose the last commits, ledger progress writes included
        self.server = EphemeralServer(settings={"synchronous_commit": "on"}).start()
        assert self.server.bin_dir and self.server.data_dir and self.server.log_path
        self._pg_ctl = str(self.server.bin_dir / "pg_ctl")
        self._data = str(self.server.data_dir)
        self._log = str(self.server.log_path)
        self._names = iter(range(1, 1000))

    def _as_server_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        stat = os.stat(self._data)
        return [
            "setpriv",
            f"--reuid={stat.st_uid}",
            f"--regid={stat.st_gid}",
            "--init-groups",
            "--",
        ]

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as_server_user(), self._pg_ctl, *args, "-D", self._data, "-l", self._log],
            check=True,
            capture_output=True,
            start_new_session=True,
            timeout=60,
        )

    def create_database(self) -> str:
        name = f"restart_{next(self._names)}"
        with psycopg.connect(self.server.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.server.dsn(name)

    def accepting(self) -> bool:
        try:
            psycopg.connect(self.server.dsn(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def close(self) -> None:
        try:
            if not self.server.running:
                self.pg_ctl("stop", "-m", "fast", "-w")
        except subprocess.CalledProcessError:
            pass
        finally:
            self.server.stop()


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableServer]:
    server = RestartableServer()
    try:
        yield server
    finally:
        server.close()


def test_server_restart_in_the_middle_of_a_run(
    restartable: RestartableServer, tmp_path: Path, references: References
) -> None:
    database_url = restartable.create_database()

    code, last, output = _fault_at_gate(
        kc.EVENTS_CREATED,
        database_url,
        tmp_path,
        lambda ctl, pid: restartable.pg_ctl("restart", "-m", "fast", "-w"),
    )

    _assert_one_clear_line(code, last, output)
    assert TRANSACTIONAL_LOST in last
    assert ledger_state(database_url).rows == applied(1)
    directory = tmp_path / "migrations"
    assert run_in_process(directory, database_url, "verify").code == 0
    rerun = run_in_process(directory, database_url, "up")
    assert rerun.code == 0, rerun.output
    check_at_head(directory, database_url, references)


def test_backend_crash_resets_the_server_mid_run(
    restartable: RestartableServer, tmp_path: Path, references: References
) -> None:
    """SIGKILL of a server process (what the OOM killer does) makes PostgreSQL end
    every session and recover; the runner loses its connection between two statements
    of a no-transaction migration."""
    database_url = restartable.create_database()

    def crash(ctl: Control, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    code, last, output = _fault_at_gate(kc.BETWEEN_INDEXES, database_url, tmp_path, crash)

    _assert_one_clear_line(code, last, output)
    assert PARTIAL_LOST in last
    wait_for(lambda: True if restartable.accepting() else None, "the server to recover")
    assert ledger_state(database_url).rows == (*applied(1, 2), partial(3, 2))
    directory = tmp_path / "migrations"
    assert run_in_process(directory, database_url, "verify").code == 1
    resumed = run_in_process(directory, database_url, "up", "--resume")
    assert resumed.code == 0, resumed.output
    check_at_head(directory, database_url, references)
