"""``--wait``: keep trying to connect while the server is not up yet (a database
container still starting), and fail at once on what waiting cannot fix."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from tests.helpers import start_cli
from tests.runner.conftest import USERS, Project


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{port}"))


@contextmanager
def _proxy(
    listen_port: int,
    target_port: int,
    after_s: float,
    not_before: threading.Event | None = None,
) -> Iterator[None]:
    """After ``after_s`` seconds (counted from ``not_before`` being set, if given),
    forward 127.0.0.1:``listen_port`` to the real server (until then nothing listens
    there, as while a database container starts)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def serve() -> None:
        while not_before is not None and not not_before.is_set():
            await asyncio.sleep(0.02)
        await asyncio.sleep(after_s)
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        started.set()
        async with server:
            await server.serve_forever()

    task = loop.create_task(serve())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
        assert started.is_set(), "the proxy never started"


def test_up_waits_for_a_server_that_comes_up_late(project: Project) -> None:
    project.write(USERS)
    port = _free_port()
    late_url = _with_port(project.database_url, port)
    real_port = urlsplit(project.database_url).port
    assert real_port is not None

    told = threading.Event()  # the port opens once migrate has said it waits
    with _proxy(port, real_port, after_s=0.3, not_before=told):
        process = start_cli(
            "--dir", str(project.directory), "--database-url", late_url, "up", "--wait", "60s"
        )
        assert process.stderr is not None
        first_line = process.stderr.readline()
        told.set()
        stdout, stderr = process.communicate(timeout=120)
    stderr = first_line + stderr

    assert process.returncode == 0, stderr
    assert stderr.count("waiting up to 60s for the database at postgresql://") == 1
    assert f"nothing is listening on 127.0.0.1:{port}" in stderr
    assert "applied 2 migrations" in stdout
    assert project.ledger() == [(1, "applied", 1), (2, "applied", 2)]


def test_waiting_gives_up_with_one_line_after_the_wait(project: Project) -> None:
    project.write(USERS)
    dead = _with_port(project.database_url, _free_port())
    began = time.monotonic()

    result = project.migrate("status", env={"MIGRATOR_WAIT": "1s"}, url=dead)

    assert result.code == 3
    assert time.monotonic() - began >= 1  # it did wait (no upper bound asserted)
    assert result.stderr.count("waiting up to 1s for the database") == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot connect to postgresql://")
    assert "nothing is listening" in last and "(gave up after waiting 1s)" in last


def test_what_waiting_cannot_fix_fails_at_once(project: Project) -> None:
    project.write(USERS)
    missing = project.database_url.rsplit("/", 1)[0] + "/no_such_database"

    result = project.migrate("up", "--wait", "10min", url=missing)

    assert result.code == 3
    assert "waiting" not in result.stderr
    assert "database 'no_such_database' does not exist" in result.stderr


def test_lint_and_dry_run_with_a_database_wait_too(project: Project) -> None:
    project.write(USERS)
    dead = _with_port(project.database_url, _free_port())

    for command in (["lint"], ["dry-run", "--database-url", dead]):
        result = project.migrate("--wait", "1s", *command, url=dead)

        assert result.code == 3, (command, result.output)
        assert "(gave up after waiting 1s)" in result.stderr.strip().splitlines()[-1]
