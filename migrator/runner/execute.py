"""Running planned steps on a connection.

A transactional step is one transaction: ``SET LOCAL lock_timeout`` and
``statement_timeout``, every statement, the ledger row and its history row; a lock
timeout (SQLSTATE 55P03) anywhere rolls it all back and the whole migration is tried
again after a backoff, so a waiting ``ALTER TABLE`` never queues readers for longer
than one ``lock_timeout``.

A ``-- migrate:no-transaction`` step sends each statement on its own (a string of
several statements would be one implicit transaction, which ``CONCURRENTLY`` refuses),
under session-level ``SET lock_timeout`` / ``statement_timeout`` that are reset
afterwards, and records progress in the ledger after every statement. A statement
that hit a lock timeout is sent again only when that is safe (see
:func:`resend_is_safe`).

The per-statement hook (``after_statement``) is awaited on the migrating connection
right after each statement, inside the transaction for transactional steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import asyncpg

from migrator.config import Settings
from migrator.db.indexes import InvalidIndex, index_is_invalid, invalid_indexes
from migrator.db.ledger import MS_SINCE_PREVIOUS_WRITE, MS_SINCE_TRANSACTION_START, Ledger
from migrator.db.lock import HeldLock
from migrator.db.quoting import quote_ident, quote_qualified
from migrator.db.records import Direction, ProgressStep
from migrator.durations import format_ms
from migrator.errors import ConnectionFailed, MigrationFailed
from migrator.runner import progress, session
from migrator.runner.ledger_trouble import damaged_by
from migrator.runner.recovery import invalid_index_advice
from migrator.runner.report import Reporter
from migrator.runner.retry import RetryPolicy
from migrator.runner.schedule import Step, plan_step, setting_statements
from migrator.runner.server_errors import is_connection_loss, is_lock_timeout, server_message
from migrator.source.discovery import require_runnable
from migrator.source.model import Migration, MigrationFile, MigrationSet
from migrator.source.segments import transaction_control
from migrator.sql import classify
from migrator.sql.split import Statement

T = TypeVar("T")

#: awaited after each statement on the migrating connection (the dry-run samples locks)
AfterStatement = Callable[[asyncpg.Connection, MigrationFile, Statement], Awaitable[None]]


@dataclass(frozen=True)
class StepResult:
    """A step that completed: how long its successful attempt took, and how many
    attempts (lock-timeout retries) it needed."""

    step: Step
    duration_ms: int
    attempts: int


class StepFailure(Exception):
    """A statement (or, with ``statement=None``, a ledger write) failed."""

    def __init__(self, statement: Statement | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.statement = statement
        self.error = error
        self.attempts = 1
        #: for no-transaction steps: statements completed before the failure
        self.statements_done: int | None = None


class UnclosedBlock(Exception):
    """A no-transaction file ended inside a transaction block it opened."""

    def __init__(self) -> None:
        super().__init__(
            "the file ended inside a transaction block it opened (BEGIN without COMMIT); "
            "the block was rolled back"
        )


class InvalidIndexKept(Exception):
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` skipped the build because an INVALID
    index of that name was there, left by an earlier failed build."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"index {name} already existed INVALID (left by an earlier failed build), so "
            "IF NOT EXISTS skipped the build; drop it and run this statement again"
        )


async def _check_index_built(conn: asyncpg.Connection, statement: Statement) -> None:
    """After a ``CREATE INDEX CONCURRENTLY IF NOT EXISTS``: fail the statement itself
    (so that ``--resume`` runs the build again) when the index it names is INVALID."""
    built = classify.index_built_if_not_exists(statement.text)
    if built is None or conn.is_in_transaction():
        return
    schema, table, name = built
    try:
        invalid = await index_is_invalid(conn, schema, table, name)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StepFailure(statement, exc) from exc
    if invalid:
        raise StepFailure(statement, InvalidIndexKept(name))


def _elapsed_ms(began: float) -> int:
    return round((time.monotonic() - began) * 1000)


async def _send(
    conn: asyncpg.Connection,
    statement: Statement,
    prefix: str = "",
    suffix: str = "",
    ledger: Ledger | None = None,
) -> None:
    """Send one statement, with ``prefix`` and ``suffix`` in the same string. A failure
    is the statement's unless the ledger says its write in ``suffix`` raised it."""
    try:
        await conn.execute(prefix + statement.text + suffix)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        blamed = None if suffix and ledger is not None and ledger.raised(exc, conn) else statement
        raise StepFailure(blamed, exc) from exc


