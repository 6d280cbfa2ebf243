"""The run commands as functions: :func:`up`, :func:`down`, :func:`pending_plan`
(``up --sql``), :func:`status`, :func:`verify`, :func:`baseline`, :func:`repair`.

Each one discovers the files, opens one connection, and (when it changes anything)
takes the migration lock before it reads the ledger, so the plan is made from the
ledger as it is while no other runner can change it. The ledger is read once per
run. Progress goes to a :class:`Reporter`; results come back as values for the CLI
(or any caller) to render.

The planner and the executor are imported by the functions that run migrations, so
``status`` and ``verify`` load neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from migrator.config import Settings
from migrator.db.connection import connect
from migrator.db.indexes import InvalidIndex, invalid_indexes
from migrator.db.ledger import Ledger
from migrator.db.lock import HeldLock, hold, lock_holder, unlock
from migrator.db.records import Direction, LedgerEntry
from migrator.errors import ConnectionFailed, RefusedState
from migrator.runner import session
from migrator.runner.ledger_trouble import ledger_blocked, ledger_error
from migrator.runner.recovery import RepairChange, RepairChoice, plan_repair
from migrator.runner.report import Reporter
from migrator.runner.server_errors import is_connection_loss, is_lock_timeout, server_message
from migrator.source.discovery import discover, require_runnable
from migrator.source.model import Migration, MigrationSet, Phase
from migrator.source.versions import is_repeatable_key

if TYPE_CHECKING:
    from migrator.runner.execute import AfterStatement, StepResult
    from migrator.runner.schedule import Plan
    from migrator.runner.status import StatusReport, VerifyProblem


@dataclass(frozen=True)
class UpOptions:
    #: apply pending migrations up to and including this version (a version text of
    #: the directory's layout, such as ``1_10`` or ``2019-09-12-100000``, or a key)
    to: int | str | None = None
    #: continue a failed or interrupted no-transaction migration where it stopped
    resume: bool = False
    #: apply only up to (not including) the first migration of a later phase
    phase: Phase | None = None


@dataclass(frozen=True)
class DownOptions:
    #: how many applied migrations to revert (default 1)
    steps: int | None = None
    #: revert every applied migration above this version (0: all but a version 0)
    to: int | str | None = None
    #: continue a failed or interrupted no-transaction revert where it stopped
    resume: bool = False


@dataclass(frozen=True)
class RunResult:
    """What an ``up`` or ``down`` run did."""

    direction: Direction
    results: tuple[StepResult, ...]
    notes: tuple[str, ...] = ()
    #: newest applied version after the run (its ledger key, and as messages show it)
    current_version: int | None = None
    current_version_shown: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    status: StatusReport
    problems: tuple[VerifyProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class RepairResult:
    changes: tuple[RepairChange, ...]
    applied: bool
    #: INVALID indexes to drop by hand (repair never touches the schema)
    invalid_indexes: tuple[InvalidIndex, ...] = field(default=())


def _version(migration_set: MigrationSet, version: int | str | None) -> int | None:
    """``--to``'s version as a ledger key of the directory's layout."""
    if version is None or isinstance(version, int):
        return version
    return migration_set.version_key(version)


#: a directory discovered once for a command that runs over many databases (a fleet):
#: ``(directory, layout)`` and its migrations, set with :func:`discovered_once`
_DISCOVERED: contextvars.ContextVar[tuple[tuple[Path, str], MigrationSet] | None] = (
    contextvars.ContextVar("migrator_discovered", default=None)
)


@contextlib.contextmanager
def discovered_once(settings: Settings) -> Iterator[MigrationSet]:
    """Discover the migrations now; within the block (and the asyncio tasks it
    starts) :func:`load_migrations` of the same directory and layout returns them
    instead of reading the directory again."""
    migration_set = load_migrations(settings)
    token = _DISCOVERED.set(((settings.migrations_dir, settings.layout), migration_set))
    try:
        yield migration_set
    finally:
        _DISCOVERED.reset(token)


def load_migrations(settings: Settings) -> MigrationSet:
    """Discover the migrations; raise :class:`SourceError` (exit 2) on any directory
    problem (each with its path)."""
    known = _DISCOVERED.get()
    if known is not None and known[0] == (settings.migrations_dir, settings.layout):
        return known[1]
    migration_set = discover(
        settings.migrations_dir, settings.layout, origin=settings.origins.get("layout", "flag")
    )
    require_runnable(migration_set, [])
    return migration_set


async def _close(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        conn.terminate()


@dataclass
class DatabaseSession:
    """The connections of one command. ``control`` reads and writes the ledger outside
    the migrations' transactions and, for a command that changes anything, holds the
    migration lock (``lock``); it never runs migration SQL. Migrations run on a
    connection of their own (:meth:`migrating`)."""

    settings: Settings
    ledger: Ledger
    control: asyncpg.Connection
    lock: HeldLock | None = None
    _migrating: asyncpg.Connection | None = None
    #: the migrations' connection being opened (see :meth:`open_migrating`)
    _opening: asyncio.Future[asyncpg.Connection] | None = None

    def open_migrating(self) -> None:
        """Start opening the migrations' connection, to be had from :meth:`migrating`:
        the server starts the session while the caller plans (parses the files)."""
        if self._migrating is None and self._opening is None:
            self._opening = asyncio.ensure_future(self._open())

    async def migrating(self) -> asyncpg.Connection:
        """The connection the migrations run on (opened on first use)."""
        if self._opening is not None:
            opening, self._opening = self._opening, None
            self._migrating = await opening
        if self._migrating is None:
            self._migrating = await self._open()
        return self._migrating

    async def _open(self) -> asyncpg.Connection:
        conn = await connect(self.settings, session_settings=bounded_waits(self.settings))
        try:
            await _set_up(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def renew_migrating(self) -> asyncpg.Connection:
        """Close the migrations' connection and open a new one: a new session, which
        starts with the database's and role's defaults as they are now (a migration
        changed them with ``ALTER DATABASE ... SET`` or ``ALTER ROLE ... SET``). The
        control connection, and with it the migration lock, stays."""
        if self._migrating is not None:
            await _close(self._migrating)
            self._migrating = None
        return await self.migrating()

    async def close(self) -> None:
        if self._opening is not None:  # opened for a plan that then ran nothing
            opening, self._opening = self._opening, None
            with contextlib.suppress(Exception):  # not needed: its failure tells nothing
                self._migrating = await opening
        if self._migrating is not None:
            await _close(self._migrating)
        await _close(self.control)


def bounded_waits(settings: Settings) -> dict[str, str]:
    """Start-up settings of the runner's sessions: no wait for a lock on the ledger (or
    anything the runner itself touches) outlasts ``lock-wait``. A migration's own
    statements run under its ``lock_timeout`` instead (``SET LOCAL``, or ``SET`` then
    reset for a no-transaction file)."""
    return {"lock_timeout": f"{settings.lock_wait}ms"}


@contextlib.asynccontextmanager
async def database_session(
    settings: Settings, *, locked: bool, reporter: Reporter | None = None
) -> AsyncIterator[DatabaseSession]:
    """The connections and the ledger; with ``locked``, the migration lock is held on
    the control connection. Nothing is created here: callers create the ledger only
    once they are about to write to it, so a refused command leaves the database
    exactly as it was. Database errors outside a migration become one-line errors: a
    lock wait on the ledger that ran out names the session holding it."""
    reporter = reporter or Reporter()
    ledger = Ledger.from_settings(settings)
    control = await connect(
        settings,
        on_wait=lambda target, cause: reporter.database_waiting(target, cause, settings.wait),
        session_settings=bounded_waits(settings),
    )
    db = DatabaseSession(settings, ledger, control)
    what = f"ledger {ledger.display_name}"
    try:
        await _set_up(control)
        if locked:
            db.lock = await hold(
                control,
                ledger.lock_key,
                wait_ms=settings.lock_wait,
                what=what,
                on_wait=lambda holder: reporter.lock_waiting(what, holder),
            )
        yield db
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        if control.is_closed() and db.lock is not None:
            raise db.lock.lost("its connection closed") from None
        if control.is_closed() or is_connection_loss(exc):
            raise ConnectionFailed(
                f"lost the connection to the database: {server_message(exc)}",
                hint="check the server and run the command again",
            ) from None
        if is_lock_timeout(exc):
            raise await ledger_blocked(control, ledger, settings.lock_wait) from None
        raise await ledger_error(control, ledger, exc) from None
    finally:
        if db.lock is not None:
            await unlock(control, ledger.lock_key)
        await db.close()


async def _set_up(conn: asyncpg.Connection) -> None:
    """The runner's session set-up (:func:`migrator.runner.session.setup_sql`)."""
    setup = session.setup_sql(conn)
    if setup:
        await conn.execute(setup)


