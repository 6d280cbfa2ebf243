"""Turning what the server said into one line a user can act on."""

from __future__ import annotations

import asyncpg

from migrator.runner.retry import LOCK_NOT_AVAILABLE

#: SQLSTATE classes / codes meaning the session is gone (server restart, kill, network)
_CONNECTION_CLASSES = ("08", "57P")


def is_lock_timeout(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE


def is_connection_loss(exc: BaseException) -> bool:
    """The connection is unusable: the server went away or the network broke. asyncpg
    raises :class:`~asyncpg.InternalClientError` for a query sent after the server's
    FATAL (``pg_terminate_backend``) arrived on an idle connection and before its
    socket closed: the same loss, seen a moment earlier."""
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = exc.sqlstate or ""
        return sqlstate.startswith(_CONNECTION_CLASSES) and sqlstate != "57014"
    return isinstance(
        exc,
        (
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
        ),
    )


def server_message(exc: BaseException) -> str:
    """The server's message with its detail and hint, on one line."""
    if isinstance(exc, asyncpg.InternalClientError):  # see is_connection_loss
        return "the server ended the session (pg_terminate_backend, a restart)"
    parts = [" ".join(str(getattr(exc, "message", None) or exc).split())]
    detail = getattr(exc, "detail", None)
    if detail:
        parts.append(f"DETAIL: {' '.join(str(detail).split())}")
    hint = getattr(exc, "hint", None)
    if hint:
        parts.append(f"HINT: {' '.join(str(hint).split())}")
    sqlstate = getattr(exc, "sqlstate", None)
    text = "; ".join(parts)
    return f"{text} [SQLSTATE {sqlstate}]" if sqlstate else text