async def _replay_settings(conn: asyncpg.Connection, step: Step) -> None:
    """Resuming: the session settings the completed statements had made, again (a
    ``SET search_path`` before the failed statement still decides where it builds)."""
    for statement in step.replayed_settings:
        await _send(conn, statement)


async def _ledger_write(awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,  # the lock's session ended (see is_connection_loss)
        OSError,
    ) as exc:
        raise StepFailure(None, exc) from exc


async def quietly(conn: asyncpg.Connection, sql: str) -> None:
    if conn.is_closed():
        return
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await conn.execute(sql)


async def _record_done(
    conn: asyncpg.Connection, ledger: Ledger, step: Step, duration_ms: int
) -> None:
    if step.direction == "up":
        await _ledger_write(ledger.record_applied(conn, step.migration, duration_ms=duration_ms))
    else:
        await _ledger_write(ledger.record_reverted(conn, step.migration, duration_ms=duration_ms))


async def pause_before_retry(
    step: Step, retry: RetryPolicy, attempt: int, failure: StepFailure, reporter: Reporter
) -> None:
    delay = retry.delay_before(attempt)
    line = f", line {failure.statement.line}" if failure.statement else ""
    reporter.retrying(
        step,
        attempt=attempt,
        attempts=retry.attempts,
        delay_ms=delay,
        reason=f"lock timeout ({format_ms(step.lock_timeout_ms)}{line})",
    )
    await asyncio.sleep(delay / 1000)


def _closing(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    *,
    prepared: bool,
    duration_sql: str = MS_SINCE_TRANSACTION_START,
    completing: bool = False,
    deallocate: bool = True,
) -> str:
    """The session reset, the ledger write and ``COMMIT`` of a transactional step, to
    end a string (the newline first keeps them out of a trailing ``--`` comment). The
    reset (:mod:`migrator.runner.session`) comes first, so the ledger is written as the
    runner's role whatever the migration set, under the step's own ``SET LOCAL``s
    again, and commits with the migration."""
    write = ledger.write_sql(
        step.migration,
        step.direction,
        duration_sql=duration_sql,
        prepared=prepared,
        completing=completing,
    )
    reset = session.reset_in_transaction(conn, ledger.prepared_names, deallocate=deallocate)
    settings = "; ".join(setting_statements(step, local=True))
    return f"\n;\n{reset};\n{settings};\n{write};\nCOMMIT"


def _opening(step: Step, check: str = "") -> str:
    """``BEGIN``, ``check`` and the step's ``SET LOCAL``s, to start a string."""
    statements = [check] if check else []
    statements += setting_statements(step, local=True)
    return "BEGIN; " + "; ".join(statements) + ";\n"


def one_string(
    conn: asyncpg.Connection, step: Step, ledger: Ledger, *, first: bool, last: bool
) -> str:
    """A one-statement transactional step as one part of a string of several: ``BEGIN``,
    unless it is the ``first`` the ledger's check that the step before left no prepared
    statement (:attr:`~migrator.db.ledger.Ledger.check_sql`), its ``SET LOCAL``s, the
    statement, the session reset (dropping prepared statements only in the ``last``
    step's), the ledger write (``EXECUTE`` of the prepared write) and ``COMMIT``. Its
    duration is measured from the previous migration's ledger write, not from the
    arrival of the string (:data:`~migrator.db.ledger.MS_SINCE_PREVIOUS_WRITE`)."""
    (statement,) = step.statements
    closing = _closing(
        conn, step, ledger, prepared=True, duration_sql=MS_SINCE_PREVIOUS_WRITE, deallocate=last
    )
    return _opening(step, "" if first else ledger.check_sql) + statement.text + closing


