"""Where a rehearsal runs: the embedded ephemeral PostgreSQL (default), or a server the
user names, on which only a throwaway database is created and dropped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@contextlib.contextmanager
def rehearsal_server(
    server_url: str | None, *, bin_dir: Path | None = None
) -> Iterator[RehearsalServer]:
    """The embedded server (started now, removed on exit, Ctrl-C or SIGTERM) when
    ``server_url`` is ``None``; otherwise ``server_url`` itself, untouched."""
    if server_url is not None:
        yield RehearsalServer(server_url, mask_dsn(server_url))
        return
    with EphemeralServer(bin_dir) as server:
        seconds = server.startup_seconds or 0.0
        yield RehearsalServer(server.dsn(), "embedded PostgreSQL", round(seconds * 1000))
