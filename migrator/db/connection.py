"""Opening a connection, and saying in one plain line why it could not be opened.

:func:`connect` maps every way a connection fails (nothing listening, unknown host,
unreachable host, wrong password, missing database, not a PostgreSQL server, no
answer in time) to :class:`~migrator.errors.ConnectionFailed` whose message names the
target with its password masked; the password is also scrubbed from anything the
server said.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable

import asyncpg

from migrator.config import Settings
from migrator.db.target import ConnectTarget, parse_target
from migrator.dsn import scrub
from migrator.durations import format_ms
from migrator.errors import ConnectionFailed, UsageError

#: ``application_name`` of our sessions, visible in ``pg_stat_activity``
APPLICATION_NAME = "migrate"

Connection = asyncpg.Connection


#: what ``on_wait`` of :func:`connect` is told, once: the target and why it is not up
WaitNotice = Callable[[str, str], None]
#: first pause between attempts while waiting for the server; it doubles up to the cap
_FIRST_PAUSE_S = 0.1
_PAUSE_CAP_S = 1.0


async def connect(
    target: str | Settings | ConnectTarget | None,
    *,
    timeout_ms: int | None = None,
    wait_ms: int | None = None,
    on_wait: WaitNotice | None = None,
    application_name: str = APPLICATION_NAME,
    session_settings: dict[str, str] | None = None,
) -> asyncpg.Connection:
    """Open a connection to ``target``: a DSN, resolved :class:`Settings` (its
    ``database_url``, ``connect_timeout`` and ``wait``), a parsed target, or ``None``
    for libpq's ``PG*`` variables.

    With ``wait_ms``, a server that is not up yet (see :func:`not_up_yet`) is tried
    again, with short growing pauses, for up to that long; ``on_wait`` is told once,
    at the first failed attempt. Anything else (a wrong password, a missing database)
    fails at once.

    ``session_settings``: settings sent at start-up; ``RESET ALL`` goes back to them
    (the runner's session reset keeps them).

    Raises :class:`ConnectionFailed` (exit code 3) with one line naming the target
    (password masked) and the cause.
    """
    if isinstance(target, Settings):
        timeout_ms = target.connect_timeout if timeout_ms is None else timeout_ms
        wait_ms = target.wait if wait_ms is None else wait_ms
        target = target.database_url
    parsed = target if isinstance(target, ConnectTarget) else parse_target(target)
    timeout_s = (timeout_ms or parsed.connect_timeout_ms or 10_000) / 1000
    dsn, arguments = parsed.driver_arguments()  # a setting it cannot honour: UsageError
    server_settings = {
        **arguments.pop("server_settings", {}),
        **(session_settings or {}),
        "application_name": application_name,
    }
    deadline = time.monotonic() + (wait_ms or 0) / 1000
    pause = _FIRST_PAUSE_S
    waited = False
    while True:
        left = deadline - time.monotonic()  # while waiting, no attempt outlasts the wait
        try:
            return await asyncpg.connect(
                dsn or None,
                timeout=min(timeout_s, left) if left > 0 else timeout_s,
                server_settings=server_settings,
                **arguments,
            )
        except Exception as exc:  # every failure becomes one line below
            remaining = deadline - time.monotonic()
            if not wait_ms or remaining <= 0 or not not_up_yet(exc):
                error = connection_failed(parsed, exc, timeout_s)
                if waited and isinstance(error, ConnectionFailed):
                    error.message += f" (gave up after waiting {format_ms(wait_ms or 0)})"
                raise error from None
            if not waited and on_wait is not None:
                cause = connection_failed(parsed, exc, timeout_s)
                on_wait(parsed.describe(), getattr(cause, "message", str(cause)))
            waited = True
        await asyncio.sleep(min(pause, max(remaining, 0)))
        pause = min(pause * 2, _PAUSE_CAP_S)


def not_up_yet(exc: BaseException) -> bool:
    """Whether a failed connection attempt looks like a server that is not up yet, and
    so may succeed if tried again: nothing listening (or no socket file yet), a host
    name that does not resolve yet (a container starting), no answer in time, or a
    server that says it is starting up. A refused password or a missing database never
    is."""
    if getattr(exc, "sqlstate", None) == "57P03":  # cannot_connect_now: starting up
        return True
    if isinstance(exc, ConnectionRefusedError | FileNotFoundError | socket.gaierror):
        return True
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return True
    return isinstance(exc, ConnectionResetError)


def connection_failed(target: ConnectTarget, exc: BaseException, timeout_s: float) -> Exception:
    """The one-line error for a failed connection attempt."""
    where = target.describe()
    secrets = target.secrets()

    def failed(cause: str, hint: str) -> ConnectionFailed:
        return ConnectionFailed(
            scrub(f"cannot connect to {where}: {cause}", secrets), hint=scrub(hint, secrets)
        )

    sqlstate = getattr(exc, "sqlstate", None)
    server_message = scrub(str(exc), secrets)
    if sqlstate == "28P01":
        return failed(
            f"password authentication failed for user {target.user!r}",
            "check the user name and password (DATABASE_URL or PGPASSWORD)",
        )
    if sqlstate == "28000":
        return failed(server_message, "check the user name and the server's pg_hba.conf")
    if sqlstate == "3D000":
        return failed(
            f"database {target.database!r} does not exist",
            "create it (createdb) or fix the database name in the URL",
        )
    if sqlstate == "57P03":
        return failed("the server is starting up or shutting down", "try again in a moment")
    if sqlstate == "53300":
        return failed(
            "the server has no free connection slots", "try again, or raise max_connections"
        )
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return failed(
            f"the server at {target.address} closed the connection during start-up",
            "is this a PostgreSQL server? check the host and port",
        )
    if sqlstate:
        return failed(server_message, "see the server's message")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return failed(
            f"no answer from {target.address} within {timeout_s:g}s",
            "check the host, port and firewall, or raise connect-timeout",
        )
    if isinstance(exc, socket.gaierror):
        return failed(f"unknown host {target.host!r}", "check the host name in the URL (a typo?)")
    if isinstance(exc, ConnectionRefusedError):
        return failed(
            f"nothing is listening on {target.address}",
            "is PostgreSQL running? check the host and port",
        )
    if isinstance(exc, FileNotFoundError):
        return failed(
            f"no PostgreSQL socket in {target.host} for port {target.port or 5432}",
            "is PostgreSQL running? check the host (socket directory) and port",
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return failed(f"host {target.host!r} is unreachable", "check the host and the network")
    if isinstance(exc, ConnectionError) and "SSL" in str(exc):
        if target.sslmode in ("require", "verify-ca", "verify-full"):
            return failed(
                f"the server at {target.address} does not accept SSL",
                f"the URL asks for sslmode={target.sslmode}; enable SSL on the server "
                "or use sslmode=prefer",
            )
        return failed(
            f"the server at {target.address} does not speak the PostgreSQL protocol",
            "check the port: is this PostgreSQL?",
        )
    if isinstance(exc, ConnectionError):
        return failed(
            f"the server at {target.address} closed the connection during start-up",
            "is this a PostgreSQL server? check the host and port",
        )
    if isinstance(exc, asyncpg.ClientConfigurationError | asyncpg.InterfaceError):
        return UsageError(
            scrub(f"invalid connection settings for {where}: {exc}", secrets),
            hint="fix --database-url / DATABASE_URL",
        )
    if isinstance(exc, OSError):
        return failed(scrub(exc.strerror or str(exc), secrets), "check the host and port")
    return failed(server_message or type(exc).__name__, "check the connection settings")