async def _run_in_transaction(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    after_statement: AfterStatement | None,
    *,
    prepared: bool = True,
    statements: Sequence[Statement] | None = None,
    closing: str | None = None,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """One attempt, in as few round trips as there are statements: ``BEGIN`` and the
    ``SET LOCAL``s travel with the first statement, the ledger write (``EXECUTE`` of
    the write the ledger prepared on this session; its duration is measured by the
    server from ``BEGIN``) and ``COMMIT`` with the last. A one-statement migration is
    one round trip. Inside a transaction block, statements in one string behave
    exactly as sent one by one, and an error anywhere in the string aborts the
    transaction: nothing of the migration or its ledger row stays. With a hook, the
    ledger write and ``COMMIT`` follow the last hook in a string of their own. Without
    ``prepared``, the ledger write is spelled out instead of ``EXECUTE``d. A segment
    of a file with commit points passes its ``statements`` and, unless it is the last,
    a ``closing`` of just ``COMMIT`` and the ``before_commit`` write of its progress,
    awaited in the transaction after the last statement."""
    began = time.monotonic()
    opening = _opening(step)
    closing = closing or _closing(conn, step, ledger, prepared=prepared)
    statements = step.statements if statements is None else statements
    last = len(statements) - 1
    separate = after_statement is not None or before_commit is not None
    try:
        for position, statement in enumerate(statements):
            glued = position == last and not separate
            await _send(
                conn,
                statement,
                prefix=opening if position == 0 else "",
                suffix=closing if glued else "",
                ledger=ledger,
            )
            if after_statement is not None:
                await after_statement(conn, step.file, statement)
        if not statements:
            await _ledger_write(conn.execute(opening + ("" if separate else closing)))
        if before_commit is not None:
            await before_commit()
        if separate:
            await _ledger_write(conn.execute(closing))
    except BaseException:
        await quietly(conn, "ROLLBACK")
        # a PREPARE or a session advisory lock outlives the rollback: the next attempt
        # (or migration) must start from the same session
        await quietly(conn, session.reset_in_transaction(conn, ledger.prepared_names))
        raise
    return _elapsed_ms(began)


async def _with_lock_retries(
    attempt_once: Callable[[], Awaitable[T]],
    *,
    step: Step,
    retry: RetryPolicy,
    reporter: Reporter,
    may_retry: Callable[[], Awaitable[bool]] | None = None,
    first_attempt: int = 1,
) -> tuple[T, int]:
    """Run ``attempt_once`` until it succeeds, retrying after a lock timeout (when
    ``may_retry`` agrees) with backoff; returns its result and the attempts used.
    ``first_attempt`` > 1 counts attempts already made elsewhere (a batch)."""
    for attempt in range(first_attempt, retry.attempts + 1):
        try:
            return await attempt_once(), attempt
        except StepFailure as failure:
            failure.attempts = attempt
            if (
                is_lock_timeout(failure.error)
                and attempt < retry.attempts
                and (may_retry is None or await may_retry())
            ):
                await pause_before_retry(step, retry, attempt, failure, reporter)
                continue
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _transactional(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter,
    after_statement: AfterStatement | None,
    *,
    first_attempt: int = 1,
) -> StepResult:
    await _ledger_write(ledger.prepare_writes(conn))
    try:
        duration, attempts = await _with_lock_retries(
            lambda: _run_in_transaction(conn, step, ledger, after_statement),
            step=step,
            retry=retry,
            reporter=reporter,
            first_attempt=first_attempt,
        )
    except StepFailure as failure:
        if not ledger.lost_prepared_write(failure.error, conn):
            raise
        # the migration itself dropped the session's prepared statements (DEALLOCATE
        # ALL): its transaction rolled back; run it again with the write spelled out
        duration, attempts = await _with_lock_retries(
            lambda: _run_in_transaction(conn, step, ledger, after_statement, prepared=False),
            step=step,
            retry=retry,
            reporter=reporter,
        )
    return StepResult(step, duration, attempts)


def _in_transaction_guard(step: Step) -> str:
    """What precedes a progress write inside a migration's transaction: the runner's
    role, search path and the step's timeouts, for that transaction only."""
    return (
        "; ".join([session.LEDGER_WRITE_IN_TRANSACTION, *setting_statements(step, local=True)])
        + ";\n"
    )


async def _record_in_transaction(
    conn: asyncpg.Connection, ledger: Ledger, version: int, step: ProgressStep, *, guard: str
) -> None:
    await _ledger_write(ledger.record_progress(conn, version, step, guard=guard))


async def _segment_by_segment(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter,
    after_statement: AfterStatement | None,
    *,
    control: asyncpg.Connection | None = None,
) -> StepResult:
    """A file with commit points: each segment in a transaction of its own (retried
    whole after a lock timeout, as it rolled back). Each segment records itself as one
    completed progress step inside its own transaction, just before its ``COMMIT``
    (as the runner's role, for that write only): the segment and its record commit
    together or not at all, so a kill, a lost connection or a crash at any point
    leaves no committed segment unrecorded and ``--resume`` never runs one twice. The
    last segment commits with the ledger row that marks the migration done; the row
    says ``partial`` until then (written on ``control`` before the first segment).
    The session is not reset between segments: a ``SET`` before a commit point
    lasts, as in PostgreSQL."""
    control = control or conn
    began = time.monotonic()
    attempts = 1
    done = step.start_at
    await _ledger_write(
        ledger.record_started(control, step.migration, step.file, statements_done=done)
    )
    segments = step.segments
    try:
        await _replay_settings(conn, step)
        for segment in segments:
            last = segment is segments[-1]
            record: Callable[[], Awaitable[None]] | None = None
            if not last:
                record = functools.partial(
                    _record_in_transaction,
                    conn,
                    ledger,
                    step.version,
                    progress.step_of(step.file.statements[done : segment.end]),
                    guard=_in_transaction_guard(step),
                )
            _, used = await _with_lock_retries(
                functools.partial(
                    _run_in_transaction,
                    conn,
                    step,
                    ledger,
                    after_statement,
                    prepared=False,
                    statements=segment.statements,
                    closing=(
                        _closing(conn, step, ledger, prepared=False, completing=True)
                        if last
                        else "COMMIT"
                    ),
                    before_commit=record,
                ),
                step=step,
                retry=retry,
                reporter=reporter,
            )
            attempts = max(attempts, used)
            done = segment.end
            reporter.segment_finished(step, segment.number, len(step.file.segments))
    except StepFailure as failure:
        failure.statements_done = done
        raise
    return StepResult(step, _elapsed_ms(began), attempts)


async def resend_is_safe(conn: asyncpg.Connection, statement: Statement) -> bool:
    """Whether a no-transaction statement that failed with a lock timeout may be sent
    again.

    A single statement outside a transaction block is atomic: if it failed, it changed
    nothing, so sending it again is safe. The exceptions commit work in several
    transactions of their own: ``CREATE INDEX CONCURRENTLY`` (leaves an INVALID index
    once its catalog entry exists), ``REINDEX ... CONCURRENTLY`` and ``DETACH
    PARTITION ... CONCURRENTLY``. A concurrent index build is still retried when the
    index it names does not exist (it timed out before creating anything). Nothing is
    retried inside a transaction block the file opened itself.
    """
    if conn.is_in_transaction():
        return False
    parsed = classify.statement_node(statement.text)
    if parsed is None:
        return False
    kind, fields = parsed
    if kind == "TransactionStmt":
        return False
    if kind in ("ReindexStmt", "AlterTableStmt"):
        return classify.non_transactional_reason(statement.text) is None
    if kind == "IndexStmt" and fields.get("concurrent"):
        name = fields.get("idxname")
        if not name:
            return False
        schema = (fields.get("relation") or {}).get("schemaname")
        qualified = quote_qualified(schema, name) if schema else quote_ident(name)
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", qualified)
        return not exists
    return True


async def _statement_by_statement(
    conn: asyncpg.Connection,
    step: Step,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter,
    after_statement: AfterStatement | None,
    *,
    control: asyncpg.Connection | None = None,
) -> StepResult:
    """Each statement on its own, its progress written on ``control`` (the lock's
    connection, which never runs migration SQL: whatever the migration does to its own
    session, a role, read-only defaults, the ledger is written the same way); one
    completed step per statement, or per ``BEGIN ... COMMIT`` block of the file. A
    block's step is written inside the block, on ``conn`` just before the file's
    ``COMMIT`` (as a segment's is): the block and its record commit together. A
    statement outside a block commits on its own, so its record can only follow it
    (see :func:`~migrator.runner.recovery.in_doubt`)."""
    control = control or conn
    began = time.monotonic()
    attempts = 1
    done = step.start_at
    #: statements done before the file's own open ``BEGIN`` block (``done`` outside one):
    #: what a failure inside the block leaves committed, since the block rolls back
    committed = done
    await conn.execute("; ".join(setting_statements(step, local=False)))
    try:
        await _ledger_write(
            ledger.record_started(control, step.migration, step.file, statements_done=done)
        )
        await _replay_settings(conn, step)
        for statement in step.statements:
            control_kind = transaction_control(statement) if conn.is_in_transaction() else None
            closes_block = control_kind is not None and control_kind.kind == "commit"
            if closes_block:
                await _record_in_transaction(
                    conn,
                    ledger,
                    step.version,
                    progress.step_of(step.file.statements[committed : done + 1]),
                    guard=_in_transaction_guard(step),
                )
            _, used = await _with_lock_retries(
                functools.partial(_send, conn, statement),
                step=step,
                retry=retry,
                reporter=reporter,
                may_retry=functools.partial(resend_is_safe, conn, statement),
            )
            attempts = max(attempts, used)
            await _check_index_built(conn, statement)
            if after_statement is not None:
                await after_statement(conn, step.file, statement)
            done += 1
            if closes_block:  # recorded inside the block, committed with it
                committed = done
            elif not conn.is_in_transaction():
                completed = progress.step_of(step.file.statements[committed:done])
                await _ledger_write(ledger.record_progress(control, step.version, completed))
                committed = done
            reporter.statement_finished(step, statement)
        if conn.is_in_transaction():  # refused before running unless a function opened it
            raise StepFailure(step.statements[-1], UnclosedBlock())
        duration = _elapsed_ms(began)
        await _record_done(control, ledger, step, duration)
    except StepFailure as failure:
        failure.statements_done = committed
        raise
    finally:
        await quietly(conn, "RESET lock_timeout; RESET statement_timeout")
    return StepResult(step, duration, attempts)


def _verb(direction: Direction) -> str:
    return "applying" if direction == "up" else "reverting"


def _where(step: Step, failure: StepFailure) -> str:
    if failure.statement is None:
        return f"{step.file.path} (writing the ledger)"
    return f"{step.file.path}:{failure.statement.line}"


def _segment_failed_hint(step: Step, failure: StepFailure, *, lost: bool = False) -> str:
    """What a failure (``lost``: of the connection) in a segment of a file with commit
    points left, and the ways on."""
    done = failure.statements_done or 0
    segments = step.file.segments
    stopped = next((s for s in segments if s.end > done), segments[-1])
    return (
        f"segment {stopped.number} of {len(segments)} rolled back; the {stopped.number - 1} "
        f"before it committed and stay, and the ledger marks {step.label} "
        f"{'partial: once reconnected' if lost else 'failed: fix the cause'}, then "
        f"`migrate {step.direction} --resume` to continue at segment "
        f"{stopped.number}, or finish or undo it by hand and run `migrate repair "
        f"{step.migration.shown_version} --mark-applied` or `--forget`"
    )


def _connection_lost(step: Step, failure: StepFailure) -> ConnectionFailed:
    if step.segmented:
        hint = _segment_failed_hint(step, failure, lost=True)
    elif step.transactional:
        hint = (
            "nothing from this migration was committed; reconnect and run "
            f"`migrate {step.direction}` again"
        )
    else:
        done = failure.statements_done or 0
        hint = (
            f"{done} of its statements had completed; the ledger marks it partial: once "
            f"reconnected, see `migrate status`, then `migrate {step.direction} --resume` "
            "or `migrate repair`"
        )
    return ConnectionFailed(
        f"{_where(step, failure)}: lost the connection while {_verb(step.direction)} "
        f"{step.label}: {server_message(failure.error)}",
        hint=hint,
    )


#: a COMMIT / ROLLBACK in a procedure or DO block called inside a transaction block
_INVALID_TRANSACTION_TERMINATION = "2D000"


def _migration_failed(
    step: Step, failure: StepFailure, invalid: list[InvalidIndex]
) -> MigrationFailed:
    message = (
        f"{_where(step, failure)}: {_verb(step.direction)} {step.label} failed: "
        f"{server_message(failure.error)}"
    )
    if is_lock_timeout(failure.error):
        message += (
            f" (lock_timeout {format_ms(step.lock_timeout_ms)}, {failure.attempts} attempt(s))"
        )
    again = f"`migrate {step.direction}`"
    if step.segmented:
        return MigrationFailed(message, hint=_segment_failed_hint(step, failure))
    if step.transactional:
        if is_lock_timeout(failure.error):
            hint = (
                "nothing was changed (its transaction rolled back); another session held "
                f"a conflicting lock: run {again} again when it is quieter, or raise "
                "lock-timeout / lock-retries"
            )
        elif getattr(failure.error, "sqlstate", None) == _INVALID_TRANSACTION_TERMINATION:
            hint = (
                "nothing was changed (its transaction rolled back); a procedure or DO block "
                "that commits cannot run inside the runner's transaction: add "
                f"`-- migrate:no-transaction` at the top of the file and run {again} again"
            )
        else:
            hint = (
                "nothing was changed (its transaction rolled back); fix the migration and "
                f"run {again} again"
            )
        return MigrationFailed(message, hint=hint)
    done = failure.statements_done or 0
    statements = step.file.statements
    failed_at = statements.index(failure.statement) if failure.statement in statements else None
    resume_from = "this statement"
    if failed_at is not None and done < failed_at:  # inside the file's own BEGIN block
        block = statements[done].line
        resume_from = f"the BEGIN at line {block} (its block was rolled back)"
    parts = [
        f"{done} statement(s) before it completed and stay; the ledger marks "
        f"{step.label} failed: fix the cause, then `migrate {step.direction} --resume` "
        f"to continue from {resume_from}, or finish or undo it by hand and run "
        f"`migrate repair {step.migration.shown_version} --mark-applied` or `--forget`"
    ]
    if invalid:
        parts.append(invalid_index_advice(invalid))
    return MigrationFailed(message, hint="; ".join(parts))


async def execute_step(
    conn: asyncpg.Connection,
    step: Step,
    *,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter | None = None,
    after_statement: AfterStatement | None = None,
    first_attempt: int = 1,
    lock: HeldLock | None = None,
) -> StepResult:
    """Run one planned step with its ledger writes; raise :class:`MigrationFailed`
    (SQL error, or lock timeout after every retry) or :class:`ConnectionFailed`.
    ``first_attempt`` > 1: a batch already tried this (transactional) step that many
    times less one (see :mod:`migrator.runner.batch`). ``lock``: the migration lock,
    whose connection writes the ledger outside the migration's transaction."""
    reporter = reporter or Reporter()
    if first_attempt == 1:
        reporter.step_started(step)
    control = lock.conn if lock is not None else conn
    #: the transactional path resets the session inside its transaction
    reset_after = not step.transactional
    run: Callable[..., Awaitable[StepResult]] = (
        functools.partial(_transactional, first_attempt=first_attempt)
        if step.transactional
        else functools.partial(_statement_by_statement, control=control)
    )
    if step.segmented:
        run = functools.partial(_segment_by_segment, control=control)
    if step.direction == "up" and step.file.directives.backfill is not None:
        # -- migrate:backfill: batches (migrator/runner/backfill.py; imported here, as
        # most runs have none)
        from migrator.runner.backfill import run_backfill_step

        run = run_backfill_step
        reset_after = True
    try:
        result = await run(conn, step, ledger, retry, reporter, after_statement)
    except StepFailure as failure:
        await fail_step(conn, step, failure, ledger, lock=lock)
    if reset_after:
        await session.reset(conn, ledger.prepared_names)
    reporter.step_finished(result)
    return result


async def fail_step(
    conn: asyncpg.Connection,
    step: Step,
    failure: StepFailure,
    ledger: Ledger,
    *,
    lock: HeldLock | None = None,
) -> NoReturn:
    """Record ``step``'s failure in the ledger's history (and, for a no-transaction
    step, its row) and raise the one-line error that says what to do. The failure is
    written on the lock's connection when there is one (the migration's session may be
    read-only or another role by now)."""
    control = lock.conn if lock is not None else conn
    # the migration's own connection lost first (a server restart ends both): say what
    # was committed, which the lock's loss alone would not
    if conn.is_closed() or is_connection_loss(failure.error):
        raise _connection_lost(step, failure) from None
    if lock is not None and control.is_closed():
        raise lock.lost("its connection closed during " + step.label) from None
    if conn.is_in_transaction():
        await quietly(conn, "ROLLBACK")
    # what the failed attempt left in the session (a role, read-only defaults, a
    # PREPARE, which no rollback undoes) must not reach the next migration
    await quietly(conn, session.reset_in_transaction(conn, ledger.prepared_names))
    conflict = ledger.conflict(failure.error, step.migration.version, step.direction)
    if conflict is not None:
        raise conflict from None
    if (
        failure.statement is None
        or ledger.raised(failure.error, conn)
        or ledger.named_in(failure.error)
    ):
        damage = await damaged_by(
            control, ledger, failure.error, step.label, rolled_back=step.transactional
        )
        if damage is not None:
            raise MigrationFailed(
                f"{step.file.path}: {damage}",
                hint="a migration must not drop the ledger or revoke the runner's privileges "
                "on it; fix the migration"
                + ("" if step.transactional else ", restore the ledger, then `migrate status`"),
            ) from None
    invalid: list[InvalidIndex] = []
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        if not step.transactional:
            invalid = await invalid_indexes(conn)
        await ledger.record_failure(
            control,
            step.migration,
            step.file,
            error=server_message(failure.error),
            statements_done=(
                None if step.transactional and not step.segmented else failure.statements_done
            ),
        )
    raise _migration_failed(step, failure, invalid) from None


async def apply_migration(
    conn: asyncpg.Connection,
    migration: Migration,
    direction: Direction = "up",
    *,
    settings: Settings,
    ledger: Ledger | None = None,
    reporter: Reporter | None = None,
    after_statement: AfterStatement | None = None,
    lock: HeldLock | None = None,
) -> StepResult:
    """Apply (``up``) or revert (``down``) ONE migration on ``conn``, with the same
    transaction, timeout, retry and ledger rules as ``migrate up``/``down``.

    Creates the ledger if needed; does not take the migration lock and does not look
    at other migrations (the dry-run's up/down/up stairway calls this on a database it
    owns). ``lock``: a migration lock the caller holds, whose connection writes the
    ledger outside the migration's transaction, as in ``migrate up``. Raises
    :class:`SourceError` when the files cannot run as written.
    """
    ledger = ledger or Ledger.from_settings(settings)
    chosen = migration.up if direction == "up" else migration.down
    require_runnable(
        MigrationSet(migration.up.path.parent, (migration,)), [chosen] if chosen else []
    )
    try:
        await ledger.ensure(conn)
    except (asyncpg.PostgresError, OSError) as exc:
        raise MigrationFailed(
            f"cannot create the ledger {ledger.display_name}: {server_message(exc)}"
        ) from None
    step = plan_step(migration, direction, settings)
    return await execute_step(
        conn,
        step,
        ledger=ledger,
        retry=RetryPolicy.from_settings(settings),
        reporter=reporter,
        after_statement=after_statement,
        lock=lock,
    )


__all__ = [
    "AfterStatement",
    "StepFailure",
    "StepResult",
    "apply_migration",
    "execute_step",
    "fail_step",
    "one_string",
    "pause_before_retry",
    "quietly",
    "resend_is_safe",
]