async def _unfinished_indexes(
    conn: asyncpg.Connection, entries: dict[int, LedgerEntry]
) -> list[InvalidIndex]:
    if any(entry.unfinished for entry in entries.values()):
        return await invalid_indexes(conn)
    return []


def _may_run(migration_set: MigrationSet, entries: Mapping[int, LedgerEntry]) -> bool:
    """Whether a run is likely to have something to do: a migration not applied, or a
    run left unfinished (then its connection is opened while the plan is made)."""
    return any(
        migration.version not in entries or entries[migration.version].unfinished
        for migration in migration_set.migrations
    )


def _version_after(entries: Mapping[int, LedgerEntry], results: Sequence[StepResult]) -> int | None:
    """The newest applied version once ``results`` completed on top of ``entries``
    (the ledger as read under the lock: no other runner changed it since)."""
    applied = {version for version, entry in entries.items() if not entry.unfinished}
    for result in results:
        if result.step.direction == "up":
            applied.add(result.step.version)
        else:
            applied.discard(result.step.version)
    # a Flyway repeatable has no place in the order (as in status)
    return max((v for v in applied if not is_repeatable_key(v)), default=None)


Planner = Callable[[MigrationSet, dict[int, LedgerEntry], list[InvalidIndex]], "Plan"]


async def _locked_run(
    settings: Settings,
    planner: Planner,
    reporter: Reporter | None,
    after_statement: AfterStatement | None,
) -> RunResult:
    """Discover, connect, lock, read the ledger, plan, and execute the plan."""
    from migrator.runner.batch import execute_plan

    reporter = reporter or Reporter()
    migration_set = load_migrations(settings)
    async with database_session(settings, locked=True, reporter=reporter) as db:
        control, ledger = db.control, db.ledger
        entries = await ledger.entries(control)
        invalid = await _unfinished_indexes(control, entries)
        if _may_run(migration_set, entries):
            # the migrations' session starts while the files to run are parsed
            db.open_migrating()
            plan = await asyncio.to_thread(planner, migration_set, entries, invalid)
        else:
            plan = planner(migration_set, entries, invalid)
        for note in plan.notes:
            reporter.note(note)
        if plan.steps and not entries:  # rows were read, so the ledger exists
            await ledger.ensure(control)
        results = []
        if plan.steps:
            results = await execute_plan(
                await db.migrating(),
                plan.steps,
                ledger=ledger,
                retry=plan.retry,
                reporter=reporter,
                after_statement=after_statement,
                lock=db.lock,
                renew=db.renew_migrating,
            )
    current = _version_after(entries, results)
    return RunResult(
        plan.direction,
        tuple(results),
        plan.notes,
        current,
        None if current is None else migration_set.shown_version(current),
    )


