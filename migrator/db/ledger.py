"""The ledger: which versions are applied (one row each) plus an append-only history.

Two tables, both named from configuration and always quoted:

- ``<schema>.<table>`` (default ``public.migrator_ledger``): one row per version that
  is applied, or whose no-transaction run stopped part-way (``failed``/``partial``).
- ``<schema>.<table>_history``: one row per event (``up``, ``down``, ``baseline``,
  ``repair``, ``failure``), never updated or deleted.

The names differ from dbmate's and golang-migrate's ``schema_migrations`` so the tools
can share a database during a move. Writes that belong to a migration are issued on
the migration's own connection, inside its transaction when it has one, so a
migration and its ledger row commit or roll back together.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import re
import socket
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg

from migrator.config import Settings
from migrator.db.quoting import quote_ident, quote_qualified, sql_literal
from migrator.db.records import Direction, HistoryEntry, LedgerEntry, ProgressStep
from migrator.errors import LedgerConflict, RefusedState, UsageError
from migrator.source.model import Migration, MigrationFile

_ENTRY_COLUMNS = (
    "version, name, up_checksum, down_checksum, applied_at, applied_by, duration_ms, "
    "transactional, phase, state, direction, statements_done, statements_total, error, "
    "progress"
)
_HISTORY_COLUMNS = "id, version, name, action, checksum, at, by_whom, duration_ms, detail"
#: who ran it: the database role plus the OS user and host of the client
_BY = "current_user || ' via ' || {param}"
#: parameter types of :meth:`Ledger.applied_statement` and :meth:`Ledger.reverted_statement`
_APPLIED_TYPES = ("numeric", "text", "text", "text", "text", "integer", "boolean", "text",
                  "integer", "text", "text")  # fmt: skip
_REVERTED_TYPES = ("numeric", "text", "text", "text", "text", "integer", "text")
#: both statements take the duration as ``$6``
_DURATION_PARAMETER = 5
#: the duration of a migration that runs in one transaction, as the server measures it
#: when the ledger row is written: from the transaction's start (its ``BEGIN``) to now
MS_SINCE_TRANSACTION_START = "round(1000 * extract(epoch FROM clock_timestamp() - now()))::integer"
#: the duration of a migration sent in a string with others, where ``now()`` will not
#: do: the server takes a transaction's start time from the arrival of the query string
#: it began in, so every transaction of one string shares it. The write then measures
#: it itself, from the later of ``now()`` and the previous history row (the previous
#: migration of the string wrote it just before its ``COMMIT``): a cheap index read,
#: where a clock set at each ``BEGIN`` cost 0.08 ms per migration
MS_SINCE_PREVIOUS_WRITE = "NULL"
#: SQLSTATE ``invalid_sql_statement_name``: a prepared statement does not exist
_NO_SUCH_PREPARED_STATEMENT = "26000"
#: how :meth:`Ledger.check_sql` fails: the name of a statement a migration prepared,
#: after this text, cast to an integer (SQLSTATE ``invalid_text_representation``)
_LEFT_PREPARED = "migrator: a migration left a prepared statement: "
_INVALID_TEXT_REPRESENTATION = "22P02"
_INSUFFICIENT_PRIVILEGE = "42501"
#: a parameter (``$1``) in the SQL of a ledger write, or a quoted identifier (the
#: ledger's names), matched whole so that a ``$`` inside one is left alone
_PARAMETER = re.compile(r'"(?:[^"]|"")*"|\$(\d+)')


@dataclass(frozen=True)
class _PreparedWrite:
    """A ledger write (or the check of :attr:`Ledger.check_sql`) as a session-level
    prepared statement."""

    kind: str
    sql: str
    types: tuple[str, ...]
    #: the name, when the SQL holds it (otherwise made from a digest of the SQL)
    given_name: str = ""

    @cached_property
    def name(self) -> str:
        """``migrator_<kind>_<digest of the SQL>``: one name always means one statement."""
        if self.given_name:
            return self.given_name
        digest = hashlib.sha256(f"{self.sql}{self.types}".encode()).hexdigest()[:16]
        return f"migrator_{self.kind}_{digest}"

    @property
    def prepare_sql(self) -> str:
        parameters = f" ({', '.join(self.types)})" if self.types else ""
        return f"PREPARE {self.name}{parameters} AS {self.sql}"

    def execute_sql(
        self, parameters: tuple[object, ...], duration_sql: str, *, prepared: bool
    ) -> str:
        """``EXECUTE name(constants)`` (``prepared``) or the statement with its
        parameters replaced by constants, in one pass; the duration by an expression."""
        # the parameters are the str / int / bool / None values the Ledger builds
        arguments = [sql_literal(value) for value in parameters]  # type: ignore[arg-type]
        arguments[_DURATION_PARAMETER] = duration_sql
        if prepared:
            return f"EXECUTE {self.name}({', '.join(arguments)})"
        return _PARAMETER.sub(
            lambda found: arguments[int(found[1]) - 1] if found[1] else found[0], self.sql
        )


@dataclass(frozen=True)
class HistoryMark:
    """One history row, as :meth:`Ledger.history_since` returns it."""

    id: int
    version: int
    action: str
    duration_ms: int | None


def client_identity() -> str:
    """``osuser@host`` of this process, recorded with every ledger write."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Ledger:
    """The two ledger tables of one database, named by ``schema`` and ``table``."""

    def __init__(self, schema: str = "public", table: str = "migrator_ledger") -> None:
        self.schema = schema
        self.table = table
        self.history_table = f"{table}_history"
        #: quoted ``"schema"."table"`` for SQL
        self.sql_name = quote_qualified(schema, table)
        self.history_sql_name = quote_qualified(schema, self.history_table)
        self.client = client_identity()
        self._writes = {
            "applied": _PreparedWrite("applied", self._applied_sql(), _APPLIED_TYPES),
            # a Flyway repeatable that changed: its row is replaced, once per change
            "reapplied": _PreparedWrite(
                "reapplied", self._applied_sql(repeating=True), _APPLIED_TYPES
            ),
            "reverted": _PreparedWrite("reverted", self._reverted_sql(), _REVERTED_TYPES),
        }
        self._check = self._prepared_check()
        #: sessions on which :meth:`prepare_writes` prepared the two ledger writes
        self._prepared: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()
        #: sessions that lost them (see :meth:`prepare_writes`)
        self._lost: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        return cls(settings.ledger_schema, settings.ledger_table)

    @property
    def prepared_names(self) -> tuple[str, ...]:
        """The names of the statements :meth:`prepare_writes` prepares on a session: the
        ledger writes and the check of :attr:`check_sql` (the session reset keeps them)."""
        return (*(write.name for write in self._writes.values()), self._check.name)

    def _prepared_check(self) -> _PreparedWrite:
        """A query that fails (SQLSTATE 22P02, naming it) while the session holds a
        statement prepared with SQL ``PREPARE`` other than the ledger's writes and
        itself. It names itself, so its name is a digest of its text without it."""

        def check_sql(own_name: str) -> str:
            kept = [*(write.name for write in self._writes.values()), own_name]
            return (
                f"SELECT ({sql_literal(_LEFT_PREPARED)} || name)::integer "
                "FROM pg_catalog.pg_prepared_statements WHERE from_sql AND name <> ALL "
                f"(ARRAY[{', '.join(sql_literal(name) for name in kept)}]::text[])"
            )

        digest = hashlib.sha256(check_sql("").encode()).hexdigest()[:16]
        name = f"migrator_check_{digest}"
        return _PreparedWrite("check", check_sql(name), (), name)

    @property
    def check_sql(self) -> str:
        """``EXECUTE`` of the check :meth:`prepare_writes` prepares: at the start of a
        migration, it stops the string (the migration's transaction, before anything of
        it ran) when the one before left a prepared statement, which the session reset
        in a string does not drop (a ``DO`` block reading the prepared statements, 0.1
        ms per migration, runs at the end of each string instead). The runner then puts
        the session back (:func:`~migrator.runner.session.reset`) and runs the
        migration on its own (:meth:`left_prepared`)."""
        return f"EXECUTE {self._check.name}"

    def left_prepared(self, error: BaseException) -> bool:
        """Whether ``error`` is the check of :attr:`check_sql` failing."""
        message = str(getattr(error, "message", None) or error)
        return (
            getattr(error, "sqlstate", None) == _INVALID_TEXT_REPRESENTATION
            and f'"{_LEFT_PREPARED}' in message
        )

    @property
    def display_name(self) -> str:
        """``schema.table`` for messages."""
        return f"{self.schema}.{self.table}"

    @property
    def lock_key(self) -> int:
        """The advisory-lock key of this ledger: a signed 64-bit hash of its quoted
        qualified name, so runners on different ledgers never wait for each other."""
        digest = hashlib.sha256(f"migrator ledger {self.sql_name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    # -- creation and reading ----------------------------------------------------------

    async def exists(self, conn: asyncpg.Connection) -> bool:
        found = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self.sql_name)
        return bool(found)

    def create_sql(self) -> str:
        """The DDL that creates both tables (idempotent)."""
        ledger, history = self.sql_name, self.history_sql_name
        return f"""
CREATE TABLE IF NOT EXISTS {ledger} (
    version          numeric PRIMARY KEY CHECK (version >= 0 AND scale(version) = 0),
    name             text NOT NULL,
    up_checksum      text NOT NULL,
    down_checksum    text,
    applied_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by       text NOT NULL DEFAULT current_user,
    duration_ms      integer,
    transactional    boolean NOT NULL,
    phase            text,
    state            text NOT NULL CHECK (state IN ('applied', 'failed', 'partial')),
    direction        text NOT NULL DEFAULT 'up' CHECK (direction IN ('up', 'down')),
    statements_done  integer NOT NULL DEFAULT 0,
    statements_total integer,
    error            text,
    progress         jsonb
);
CREATE TABLE IF NOT EXISTS {history} (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version     numeric NOT NULL,
    name        text NOT NULL,
    action      text NOT NULL
                CHECK (action IN ('up', 'down', 'baseline', 'repair', 'failure')),
    checksum    text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    by_whom     text NOT NULL DEFAULT current_user,
    duration_ms integer,
    detail      text
);
COMMENT ON TABLE {ledger} IS 'migrator: applied migrations (one row per version)';
COMMENT ON TABLE {history} IS 'migrator: append-only history of the ledger';
"""

    async def ensure(self, conn: asyncpg.Connection) -> None:
        """Create the schema and both tables unless they exist.

        Safe when several processes do it at once: ``CREATE ... IF NOT EXISTS`` can
        still collide on the catalog's unique indexes when two sessions create the
        same table concurrently; the loser retries and then finds the table.
        """
        if await self.exists(conn):
            return
        for attempt in range(3):
            try:
                async with conn.transaction():
                    schema_exists = await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                        self.schema,
                    )
                    if not schema_exists:
                        await conn.execute(
                            f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}"
                        )
                    await conn.execute(self.create_sql())
                return
            except (
                asyncpg.UniqueViolationError,
                asyncpg.DuplicateObjectError,
                asyncpg.DuplicateTableError,
                asyncpg.DuplicateSchemaError,
            ):
                if attempt == 2:
                    raise

    async def entries(self, conn: asyncpg.Connection) -> dict[int, LedgerEntry]:
        """Every ledger row by version (empty when the ledger does not exist yet).

        One round trip: the rows are asked for directly and a missing table or schema
        means an empty ledger. Inside a transaction block, where a failed statement
        would abort the caller's transaction, the table is looked up first."""
        if conn.is_in_transaction() and not await self.exists(conn):
            return {}
        try:
            rows = await conn.fetch(
                f"SELECT {_ENTRY_COLUMNS}, to_regclass($1) IS NULL AS history_missing "
                f"FROM {self.sql_name} ORDER BY version",
                self.history_sql_name,
            )
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            return {}
        except asyncpg.UndefinedColumnError as exc:
            raise UsageError(
                f"table {self.display_name} exists but is not a migrator ledger "
                f"({' '.join(str(exc).split())})",
                hint="if it is the ledger, a column was dropped outside migrator: restore "
                "it from a backup; otherwise set ledger-schema / ledger-table (or "
                "MIGRATOR_LEDGER_TABLE) to a name no other tool uses",
            ) from None
        if rows and rows[0]["history_missing"]:
            raise RefusedState(
                f"the ledger {self.display_name} has rows but its history table "
                f"{self.schema}.{self.history_table} is gone (dropped or renamed outside "
                "migrator)",
                hint="restore the history table from a backup (or rename it back); "
                "migrator needs it to record each run",
            )
        fractions = [f"{row['version']} ({row['name']})" for row in rows if row["version"] % 1]
        if fractions:
            raise RefusedState(
                f"the ledger {self.display_name} has a version that is not a whole number: "
                f"{', '.join(fractions)} (its check was dropped outside migrator)",
                hint="correct or delete that row by hand, then restore the check: ALTER TABLE "
                f"{self.sql_name} ADD CHECK (version >= 0 AND scale(version) = 0)",
            )
        entries = {int(row["version"]): _entry(row) for row in rows}
        if len(entries) < len(rows):
            seen = Counter(int(row["version"]) for row in rows)
            repeated = [entries[version].name for version, count in seen.items() if count > 1]
            raise RefusedState(
                f"the ledger {self.display_name} has more than one row for the migration "
                f"{', '.join(repeated)} (its primary key was dropped outside migrator)",
                hint="delete the extra rows by hand, then restore the key: ALTER TABLE "
                f"{self.sql_name} ADD PRIMARY KEY (version)",
            )
        return entries

    async def baselined_versions(self, conn: asyncpg.Connection) -> frozenset[int]:
        """Versions whose last application was a ``baseline`` (recorded, never run)."""
        if not await self.exists(conn):
            return frozenset()
        rows = await conn.fetch(
            f"SELECT version FROM (SELECT DISTINCT ON (version) version, action "
            f"FROM {self.history_sql_name} WHERE action IN ('up', 'baseline') "
            "ORDER BY version, id DESC) AS last WHERE action = 'baseline'"
        )
        return frozenset(int(row["version"]) for row in rows)

    async def history(self, conn: asyncpg.Connection) -> list[HistoryEntry]:
        """The whole history, oldest first (empty when the ledger does not exist)."""
        if not await self.exists(conn):
            return []
        rows = await conn.fetch(
            f"SELECT {_HISTORY_COLUMNS} FROM {self.history_sql_name} ORDER BY id"
        )
        return [
            HistoryEntry(
                id=row["id"],
                version=int(row["version"]),
                name=row["name"],
                action=row["action"],
                checksum=row["checksum"],
                at=row["at"],
                by=row["by_whom"],
                duration_ms=row["duration_ms"],
                detail=row["detail"],
            )
            for row in rows
        ]

    # -- writes that belong to running a migration ------------------------------------

    def _duration_cte(self) -> str:
        """``d(ms)``: the duration ``$6``, or when it is NULL the time since the later of
        the transaction's start and the newest history row (see
        :data:`MS_SINCE_PREVIOUS_WRITE`); computed once for both rows."""
        newest = f"(SELECT h.at FROM {self.history_sql_name} AS h ORDER BY h.id DESC LIMIT 1)"
        since = f"clock_timestamp() - greatest(now(), {newest})"
        return (
            f"d AS (SELECT coalesce($6, greatest(0, round(1000 * extract(epoch FROM {since}))"
            ")::integer) AS ms)"
        )

    def _applied_sql(self, *, completing: bool = False, repeating: bool = False) -> str:
        """Insert the row of an applied version and log it, in one statement. A row
        already there is a unique violation (SQLSTATE 23505 on the ledger table): the
        ledger refuses to record a version twice. ``completing``: the row of this
        run's own no-transaction (or backfill) run, ``partial`` or ``failed``, becomes
        ``applied``. ``repeating``: a Flyway repeatable migration run again because its
        checksum changed replaces its ``applied`` row (only a row with another checksum:
        the same change is not recorded twice). When the row is left alone (already
        ``applied``, already at this checksum), the history row's ``name`` comes out NULL,
        which its NOT NULL refuses (SQLSTATE 23502 on the history table,
        :meth:`conflict`): the write fails, so the transaction it is in (the migration
        that ran again) rolls back; none of the ledger's writes can succeed without
        recording something."""
        update = """ON CONFLICT (version) DO UPDATE SET
        name = EXCLUDED.name, up_checksum = EXCLUDED.up_checksum,
        down_checksum = EXCLUDED.down_checksum, applied_at = EXCLUDED.applied_at,
        applied_by = EXCLUDED.applied_by, duration_ms = EXCLUDED.duration_ms,
        transactional = EXCLUDED.transactional, phase = EXCLUDED.phase,
        state = 'applied', direction = 'up', statements_done = EXCLUDED.statements_done,
        statements_total = EXCLUDED.statements_total, error = NULL"""
        if repeating:
            changed = "l.up_checksum <> EXCLUDED.up_checksum OR l.state <> 'applied'"
            conflict = f"{update}\n        WHERE {changed}"
        elif completing:
            conflict = f"{update}\n        WHERE l.state <> 'applied'"
        else:
            conflict = ""
        return f"""
WITH {self._duration_cte()}, entry AS (
    INSERT INTO {self.sql_name} AS l
        (version, name, up_checksum, down_checksum, applied_at, applied_by, duration_ms,
         transactional, phase, state, direction, statements_done, statements_total, error)
    SELECT $1, $2, $3, $4, clock_timestamp(), {_BY.format(param="$5")}, d.ms, $7, $8,
           'applied', 'up', $9, $9, NULL FROM d
    {conflict}
    RETURNING 1
)
INSERT INTO {self.history_sql_name} (version, name, action, checksum, by_whom, duration_ms,
                                     detail)
SELECT $1, (SELECT $2 FROM entry), $10, $3, {_BY.format(param="$5")}, d.ms, $11 FROM d
"""

    def _reverted_sql(self) -> str:
        """Delete the row of a reverted version and log it, in one statement. No row to
        delete (another runner reverted it) is an error: the history row's ``name``
        then comes out NULL, which its NOT NULL refuses (SQLSTATE 23502 on the history
        table, :meth:`conflict`), so the revert's transaction rolls back."""
        return f"""
WITH gone AS (DELETE FROM {self.sql_name} WHERE version = $1 RETURNING name),
{self._duration_cte()}
INSERT INTO {self.history_sql_name} (version, name, action, checksum, by_whom, duration_ms,
                                     detail)
SELECT $1, (SELECT $2 FROM gone), $3, $4, {_BY.format(param="$5")}, d.ms, $7 FROM d
"""

    def applied_statement(
        self,
        migration: Migration,
        *,
        duration_ms: int | None,
        action: str = "up",
        detail: str | None = None,
    ) -> tuple[str, tuple[object, ...]]:
        """SQL and parameters that mark ``migration`` applied (insert or complete its
        row) and log ``action``, in one statement."""
        up = migration.up
        return self._applied_write(migration).sql, (
            migration.version,
            migration.name,
            up.checksum,
            migration.down.checksum if migration.down else None,
            self.client,
            duration_ms,
            up.transactional,
            migration.phase,
            len(up.statements),
            action,
            detail,
        )

    def _applied_write(self, migration: Migration) -> _PreparedWrite:
        return self._writes["reapplied" if migration.repeatable else "applied"]

    def reverted_statement(
        self,
        migration: Migration,
        *,
        duration_ms: int | None,
        action: str = "down",
        detail: str | None = None,
    ) -> tuple[str, tuple[object, ...]]:
        """SQL and parameters that remove ``migration``'s row (it is no longer applied)
        and log ``action``, in one statement."""
        return self._writes["reverted"].sql, (
            migration.version,
            migration.name,
            action,
            migration.down.checksum if migration.down else None,
            self.client,
            duration_ms,
            detail,
        )

    # -- the same two writes, prepared once per session ----------------------------------

    async def prepare_writes(self, conn: asyncpg.Connection) -> None:
        """``PREPARE`` the applied and reverted writes on this session (once; the
        ledger tables must exist). The executor then sends ``EXECUTE`` of one of them
        in the same string as a migration's last statement and its ``COMMIT``: one
        round trip per migration, and the server parses and plans the write once per
        session. Call it outside a transaction block.

        After a migration dropped the session's prepared statements (``DEALLOCATE
        ALL``, ``DISCARD``), asyncpg's own statement cache is stale too: it is dropped
        here first, so the runner's next query prepares afresh."""
        if conn in self._prepared:
            return
        if conn in self._lost:
            await conn.reload_schema_state()
            self._lost.discard(conn)
        statements = [write.prepare_sql for write in (*self._writes.values(), self._check)]
        try:
            await conn.execute(";\n".join(statements))
        except asyncpg.DuplicatePreparedStatementError:
            # another Ledger object for the same tables prepared (some of) them on this
            # session: the same statements, since each name carries a digest of its SQL
            for statement in statements:
                with contextlib.suppress(asyncpg.DuplicatePreparedStatementError):
                    await conn.execute(statement)
        self._prepared.add(conn)

    def is_prepared(self, conn: asyncpg.Connection) -> bool:
        """Whether :meth:`prepare_writes` ran on this session."""
        return conn in self._prepared

    def write_sql(
        self,
        migration: Migration,
        direction: Direction,
        *,
        duration_sql: str,
        prepared: bool,
        completing: bool = False,
    ) -> str:
        """The write that marks ``migration`` applied (``up``, as :meth:`record_applied`)
        or removes its row (``down``, as :meth:`record_reverted`) as SQL text, to send in
        one string with a migration's statements. The values are constants in the text
        (:func:`~migrator.db.quoting.sql_literal`); the duration is ``duration_sql``, an
        SQL expression such as :data:`MS_SINCE_TRANSACTION_START`. ``prepared``: an
        ``EXECUTE`` of the write :meth:`prepare_writes` prepared on the session;
        otherwise the statement itself. ``completing`` (``up``, not prepared): the row of
        this run's own unfinished run becomes ``applied`` (the last segment of a file
        with commit points, see :meth:`record_applied`)."""
        if direction == "up":
            write, (_, parameters) = (
                self._applied_write(migration),
                self.applied_statement(migration, duration_ms=None),
            )
            if completing:
                write = _PreparedWrite("completed", self._applied_sql(completing=True),
                                       _APPLIED_TYPES)  # fmt: skip
                prepared = False
        else:
            write, (_, parameters) = (
                self._writes["reverted"],
                self.reverted_statement(migration, duration_ms=None),
            )
        return write.execute_sql(parameters, duration_sql, prepared=prepared)

    def raised(self, error: BaseException, conn: asyncpg.Connection | None = None) -> bool:
        """Whether a server error came from writing the ledger rather than from a
        migration's own statement, judged by what it names: one of the ledger tables
        (a constraint, a missing privilege) or one of the prepared writes (see
        :meth:`lost_prepared_write`)."""
        if self.lost_prepared_write(error, conn) or self.left_prepared(error):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        message = str(getattr(error, "message", None) or error)
        tables = (self.table, self.history_table)
        if getattr(error, "schema_name", None) == self.schema and (
            getattr(error, "table_name", None) in tables
        ):
            return True
        return sqlstate == _INSUFFICIENT_PRIVILEGE and message.endswith(
            tuple(f" {table}" for table in tables)
        )

    def named_in(self, error: BaseException) -> bool:
        """Whether the server's message names one of the ledger tables (``relation
        "public.migrator_ledger" does not exist``)."""
        message = str(getattr(error, "message", None) or error)
        return any(
            f'"{name}"' in message or f'"{self.schema}.{name}"' in message
            for name in (self.table, self.history_table)
        )

    def conflict(
        self, error: BaseException, version: int, direction: Direction
    ) -> LedgerConflict | None:
        """The error to raise when ``error`` is the ledger refusing to record
        ``version`` twice: its row is already there (``up``, a unique violation) or
        already gone (``down``, see :meth:`_reverted_sql`). The migration's
        transaction rolled back with the refused write."""
        sqlstate = getattr(error, "sqlstate", None)
        table = getattr(error, "table_name", None)
        if getattr(error, "schema_name", None) != self.schema:
            return None
        nothing_recorded = (
            sqlstate == "23502"
            and table == self.history_table
            and getattr(error, "column_name", None) == "name"
        )
        if direction == "up" and (
            (sqlstate == "23505" and table == self.table) or nothing_recorded
        ):
            happened = f"is already recorded as applied in the ledger {self.display_name}"
        elif direction == "down" and nothing_recorded:
            happened = f"is no longer in the ledger {self.display_name} (already reverted)"
        else:
            return None
        return LedgerConflict(
            f"version {version} {happened}: another runner got there first; this run's "
            "transaction for it rolled back, so it did not run twice",
            hint="see `migrate status`; two runners should not share a ledger without "
            "the migration lock (is something ending the lock's session?)",
        )

    def lost_prepared_write(
        self, error: BaseException, conn: asyncpg.Connection | None = None
    ) -> bool:
        """Whether ``error`` says a prepared write is gone from the session (a migration
        ran ``DEALLOCATE ALL`` or ``DISCARD``); ``conn`` then counts as unprepared."""
        message = str(getattr(error, "message", None) or error)
        lost = getattr(error, "sqlstate", None) == _NO_SUCH_PREPARED_STATEMENT and any(
            name in message for name in self.prepared_names
        )
        if lost and conn is not None:
            self._prepared.discard(conn)
            self._lost.add(conn)
        return lost

    async def record_applied(
        self,
        conn: asyncpg.Connection,
        migration: Migration,
        *,
        duration_ms: int | None,
        action: str = "up",
        detail: str | None = None,
    ) -> None:
        """Mark ``migration`` applied and log ``action`` (see :meth:`applied_statement`):
        insert its row, or complete the ``partial``/``failed`` row of its no-transaction
        run; raise :class:`LedgerConflict` when it is already applied."""
        _, parameters = self.applied_statement(
            migration, duration_ms=duration_ms, action=action, detail=detail
        )
        sql = self._applied_sql(completing=not migration.repeatable, repeating=migration.repeatable)
        try:
            await conn.execute(sql, *parameters)
        except asyncpg.NotNullViolationError as exc:
            if self.conflict(exc, migration.version, "up") is None:
                raise
            raise LedgerConflict(
                f"version {migration.shown_version} ({migration.name}) is already recorded as "
                f"applied in the ledger {self.display_name}; not recording it twice",
                hint="another runner applied it at the same time: see `migrate status`",
            ) from None

    async def record_reverted(
        self,
        conn: asyncpg.Connection,
        migration: Migration,
        *,
        duration_ms: int | None,
        action: str = "down",
        detail: str | None = None,
    ) -> None:
        """Remove ``migration``'s row and log ``action`` (see :meth:`reverted_statement`)."""
        sql, parameters = self.reverted_statement(
            migration, duration_ms=duration_ms, action=action, detail=detail
        )
        await conn.execute(sql, *parameters)

    async def record_started(
        self,
        conn: asyncpg.Connection,
        migration: Migration,
        migration_file: MigrationFile,
        *,
        statements_done: int,
    ) -> None:
        """A no-transaction run begins: its row says ``partial`` until it ends.

        A new up run inserts the row; a down run takes over the ``applied`` row (its
        checksums say what was applied); a resumed run takes over its own unfinished
        row, which must still stop at ``statements_done``. Anything else (the version
        was applied, or moved on, by another runner) raises :class:`LedgerConflict`. A
        new run starts an empty list of completed steps (``progress["steps"]``)."""
        status = await conn.execute(
            f"""
INSERT INTO {self.sql_name} AS l
    (version, name, up_checksum, down_checksum, applied_at, applied_by, transactional,
     phase, state, direction, statements_done, statements_total, error, progress)
VALUES ($1, $2, $3, $4, clock_timestamp(), {_BY.format(param="$5")}, $6, $7,
        'partial', $8, $9, $10, NULL, '{{"steps": []}}'::jsonb)
ON CONFLICT (version) DO UPDATE SET
    state = 'partial', direction = EXCLUDED.direction,
    statements_done = EXCLUDED.statements_done,
    statements_total = EXCLUDED.statements_total, error = NULL,
    progress = CASE WHEN l.state = 'applied' THEN EXCLUDED.progress ELSE l.progress END
WHERE (l.state = 'applied' AND EXCLUDED.direction = 'down' AND EXCLUDED.statements_done = 0)
   OR (l.state = 'applied' AND EXCLUDED.direction = 'up' AND EXCLUDED.statements_done = 0
       AND l.up_checksum IS DISTINCT FROM EXCLUDED.up_checksum)
   OR (l.state <> 'applied' AND l.direction = EXCLUDED.direction
       AND l.statements_done = EXCLUDED.statements_done)
""",
            migration.version,
            migration.name,
            migration.up.checksum,
            migration.down.checksum if migration.down else None,
            self.client,
            migration_file.transactional,
            migration.phase,
            migration_file.direction,
            statements_done,
            len(migration_file.statements),
        )
        if status.endswith(" 0"):
            raise self.moved_on(migration.version, "before this run started it")

    def progress_sql(self, version: int, step: ProgressStep) -> str:
        """The write that records ``step`` as completed (constants, no parameters, so it
        can travel in a string): it joins the row's list of completed steps and
        ``statements_done`` becomes ``step.end``, only where the row still stops where
        the step began (no other runner moved it); ``UPDATE 0`` otherwise."""
        recorded = sql_literal(json.dumps(step.to_json()))
        return (
            f"UPDATE {self.sql_name} SET statements_done = {step.end}, "
            "progress = jsonb_set(coalesce(progress, '{}'::jsonb), '{steps}', "
            "coalesce(progress -> 'steps', '[]'::jsonb) || "
            f"jsonb_build_array({recorded}::jsonb)) WHERE version = {version} "
            f"AND statements_done = {step.first} AND state = 'partial'"
        )

    async def record_progress(
        self, conn: asyncpg.Connection, version: int, step: ProgressStep, *, guard: str = ""
    ) -> None:
        """``step`` of an unfinished run has completed (see :meth:`progress_sql`).
        ``guard``: statements sent first in the same string (inside a migration's
        transaction: the runner's role and settings back for this write only)."""
        status = await conn.execute(guard + self.progress_sql(version, step))
        if status.endswith(" 0"):
            raise self.moved_on(version, f"after statement {step.first}")

    def moved_on(self, version: int, when: str) -> LedgerConflict:
        return LedgerConflict(
            f"the ledger row of version {version} in {self.display_name} changed {when} "
            "(another runner?); stopped without recording anything for it",
            hint="see `migrate status`",
        )

    async def history_mark(self, conn: asyncpg.Connection) -> int:
        """The id of the newest history row (0 when there is none): what
        :meth:`history_since` counts from."""
        mark = await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {self.history_sql_name}")
        return int(mark)

    async def history_since(self, conn: asyncpg.Connection, mark: int) -> list[HistoryMark]:
        """``(id, version, action, duration_ms)`` of each history row written after
        ``mark``, oldest first: which migrations of a batch committed, and how long each
        took by the server's clock."""
        rows = await conn.fetch(
            f"SELECT id, version, action, duration_ms FROM {self.history_sql_name} "
            "WHERE id > $1 ORDER BY id",
            mark,
        )
        return [HistoryMark(row[0], int(row[1]), row[2], row[3]) for row in rows]

    async def record_failure(
        self,
        conn: asyncpg.Connection,
        migration: Migration,
        migration_file: MigrationFile,
        *,
        error: str,
        statements_done: int | None,
    ) -> None:
        """Log a failed run. With ``statements_done`` (a no-transaction run), its row
        also becomes ``failed`` at that statement; a transactional failure changes no
        row (its transaction rolled back), only the history records it."""
        detail = f"{migration_file.direction}: {error}"
        async with conn.transaction():
            if statements_done is not None:
                await conn.execute(
                    f"UPDATE {self.sql_name} SET state = 'failed', statements_done = $2, "
                    "error = $3 WHERE version = $1",
                    migration.version,
                    statements_done,
                    error,
                )
            await self._log(
                conn,
                migration.version,
                migration.name,
                "failure",
                migration_file.checksum,
                detail,
            )

    # -- adopting and repairing --------------------------------------------------------

    async def record_baseline(
        self,
        conn: asyncpg.Connection,
        migrations: Iterable[Migration],
        baseline: int | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        """Record ``migrations`` as applied without running them (one transaction);
        each history row says ``detail`` (default: ``baseline V: ...``)."""
        detail = detail or f"baseline {baseline}: recorded as applied without running"
        async with conn.transaction():
            for migration in migrations:
                await self.record_applied(
                    conn, migration, duration_ms=None, action="baseline", detail=detail
                )

    async def forget(self, conn: asyncpg.Connection, version: int, name: str, detail: str) -> None:
        """Delete a row (the migration counts as not applied) and log a repair."""
        async with conn.transaction():
            await conn.execute(f"DELETE FROM {self.sql_name} WHERE version = $1", version)
            await self._log(conn, version, name, "repair", None, detail)

    async def update_checksums(
        self, conn: asyncpg.Connection, migration: Migration, detail: str
    ) -> None:
        """Record the files' current checksums for an applied version; log a repair."""
        async with conn.transaction():
            await conn.execute(
                f"UPDATE {self.sql_name} SET up_checksum = $2, down_checksum = $3 "
                "WHERE version = $1",
                migration.version,
                migration.up.checksum,
                migration.down.checksum if migration.down else None,
            )
            await self._log(
                conn, migration.version, migration.name, "repair", migration.up.checksum, detail
            )

    async def set_progress(
        self, conn: asyncpg.Connection, version: int, progress: dict[str, Any] | None
    ) -> None:
        """Store backfill progress (a JSON object) on a version's row."""
        await conn.execute(
            f"UPDATE {self.sql_name} SET progress = $2::jsonb WHERE version = $1",
            version,
            None if progress is None else json.dumps(progress),
        )

    async def _log(
        self,
        conn: asyncpg.Connection,
        version: int,
        name: str,
        action: str,
        checksum: str | None,
        detail: str | None,
    ) -> None:
        await conn.execute(
            f"INSERT INTO {self.history_sql_name} (version, name, action, checksum, by_whom, "
            f"detail) VALUES ($1, $2, $3, $4, {_BY.format(param='$5')}, $6)",
            version,
            name,
            action,
            checksum,
            self.client,
            detail,
        )


def _entry(row: asyncpg.Record) -> LedgerEntry:
    progress = row["progress"]
    return LedgerEntry(
        version=int(row["version"]),
        name=row["name"],
        up_checksum=row["up_checksum"],
        down_checksum=row["down_checksum"],
        applied_at=row["applied_at"],
        applied_by=row["applied_by"],
        duration_ms=row["duration_ms"],
        transactional=row["transactional"],
        phase=row["phase"],
        state=row["state"],
        direction=row["direction"],
        statements_done=row["statements_done"],
        statements_total=row["statements_total"],
        error=row["error"],
        progress=json.loads(progress) if isinstance(progress, str) else progress,
    )
