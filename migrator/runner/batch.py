"""Running a plan: consecutive one-statement transactional migrations travel several
to a string.

Each migration keeps its own transaction and its ledger write inside it: the string is
``BEGIN; SET LOCAL ...; <statement>; EXECUTE <ledger write>; COMMIT; BEGIN; ...``. In
PostgreSQL's simple-query protocol an explicit ``COMMIT`` inside a string commits on
the spot, and an error stops the string where it happened: the migrations before the
failing one stay committed with their ledger rows, the failing one rolls back, the
ones after it never run. The ledger's history, read once after each string, says which
committed and how long each took by the server's clock.

Every migration but the first of a string starts with the ledger's check that the one
before left no statement prepared with ``PREPARE`` (the reset drops those only at the
end of the string; see :mod:`migrator.runner.session`): when one did, the string stops
there, before that migration ran anything, and it runs on its own after a full reset.

Only one-statement migrations are batched, so that a failure is always pinned to its
statement without running anything twice. A lock timeout in a batch counts as the
migration's first attempt: it is retried on its own, with the usual backoff. Anything
else (no-transaction files, backfills, several statements, a per-statement hook) runs
one migration at a time (:func:`~migrator.runner.execute.execute_step`).

A migration that changes the defaults of new sessions (``ALTER DATABASE ... SET``,
``ALTER ROLE ... SET``) ends its batch, and the migrations after it run on a new
connection (``renew``), as they would run file by file in ``psql``: an open session
keeps the defaults it started with, whatever the reset does.

Batches start at one migration and double while each string takes under
:data:`FAST_MS`, up to :data:`BATCH_LIMIT`; one that takes longer than :data:`SLOW_MS`
halves the next. Progress lines come once a string is done, so this bounds how late
they can be while a run of small migrations is applied in few round trips.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from migrator.db.ledger import Ledger
from migrator.db.lock import HeldLock
from migrator.errors import ConnectionFailed, MigratorError
from migrator.runner import session
from migrator.runner.execute import (
    AfterStatement,
    StepFailure,
    StepResult,
    execute_step,
    fail_step,
    one_string,
    pause_before_retry,
    quietly,
)
from migrator.runner.report import Reporter
from migrator.runner.retry import RetryPolicy
from migrator.runner.schedule import Step
from migrator.runner.server_errors import is_connection_loss, is_lock_timeout, server_message

#: the most migrations sent in one string
BATCH_LIMIT = 64
#: a string done faster than this (ms) doubles the next batch
FAST_MS = 100
#: a string slower than this (ms) halves the next batch
SLOW_MS = 400


def batchable(step: Step, after_statement: AfterStatement | None) -> bool:
    """Whether ``step`` may share a string with its neighbours."""
    return (
        after_statement is None
        and step.transactional
        and len(step.statements) == 1
        and not (step.direction == "up" and step.file.directives.backfill is not None)
    )


class _Sizer:
    """The next batch's size, adapted to how long the last string took."""

    def __init__(self, size: int = 1) -> None:
        self.size = size

    def took(self, milliseconds: float) -> None:
        if milliseconds < FAST_MS:
            self.size = min(BATCH_LIMIT, self.size * 2)
        elif milliseconds > SLOW_MS:
            self.size = max(1, self.size // 2)


async def execute_plan(
    conn: asyncpg.Connection,
    steps: Sequence[Step],
    *,
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter | None = None,
    after_statement: AfterStatement | None = None,
    first_batch: int = 1,
    lock: HeldLock | None = None,
    renew: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
) -> list[StepResult]:
    """Run ``steps`` in order, each exactly as :func:`execute_step` would, batching
    what can be batched (``first_batch``: the size of the first batch); raises on the
    first failure (the steps before it stay done). With ``lock``, the migration lock
    is checked before each string is sent and once at the end
    (:meth:`~migrator.db.lock.HeldLock.check`). ``renew`` closes ``conn`` and opens
    its successor: called after a step that changed the defaults of new sessions, when
    more steps follow."""
    reporter = reporter or Reporter()
    results: list[StepResult] = []
    sizer = _Sizer(max(1, min(BATCH_LIMIT, first_batch)))
    #: the newest history id this session knows of (``None``: ask before the next batch)
    mark: int | None = None
    position = 0
    while position < len(steps):
        group = _next_group(steps, position, sizer.size, after_statement)
        if lock is not None:
            await lock.check()
        if len(group) == 1:
            result = await execute_step(
                conn,
                group[0],
                ledger=ledger,
                retry=retry,
                reporter=reporter,
                after_statement=after_statement,
                lock=lock,
            )
            results.append(result)
            sizer.took(result.duration_ms)
            mark = None
            position += 1
        else:
            if mark is None:
                await ledger.prepare_writes(conn)  # first: it refreshes a stale statement cache
                mark = await ledger.history_mark(conn)
            began = time.monotonic()
            done, mark, failed = await _run_batch(conn, group, ledger, reporter, mark)
            sizer.took((time.monotonic() - began) * 1000)
            results.extend(done)
            position += len(done)
            if failed is not None:
                results.append(await _after_failure(conn, failed, ledger, retry, reporter, lock))
                mark = None
                position += 1
        # the steps after one that changed new sessions' defaults run on a new session
        last = steps[position - 1]
        if renew is not None and position < len(steps) and last.changes_session_defaults:
            conn = await renew()
            mark = None
    if lock is not None and steps:
        await lock.check()
    return results


def _next_group(
    steps: Sequence[Step], position: int, size: int, after_statement: AfterStatement | None
) -> list[Step]:
    group = [steps[position]]
    if not batchable(group[0], after_statement):
        return group
    for step in steps[position + 1 : position + size]:
        if not batchable(step, after_statement) or group[-1].changes_session_defaults:
            break
        group.append(step)
    return group


async def _run_batch(
    conn: asyncpg.Connection,
    group: Sequence[Step],
    ledger: Ledger,
    reporter: Reporter,
    mark: int,
) -> tuple[list[StepResult], int, tuple[Step, StepFailure] | None]:
    """Send ``group`` as one string; the results of the steps that committed, the new
    history mark, and the step that failed with its failure (``None`` if none did)."""
    await ledger.prepare_writes(conn)
    for step in group:
        reporter.step_started(step)
    error: BaseException | None = None
    try:
        last = len(group) - 1
        await conn.execute(
            ";\n".join(
                one_string(conn, step, ledger, first=at == 0, last=at == last)
                for at, step in enumerate(group)
            )
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        error = exc
    if error is not None and (conn.is_closed() or is_connection_loss(error)):
        verb = "applying" if group[0].direction == "up" else "reverting"
        raise ConnectionFailed(
            f"lost the connection while {verb} "
            f"migrations {group[0].label} to {group[-1].label}: {server_message(error)}",
            hint="each migration commits with its ledger row: `migrate status` shows which "
            f"are done; reconnect and run `migrate {group[0].direction}` again",
        ) from None
    if error is not None and conn.is_in_transaction():
        await quietly(conn, "ROLLBACK")
    if error is not None and ledger.lost_prepared_write(error, conn):
        await ledger.prepare_writes(conn)  # and asyncpg's statement cache, stale too
    rows = await ledger.history_since(conn, mark)
    done: list[StepResult] = []
    for step, row in zip(group, rows, strict=False):
        if (row.version, row.action) != (step.version, step.direction):
            raise MigratorError(
                f"the ledger history of {ledger.display_name} does not match the migrations "
                f"just run (found {row.action} {row.version} for {step.direction} "
                f"{step.label}); another process may be writing it: see `migrate status`"
            )
        result = StepResult(step, row.duration_ms or 0, 1)
        reporter.step_finished(result)
        done.append(result)
    new_mark = rows[-1].id if rows else mark
    if error is None:
        if len(done) != len(group):
            raise MigratorError(
                f"{len(group) - len(done)} migration(s) of a batch left no ledger history "
                f"in {ledger.display_name}; see `migrate status`"
            )
        return done, new_mark, None
    if len(done) >= len(group):
        raise MigratorError(
            f"unexpected error after a batch of migrations: {server_message(error)}"
        )
    failing = group[len(done)]
    statement = None if ledger.raised(error, conn) else failing.statements[0]
    return done, new_mark, (failing, StepFailure(statement, error))


async def _after_failure(
    conn: asyncpg.Connection,
    failed: tuple[Step, StepFailure],
    ledger: Ledger,
    retry: RetryPolicy,
    reporter: Reporter,
    lock: HeldLock | None,
) -> StepResult:
    """The step that failed in a batch: run on its own when a retry may help (a lock
    timeout, with backoff; a ledger write the migration itself unprepared), or when it
    did not run (the ledger's check found a statement the step before prepared),
    otherwise recorded and raised as :func:`execute_step` would."""
    step, failure = failed
    if ledger.lost_prepared_write(failure.error, conn) or ledger.left_prepared(failure.error):
        await session.reset(conn, ledger.prepared_names)
        return await execute_step(
            conn, step, ledger=ledger, retry=retry, reporter=reporter, lock=lock
        )
    if is_lock_timeout(failure.error) and retry.attempts > 1:
        await session.reset(conn, ledger.prepared_names)
        await pause_before_retry(step, retry, 1, failure, reporter)
        return await execute_step(
            conn, step, ledger=ledger, retry=retry, reporter=reporter, first_attempt=2, lock=lock
        )
    await fail_step(conn, step, failure, ledger, lock=lock)