async def up(
    settings: Settings,
    options: UpOptions | None = None,
    *,
    reporter: Reporter | None = None,
    after_statement: AfterStatement | None = None,
) -> RunResult:
    """Apply pending migrations, oldest first, each exactly once (see
    :func:`~migrator.runner.schedule.plan_up` for what is chosen and refused)."""
    from migrator.runner.schedule import plan_up

    chosen = options or UpOptions()
    return await _locked_run(
        settings,
        lambda migration_set, entries, invalid: plan_up(
            migration_set,
            entries,
            settings,
            to=_version(migration_set, chosen.to),
            resume=chosen.resume,
            phase=chosen.phase,
            invalid_indexes=invalid,
        ),
        reporter,
        after_statement,
    )


async def down(
    settings: Settings,
    options: DownOptions | None = None,
    *,
    reporter: Reporter | None = None,
    after_statement: AfterStatement | None = None,
) -> RunResult:
    """Revert applied migrations, newest first (one by default; see
    :func:`~migrator.runner.schedule.plan_down`)."""
    from migrator.runner.schedule import plan_down

    chosen = options or DownOptions()
    return await _locked_run(
        settings,
        lambda migration_set, entries, invalid: plan_down(
            migration_set,
            entries,
            settings,
            steps=chosen.steps,
            to=_version(migration_set, chosen.to),
            resume=chosen.resume,
            invalid_indexes=invalid,
        ),
        reporter,
        after_statement,
    )


