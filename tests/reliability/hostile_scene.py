"""The stage a hostile-input case is played on: a migrations directory whose first two
migrations are applied to a database, a URL that carries a password (so every output
can be searched for it), and the knobs a case turns: files, environment, a
``pyproject.toml``, another URL, or a run without root's permission override."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import Result
from tests.helpers_db import write_migrations
from tests.reliability.processes import MigrateProcess, run_in_process

#: a command run as a process that takes longer than this is killed (and fails)
PROCESS_TIME_LIMIT_S = 10

#: appears in every URL a case uses: it must never appear in any output
PASSWORD = "Hostile-Pw-7731@x"
#: the password as it stands in a URL (``@`` percent-encoded)
PASSWORD_IN_URL = PASSWORD.replace("@", "%40")

#: applied in the baseline database before any case runs
APPLIED = {
    "001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n",
    "001_users.down.sql": "DROP TABLE users;\n",
    "002_orders.up.sql": (
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);\n"
    ),
    "002_orders.down.sql": "DROP TABLE orders;\n",
}


@dataclass
class Scene:
    """What one case runs against; cases change it in their ``prepare`` step."""

    directory: Path
    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    #: run each command as a process without root's permission override (CAP_DAC_*)
    without_root_override: bool = False
    #: commands run as a process with a time limit (a hang fails the case, not the suite)
    in_subprocess: tuple[str, ...] = ()
    #: a URL of the same database for a role that must give a password, with a wrong one
    wrong_password_url: str = ""
    #: servers and other things a case starts; closed after the case
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.directory / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    def pyproject(self, text: str) -> None:
        (self.workdir / "pyproject.toml").write_text(text, encoding="utf-8")

    def change_file(self) -> Path:
        """A change to ``plan``: the first up file the case added, as it is (a symlink,
        a directory, an unreadable file stay what they are), else a harmless change."""
        change = self.workdir / "change.sql"
        if change.exists() or change.is_symlink():
            return change
        added = [
            path
            for path in (sorted(self.directory.iterdir()) if self.directory.is_dir() else [])
            if path.name not in APPLIED and ".down." not in path.name
        ]
        if added:
            return added[0]
        change.write_text("ALTER TABLE users ADD COLUMN name text;\n")
        return change

    def run(self, *args: str) -> Result:
        args = tuple(str(self.change_file()) if arg == "{file}" else arg for arg in args)
        if self.without_root_override or args[0] in self.in_subprocess:
            return _run_as_process(self, args)
        try:
            return run_in_process(
                self.directory,
                self.database_url,
                *args,
                env=self.env,
                cwd=self.workdir,
                patient=False,
            )
        except Exception as exc:  # what a user would see as a traceback
            return Result(-1, "", f"Traceback (uncaught {type(exc).__name__}: {exc})\n")


def _run_as_process(scene: Scene, args: tuple[str, ...]) -> Result:
    prefix: tuple[str, ...] = ()
    if scene.without_root_override and os.geteuid() == 0:
        prefix = (
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
        )
    process = MigrateProcess(
        scene.directory,
        scene.database_url,
        *args,
        workdir=scene.workdir / "runs",
        env=scene.env,
        prefix=prefix,
    )
    try:
        return process.wait(timeout=PROCESS_TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        killed = process.kill()
        return Result(
            killed.code, killed.stdout, killed.stderr + f"\n(killed after {PROCESS_TIME_LIMIT_S}s)"
        )


def new_scene(root: Path, database_url: str) -> Scene:
    """The applied migrations in a fresh directory; the URL with a password added."""
    directory = write_migrations(root / "migrations", APPLIED)
    workdir = root / "work"
    workdir.mkdir()
    user, rest = database_url.split("://", 1)[1].split("@", 1)
    return Scene(directory, f"postgresql://{user}:{PASSWORD_IN_URL}@{rest}", workdir)


# -- servers that are not PostgreSQL ------------------------------------------------------


@contextlib.contextmanager
def fake_server(reply: bytes | None) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every connection with ``reply`` and
    closes it (``None``: accepts and never answers). Yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            if reply is None:
                held.append(client)
                continue
            with contextlib.suppress(OSError):
                client.settimeout(2)
                client.recv(1024)
                client.sendall(reply)
            client.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for client in held:
            client.close()
        server.close()


def free_port() -> int:
    """A port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
