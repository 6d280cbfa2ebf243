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
from typing import Any

import asyncpg

from migrator.config import Settings
from migrator.db.target import ConnectTarget, parse_target
from migrator.dsn import scrub
from migrator.errors import ConnectionFailed, UsageError

#: ``application_name`` of our sessions, visible in ``pg_stat_activity``
APPLICATION_NAME = "migrate"

Connection = asyncpg.Connection


async def connect(
    target: str | Settings | ConnectTarget | None,
    *,
    timeout_ms: int | None = None,
    application_name: str = APPLICATION_NAME,
) -> asyncpg.Connection:
    """Open a connection to ``target``: a DSN, resolved :class:`Settings` (its
    ``database_url`` and ``connect_timeout``), a parsed target, or ``None`` for libpq's
    ``PG*`` variables.

    Raises :class:`ConnectionFailed` (exit code 3) with one line naming the target
    (password masked) and the cause.
    """
    if isinstance(target, Settings):
        timeout_ms = target.connect_timeout if timeout_ms is None else timeout_ms
        target = target.database_url
    parsed = target if isinstance(target, ConnectTarget) else parse_target(target)
    timeout_s = (timeout_ms or 10_000) / 1000
    arguments: dict[str, Any] = dict(parsed.keyword_arguments)
    dsn = parsed.dsn if not parsed.keyword_arguments else None
    try:
        return await asyncpg.connect(
            dsn,
            timeout=timeout_s,
            server_settings={"application_name": application_name},
            **arguments,
        )
    except Exception as exc:  # every failure becomes one line below
        raise connection_failed(parsed, exc, timeout_s) from None


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
