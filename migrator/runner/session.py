"""The migrating session's own state: set up once, and put back after a migration that
may have changed it.

A migration can change its session for good: ``SET search_path`` or ``SET ROLE`` in a
transaction that commits, ``set_config(..., false)`` in a ``SELECT`` or ``DO`` block.
Without a reset, every later migration of the same run would inherit that, so the
schema a run builds would depend on how the migrations were split across runs. After
such a migration the runner resets the session (role, session authorization, every
setting) and repeats its own set-up, as Flyway restores ``search_path`` and role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:  # flows imports this module for set-up alone: keep it light
    from migrator.runner.plan import Step
    from migrator.sql.split import Statement

#: how often the server checks, during a long statement, that this client is still
#: connected (PostgreSQL 14+)
CLIENT_CHECK_INTERVAL_MS = 1000

#: statement kinds that can change the session beyond their transaction: a session
#: ``SET`` (``SET LOCAL`` cannot), and anything that runs functions or code
_MAY_CHANGE_SESSION = frozenset(
    {"VariableSetStmt", "SelectStmt", "DoStmt", "CallStmt", "ExecuteStmt", "DiscardStmt"}
)


def setup_sql(conn: asyncpg.Connection) -> str:
    """The runner's session settings. ``client_connection_check_interval``: a
    ``migrate`` process killed (SIGKILL, an OOM kill, a cancelled CI job) during a long
    ``ALTER TABLE`` would otherwise leave its statement running, and its ACCESS
    EXCLUSIVE lock queueing every reader, until the server next writes to the dead
    socket; with it (PostgreSQL 14+) the server checks the socket every second during
    a statement, rolls back and releases the locks."""
    if conn.get_server_version().major >= 14:
        return f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}"
    return ""


#: back to the role the runner logged in as (also inside a transaction block)
RESET_ROLE = "RESET SESSION AUTHORIZATION; RESET ROLE"


def reset_sql(conn: asyncpg.Connection) -> str:
    """Back to the session as the runner set it up (outside a transaction block)."""
    return "; ".join(part for part in (RESET_ROLE, "RESET ALL", setup_sql(conn)) if part)


def may_change_session(step: Step) -> bool:
    """Whether ``step`` holds a statement that can change the session for good (a
    trigger that calls ``set_config`` on plain DML is not foreseen)."""
    return any(_may_change_session(statement) for statement in step.statements)


def _may_change_session(statement: Statement) -> bool:
    if statement.tree is not None:
        kind = statement.tree.kind
        if kind not in _MAY_CHANGE_SESSION:
            return False
        fields = statement.tree.fields()
    else:
        from migrator.sql import classify

        parsed = classify.statement_node(statement.text)
        if parsed is None:
            return True
        kind, fields = parsed
    return kind in _MAY_CHANGE_SESSION and not (
        kind == "VariableSetStmt" and fields.get("is_local")
    )