async def pending_plan(
    settings: Settings, options: UpOptions | None = None, *, reporter: Reporter | None = None
) -> Plan:
    """What ``up`` would run now (``up --sql``): reads the ledger, takes no lock,
    creates and changes nothing."""
    from migrator.runner.schedule import plan_up

    options = options or UpOptions()
    migration_set = load_migrations(settings)
    async with database_session(settings, locked=False, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        invalid = await _unfinished_indexes(conn, entries)
    return plan_up(
        migration_set,
        entries,
        settings,
        to=_version(migration_set, options.to),
        resume=options.resume,
        phase=options.phase,
        invalid_indexes=invalid,
    )


async def status(settings: Settings, *, reporter: Reporter | None = None) -> StatusReport:
    """Every migration's state (read-only; a missing ledger means all pending)."""
    from migrator.runner.status import build_status

    migration_set = load_migrations(settings)
    async with database_session(settings, locked=False, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        running_by = await _runner_at_work(conn, ledger, entries)
        baselined = await ledger.baselined_versions(conn)
    return build_status(migration_set, entries, ledger.display_name, running_by, baselined)


async def verify(settings: Settings, *, reporter: Reporter | None = None) -> VerifyReport:
    """Check the ledger against the files and the schema (read-only)."""
    from migrator.runner.status import build_status, verify_problems

    migration_set = load_migrations(settings)
    async with database_session(settings, locked=False, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        invalid = await invalid_indexes(conn)
        running_by = await _runner_at_work(conn, ledger, entries)
    report = build_status(migration_set, entries, ledger.display_name, running_by)
    problems = verify_problems(migration_set, entries, invalid, running_by)
    return VerifyReport(report, tuple(problems))


async def _runner_at_work(
    conn: asyncpg.Connection, ledger: Ledger, entries: Mapping[int, LedgerEntry]
) -> str | None:
    """Who holds the migration lock, when the ledger shows an unfinished run."""
    if not any(entry.unfinished for entry in entries.values()):
        return None
    return await lock_holder(conn, ledger.lock_key)


async def baseline(
    settings: Settings, version: int | str, *, reporter: Reporter | None = None
) -> list[Migration]:
    """Record every migration up to ``version`` that is not in the ledger as applied,
    without running it (adopting an existing database). Returns those migrations."""
    migration_set = load_migrations(settings)
    version = migration_set.version_key(version) if isinstance(version, str) else version
    async with database_session(settings, locked=True, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        refuse_unfinished(entries)
        chosen = [
            migration
            for migration in migration_set.migrations
            if migration.version <= version and migration.version not in entries
        ]
        if chosen:
            await ledger.ensure(conn)
            await ledger.record_baseline(conn, chosen, version)
    return chosen


def refuse_unfinished(entries: Mapping[int, LedgerEntry]) -> None:
    """A baseline waits until no run is unfinished (failed or partial)."""
    unfinished = [entry for entry in entries.values() if entry.unfinished]
    if unfinished:
        raise RefusedState(
            f"cannot baseline: version {unfinished[0].version} has an unfinished run",
            hint="resolve it first (`migrate status`, `migrate repair`)",
        )


async def repair(
    settings: Settings,
    *,
    version: int | str | None = None,
    choice: RepairChoice | None = None,
    apply: bool = False,
    reporter: Reporter | None = None,
) -> RepairResult:
    """Compute the ledger changes ``repair`` proposes; with ``apply``, make them (in
    one transaction, under the migration lock). Never touches the schema."""
    migration_set = load_migrations(settings)
    version = _version(migration_set, version)
    async with database_session(settings, locked=apply, reporter=reporter) as db:
        conn, ledger = db.control, db.ledger
        entries = await ledger.entries(conn)
        changes = plan_repair(migration_set, entries, version=version, choice=choice)
        invalid = await invalid_indexes(conn)
        if apply and changes:
            async with conn.transaction():
                for change in changes:
                    detail = f"repair: {change.change}"
                    if change.kind == "forget":
                        await ledger.forget(conn, change.version, change.name, detail)
                    elif change.kind == "mark-applied":
                        assert change.migration is not None
                        await ledger.record_applied(
                            conn,
                            change.migration,
                            duration_ms=None,
                            action="repair",
                            detail=detail,
                        )
                    else:
                        assert change.migration is not None
                        await ledger.update_checksums(conn, change.migration, detail)
    return RepairResult(tuple(changes), apply and bool(changes), tuple(invalid))
