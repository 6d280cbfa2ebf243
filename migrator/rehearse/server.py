"""Where a rehearsal runs: the embedded ephemeral PostgreSQL (default), or a server the
user names, on which only a throwaway database is created and dropped."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from migrator.dsn import mask_dsn
from migrator.ephemeral import EphemeralServer


@dataclass(frozen=True)
class RehearsalServer:
    #: a DSN of a database on the server that may create and drop databases
    admin_dsn: str
    #: for reports: "embedded PostgreSQL" or the masked URL
    description: str
    #: start-to-ready of the embedded server, in milliseconds
    start_ms: int | None = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Whatever Ctrl-C would do now: under ``asyncio.run``, cancel the main task (its
    ``finally`` blocks drop the throwaway database), else raise KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """CI systems cancel a job with SIGTERM: treat it as Ctrl-C (exit 130, cleanup)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def rehearsal_server(
    server_url: str | None, *, bin_dir: Path | None = None
) -> Iterator[RehearsalServer]:
    """The embedded server (started now, removed on exit, Ctrl-C or SIGTERM) when
    ``server_url`` is ``None``; otherwise ``server_url`` itself, untouched (SIGTERM then
    acts as Ctrl-C, so the throwaway database is dropped there too)."""
    if server_url is not None:
        with _sigterm_as_ctrl_c():
            yield RehearsalServer(server_url, mask_dsn(server_url))
        return
    with EphemeralServer(bin_dir) as server:
        seconds = server.startup_seconds or 0.0
        yield RehearsalServer(server.dsn(), "embedded PostgreSQL", round(seconds * 1000))
