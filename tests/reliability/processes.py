"""``migrate`` as a real operating-system process (``python -m migrator``), so it can be
killed with SIGKILL, restarted under, and raced against fifteen others."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.helpers import Result, run_cli

REPO = Path(__file__).resolve().parents[2]

#: settings for runs that wait at a gate: no lock_timeout fires while a test holds one
PATIENT = {
    "MIGRATOR_LOCK_TIMEOUT": "60s",
    "MIGRATOR_LOCK_WAIT": "60s",
    "MIGRATOR_RETRY_DELAY": "40ms",
    "MIGRATOR_RETRY_MAX_DELAY": "200ms",
}


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any migrator or libpq setting, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MIGRATOR_", "PG")) and key != "DATABASE_URL"
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


class MigrateProcess:
    """One ``migrate --dir DIR --database-url URL ARGS`` process, output kept in files
    (a pipe nobody reads could block it)."""

    def __init__(
        self,
        directory: Path,
        database_url: str,
        *args: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        prefix: tuple[str, ...] = (),
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        index = len(list(workdir.glob("*.stdout")))
        self._stdout_path = workdir / f"{index}.stdout"
        self._stderr_path = workdir / f"{index}.stderr"
        command = [
            *prefix,
            sys.executable,
            "-m",
            "migrator",
            "--dir",
            str(directory),
            "--database-url",
            database_url,
            *args,
        ]
        with self._stdout_path.open("wb") as out, self._stderr_path.open("wb") as err:
            self._process = subprocess.Popen(
                command, stdout=out, stderr=err, env=clean_environment(env), cwd=workdir
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def kill(self) -> Result:
        """SIGKILL: no handler runs, no ledger write, the socket just closes."""
        if self.running():
            os.kill(self._process.pid, signal.SIGKILL)
        return self.wait()

    def wait(self, timeout: float = 120) -> Result:
        code = self._process.wait(timeout=timeout)
        return Result(
            code,
            self._stdout_path.read_text(errors="replace"),
            self._stderr_path.read_text(errors="replace"),
        )

    def describe(self) -> str:
        """Exit status and output so far (for assertion messages)."""
        return (
            f"returncode={self._process.poll()} stdout={self._stdout_path.read_text()!r} "
            f"stderr={self._stderr_path.read_text()!r}"
        )


def run_in_process(
    directory: Path,
    database_url: str,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    patient: bool = True,
) -> Result:
    """``migrate --dir DIR --database-url URL ARGS`` in this process (fast; for the
    steps around a fault, not the faulted run itself). ``patient``: with the long lock
    waits of :data:`PATIENT` (else only ``env``)."""
    environment: dict[str, str | None] = {
        key: None for key in os.environ if key.startswith(("MIGRATOR_", "PG"))
    }
    environment.update({"DATABASE_URL": None, **(PATIENT if patient else {}), **(env or {})})
    return run_cli(
        "--dir",
        str(directory),
        "--database-url",
        database_url,
        *args,
        env=environment,
        cwd=cwd or directory.parent,
    )
