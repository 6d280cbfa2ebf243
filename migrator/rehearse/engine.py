"""``migrate dry-run``: rehearse every pending migration on a throwaway database.

For each migration, in order (the stairway): optionally fill empty tables with
synthetic rows; read the schema; apply it (observing locks on pre-existing relations
between statements, rewrites, INVALID indexes left); revert it and check the schema
equals the one before; apply it again and check the schema equals the one after the
first apply. An up-only migration is applied once and reported irreversible. The first
migration that cannot be applied (or applied again) ends the rehearsal: the ones after
it depend on it; unless the failing file ran in a transaction and left the schema as
the first up built it, in which case the rehearsal goes on from there.

The database is always a new one (``migrator_rehearsal_*``), created for the
rehearsal and dropped after it, on the embedded server or on ``--database-url``'s.

The migrations meet the sessions ``migrate up`` gives them (:class:`RehearsalSession`):
the migration lock is held on a connection of its own, which writes a no-transaction
file's progress and is checked after each migration (a migration that ends the other
sessions fails the rehearsal as it fails ``up``), and a migration that changes the
defaults of new sessions (``ALTER DATABASE ... SET``) is followed by a new session.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from migrator.aio import run
from migrator.config import Settings
from migrator.db.connection import connect
from migrator.db.ledger import Ledger
from migrator.db.lock import hold
from migrator.errors import (
    ConnectionFailed,
    LockLost,
    MigrationFailed,
    RefusedState,
    UsageError,
)
from migrator.rehearse.lint_gate import lint_before_rehearsal
from migrator.rehearse.observe import (
    LockObserver,
    invalid_index_names,
    rebuilt_indexes,
    rewritten,
    snapshot_relations,
    truncated_oids,
)
from migrator.rehearse.report import (
    ALREADY_APPLIED,
    FAILED,
    NOT_RUN,
    REHEARSED,
    LintSummary,
    MigrationRehearsal,
    RehearsalReport,
)
from migrator.rehearse.roles import drop_new_roles, migration_names, only_roles, role_names
from migrator.rehearse.scratch import scratch_database
from migrator.rehearse.seed import seed_empty_tables
from migrator.rehearse.server import rehearsal_server
from migrator.rehearse.session import RehearsalSession
from migrator.runner.execute import apply_migration
from migrator.runner.flows import load_migrations
from migrator.schema.diff import round_trip_differences
from migrator.schema.incremental import SchemaReader
from migrator.schema.introspect import Exclusions, excluded_relations, read_schema
from migrator.schema.load import load_schema_path
from migrator.schema.model import Schema
from migrator.source.discovery import require_runnable
from migrator.source.model import Migration, MigrationFile, MigrationSet


@dataclass(frozen=True)
class RehearsalOptions:
    #: a server to create the throwaway database on; ``None``: the embedded server
    server_url: str | None = None
    #: start from this schema file instead of an empty database
    from_schema: Path | None = None
    #: with ``from_schema``: the migrations up to this version are in it already
    applied_through: int | None = None
    #: synthetic rows per empty table before each migration (0: none)
    seed_rows: int = 0
    #: run the linter first and fail on error-level findings
    lint: bool = True
    #: where the PostgreSQL binaries are (default: found, see migrator.ephemeral)
    bin_dir: Path | None = None


class RehearsalListener(Protocol):
    """Told as the rehearsal goes, so that a caller can report it live
    (``migrate dry-run`` prints each migration's lines as soon as it is done)."""

    def linted(self, lint: LintSummary) -> None:
        """The linter ran (or was skipped); the rehearsal starts next."""

    def starting(self, migration: Migration, position: int, total: int) -> None:
        """The stairway of ``migration`` (number ``position`` of ``total``) begins."""

    def finished(self, result: MigrationRehearsal) -> None:
        """One migration's result, in order: rehearsed, failed, already applied or not run."""


class SilentListener:
    """A listener that reports nothing (the report at the end says it all)."""

    def linted(self, lint: LintSummary) -> None:
        pass

    def starting(self, migration: Migration, position: int, total: int) -> None:
        pass

    def finished(self, result: MigrationRehearsal) -> None:
        pass


@dataclass
class KnownSchema:
    """The schema the rehearsal database has now, when the last catalog read saw it
    and nothing changed since (``None``: unknown). The stairway of one migration ends
    with a read of the database as the next migration starts from it, so that
    migration's "before" needs no read of its own. With a ``reader``, each read
    re-reads only the relations that changed since the previous one."""

    schema: Schema | None = None
    reader: SchemaReader | None = None


async def _read(
    connection: Any,
    settings: Settings,
    roles: frozenset[str] | None,
    known: KnownSchema,
    *,
    remember: bool = False,
) -> Schema:
    """The schema with the cluster's roles: all of them, or (on a shared server) only
    those named in ``roles``, so that other sessions' role changes are not compared.
    With ``remember``, the whole schema read is remembered in ``known``."""
    if known.reader is not None:
        schema = await known.reader.read(connection)
    else:
        exclusions = Exclusions.of(settings)
        schema = await read_schema(connection, exclusions=exclusions, include_roles=True)
    if remember:
        known.schema = schema
    return schema if roles is None else only_roles(schema, roles)


async def _schema_before(
    connection: Any,
    settings: Settings,
    roles: frozenset[str] | None,
    known: KnownSchema,
    seeded: bool,
) -> Schema:
    """The schema before a migration: the one the previous stairway ended on, unless
    rows were seeded meanwhile (which may move identity sequences), else a read."""
    schema = known.schema
    known.schema = None  # the migration is about to change it
    if schema is None or seeded:
        return await _read(connection, settings, roles, known)
    return schema if roles is None else only_roles(schema, roles)


async def _apply(
    db: RehearsalSession,
    migration: Migration,
    direction: str,
    settings: Settings,
    ledger: Ledger,
    observer: LockObserver | None = None,
) -> tuple[int | None, str | None]:
    """Apply or revert; ``(duration_ms, None)`` or ``(None, error line)``. As in
    ``migrate up``, the lock must still be held after the migration, and a migration
    that changed new sessions' defaults is followed by a new session."""
    try:
        result = await apply_migration(
            db.conn,
            migration,
            "up" if direction == "up" else "down",
            settings=settings,
            ledger=ledger,
            after_statement=observer,
            lock=db.lock,
        )
        if db.lock is not None:
            await db.lock.check()
    except (MigrationFailed, RefusedState, ConnectionFailed, LockLost) as exc:
        return None, _rehearsal_error(exc.message, migration, direction)
    if result.step.changes_session_defaults:
        await db.renew()
    return result.duration_ms, None


def _rehearsal_error(message: str, migration: Migration, direction: str) -> str:
    """The runner's message, with advice for a rehearsal instead of the runner's
    (``--resume``, ``repair``: nothing to resume in a throwaway database)."""
    file = migration.up if direction == "up" or migration.down is None else migration.down
    advice = f"fix {file.path.name}, then rehearse again"
    if not file.transactional:
        advice = (
            "it runs without a transaction: in production, the statements before the "
            f"failing one would stay applied; {advice}"
        )
    return f"{message} ({advice})"


async def _apply_sampled(
    db: RehearsalSession,
    dsn: str,
    migration: Migration,
    settings: Settings,
    ledger: Ledger,
    observer: LockObserver,
) -> tuple[int | None, str | None]:
    """Apply a no-transaction migration while a second connection samples its locks."""
    watcher = await connect(dsn)
    try:
        async with observer.sampling(watcher, db.conn.get_server_pid(), migration.up):
            return await _apply(db, migration, "up", settings, ledger, observer)
    finally:
        if not watcher.is_closed():  # a migration may have ended its session
            with contextlib.suppress(Exception):
                await watcher.close(timeout=5)


async def _backfill_progress(
    connection: Any, ledger: Ledger, migration: Migration
) -> dict[str, Any] | None:
    """What the runner recorded for a batched backfill (``None`` for other migrations)."""
    if migration.up.directives.backfill is None:  # only a backfill records any
        return None
    entry = (await ledger.entries(connection)).get(migration.version)
    progress = entry.progress if entry is not None else None
    return progress if isinstance(progress, dict) and progress.get("backfill") else None


async def _seed(connection: Any, settings: Settings, rows: int) -> list[str]:
    if rows <= 0:
        return []
    excluded = await excluded_relations(connection, Exclusions.of(settings))
    result = await seed_empty_tables(connection, rows, excluded)
    return [f"{table}: not seeded ({why})" for table, why in result.skipped]


async def rehearse_migration(
    db: RehearsalSession,
    migration: Migration,
    settings: Settings,
    ledger: Ledger,
    *,
    seed_rows: int = 0,
    shared_server: bool = False,
    known: KnownSchema | None = None,
) -> MigrationRehearsal:
    """The stairway of one migration on ``db``'s database. With ``db.dsn``, a
    no-transaction migration's locks are also sampled from a second connection while
    it runs. On a ``shared_server``, only the roles the migration's
    files name are compared (other sessions may create or drop roles meanwhile).
    ``known``: the schema the database has now, if known; updated to the schema the
    stairway leaves (or ``None`` when it is not known)."""
    known = known if known is not None else KnownSchema()
    roles = migration_names([migration]) if shared_server else None
    notes = tuple(await _seed(db.conn, settings, seed_rows))
    base = MigrationRehearsal(
        version=migration.version,
        name=migration.name,
        status=FAILED,
        reversible=migration.reversible,
        label=migration.label,
        transactional=migration.up.transactional,
        segments=len(migration.up.segments) if migration.up.segmented else 1,
        notes=notes,
    )
    before = await _schema_before(db.conn, settings, roles, known, seeded=seed_rows > 0)
    ledger_oids = set(await excluded_relations(db.conn, Exclusions.of(settings)))
    relations = {
        oid: relation
        for oid, relation in (await snapshot_relations(db.conn)).items()
        if oid not in ledger_oids
    }
    invalid_before = await invalid_index_names(db.conn)
    observer = LockObserver(relations)
    if migration.up.transactional or db.dsn is None:
        duration, error = await _apply(db, migration, "up", settings, ledger, observer)
    else:
        duration, error = await _apply_sampled(db, db.dsn, migration, settings, ledger, observer)
    if error is not None:  # a failed CREATE INDEX CONCURRENTLY leaves an INVALID index
        left: tuple[str, ...] = ()
        if not db.conn.is_closed():  # (the migration may have ended its own session)
            left = tuple(sorted(await invalid_index_names(db.conn) - invalid_before))
        return replace(
            base, up_ok=False, error=error, locks=tuple(observer.locks()), invalid_indexes=left
        )
    after_up = await _read(db.conn, settings, roles, known, remember=True)
    truncated = await truncated_oids(db.conn, migration.up)
    relations_after = await snapshot_relations(db.conn)
    rewrites = tuple(rewritten(relations, relations_after, truncated))
    observer.implied_by_rewrites(rewrites, f"{migration.up.path.name} (held by its rewrite)")
    notes = (
        *notes,
        *(
            f"truncated {relations[oid].name} (every row deleted)"
            for oid in sorted(truncated)
            if oid in relations
        ),
        *(
            f"rebuilt index {index} (reads that use it wait for the rebuild)"
            for index in rebuilt_indexes(relations, relations_after, truncated)
        ),
    )
    observed = replace(
        base,
        up_ok=True,
        duration_ms=duration,
        locks=tuple(observer.locks()),
        notes=notes,
        rewrites=rewrites,
        invalid_indexes=tuple(sorted(await invalid_index_names(db.conn) - invalid_before)),
    )
    progress = await _backfill_progress(db.conn, ledger, migration)
    if progress is not None:
        observed = replace(
            observed,
            backfill_batches=int(progress.get("batches") or 0),
            backfill_rows=int(progress.get("rows_updated") or 0),
        )
    if not migration.reversible:
        return replace(observed, status=REHEARSED, notes=(*notes, "up-only: irreversible"))
    if migration.down is not None and migration.down.empty:  # no round trip to check
        return replace(
            observed,
            status=REHEARSED,
            reversible=False,
            notes=(*notes, "empty down: nothing to undo"),
        )
    known.schema = None  # down changes it
    down_duration, error = await _apply(db, migration, "down", settings, ledger)
    if error is not None:
        failed = replace(observed, down_ok=False, error=f"down failed: {error}")
        return await _go_on_if_as_after_up(
            db, migration, migration.down, settings, ledger, roles, after_up, failed, known
        )
    after_down = await _read(db.conn, settings, roles, known)
    round_trip, order_notes = round_trip_differences(before, after_down)
    reverted = replace(
        observed,
        notes=(*observed.notes, *order_notes),
        down_ok=True,
        down_duration_ms=down_duration,
        round_trip_ok=not round_trip,
        round_trip_diff=tuple(round_trip),
    )
    _, error = await _apply(db, migration, "up", settings, ledger)
    if error is not None:
        failed = replace(reverted, reapply_ok=False, error=f"up after down failed: {error}")
        return await _go_on_if_as_after_up(
            db, migration, migration.up, settings, ledger, roles, after_up, failed, known
        )
    again, _ = round_trip_differences(
        after_up, await _read(db.conn, settings, roles, known, remember=True)
    )
    if again:
        reverted = replace(
            reverted,
            round_trip_ok=False,
            round_trip_diff=(
                *reverted.round_trip_diff,
                *(f"after up again: {line}" for line in again),
            ),
        )
    return replace(reverted, status=REHEARSED, reapply_ok=True)


async def _go_on_if_as_after_up(
    db: RehearsalSession,
    migration: Migration,
    failed_file: MigrationFile | None,
    settings: Settings,
    ledger: Ledger,
    roles: frozenset[str] | None,
    after_up: Schema,
    result: MigrationRehearsal,
    known: KnownSchema,
) -> MigrationRehearsal:
    """After a failed down or second up: when the failing file ran in one transaction
    (so it left nothing behind) and the schema is the one the first up built (a down
    that changed nothing, a down that failed), the database is where the migrations
    after this one expect it. The ledger is set to match and the rehearsal goes on, so
    one broken down does not hide every later migration's rehearsal."""
    if failed_file is None or not failed_file.transactional:
        return result
    now = await _read(db.conn, settings, roles, known, remember=True)
    if round_trip_differences(after_up, now)[0]:
        return result
    entry = (await ledger.entries(db.conn)).get(migration.version)
    if entry is None or entry.unfinished:
        await ledger.record_applied(
            db.conn,
            migration,
            duration_ms=None,
            action="repair",
            detail="the schema is as after up: the rehearsal goes on from it",
        )
    return replace(
        result,
        went_on=True,
        notes=(
            *result.notes,
            "the schema is as its up left it, so the migrations after it are rehearsed on it",
        ),
    )


def _already_applied(
    migration_set: MigrationSet, file_versions: Sequence[int], options: RehearsalOptions
) -> set[int]:
    """Versions the schema file holds already: up to ``--applied-through``, else the
    versions the file records."""
    versions = {migration.version for migration in migration_set.migrations}
    if options.applied_through is not None:
        return {v for v in versions if v <= options.applied_through}
    if file_versions:
        return set(file_versions) & versions
    raise UsageError(
        f"{options.from_schema} does not say which migrations it already contains",
        hint="pass --applied-through VERSION (0 when it contains none of them)",
    )


async def _prepare_from_schema(
    connection: Any,
    migration_set: MigrationSet,
    settings: Settings,
    ledger: Ledger,
    options: RehearsalOptions,
) -> tuple[set[int], list[str]]:
    assert options.from_schema is not None
    schema_file, created_roles = await load_schema_path(
        connection, options.from_schema, ledger_table=settings.ledger_table
    )
    applied = _already_applied(migration_set, schema_file.applied_versions, options)
    await ledger.ensure(connection)
    if applied:
        done = [m for m in migration_set.migrations if m.version in applied]
        await ledger.record_baseline(connection, done, max(applied))
    return applied, created_roles


async def _rehearse_database(
    dsn: str,
    migration_set: MigrationSet,
    settings: Settings,
    options: RehearsalOptions,
    created_roles: list[str],
    listener: RehearsalListener,
) -> tuple[str, list[MigrationRehearsal]]:
    """Rehearse on the database of ``dsn``; the roles a schema file needed are added to
    ``created_roles`` as soon as they exist (so they are dropped even after a failure)."""
    ledger = Ledger.from_settings(settings)
    db = RehearsalSession(await connect(dsn), dsn)
    try:
        db.lock = await hold(
            await connect(dsn), ledger.lock_key, wait_ms=0, what=f"ledger {ledger.display_name}"
        )
        connection = db.conn
        version = str(await connection.fetchval("SHOW server_version"))
        applied: set[int] = set()
        if options.from_schema is not None:
            applied, roles = await _prepare_from_schema(
                connection, migration_set, settings, ledger, options
            )
            created_roles.extend(roles)
        results: list[MigrationRehearsal] = []
        known = KnownSchema(reader=SchemaReader(Exclusions.of(settings), include_roles=True))
        stopped = False
        total = len(migration_set.migrations)
        for position, migration in enumerate(migration_set.migrations, start=1):
            if migration.version in applied or stopped:
                status = ALREADY_APPLIED if migration.version in applied else NOT_RUN
                results.append(
                    MigrationRehearsal(
                        migration.version,
                        migration.name,
                        status,
                        migration.reversible,
                        label=migration.label,
                    )
                )
                listener.finished(results[-1])
                continue
            listener.starting(migration, position, total)
            result = await rehearse_migration(
                db,
                migration,
                settings,
                ledger,
                seed_rows=options.seed_rows,
                shared_server=options.server_url is not None,
                known=known,
            )
            results.append(result)
            listener.finished(result)
            stopped = not result.went_on and (
                not result.up_ok or result.reapply_ok is False or result.down_ok is False
            )
        return version, results
    finally:
        await db.close()


async def _rehearse_on(
    admin_dsn: str,
    migration_set: MigrationSet,
    settings: Settings,
    options: RehearsalOptions,
    listener: RehearsalListener,
) -> tuple[str, list[MigrationRehearsal]]:
    """Rehearse in a throwaway database on the server of ``admin_dsn``. Roles are
    cluster-wide: the ones the rehearsal created (that the migrations or the schema
    file name, and that did not exist before) are dropped afterwards, whatever
    happened, so that the next rehearsal on the same server starts clean."""
    created_roles: list[str] = []
    admin = await connect(
        admin_dsn, timeout_ms=settings.connect_timeout, wait_ms=settings.wait or None
    )
    try:
        roles_before = await role_names(admin)
    finally:
        await admin.close()
    try:
        async with scratch_database(admin_dsn, timeout_ms=settings.connect_timeout) as dsn:
            return await _rehearse_database(
                dsn, migration_set, settings, options, created_roles, listener
            )
    finally:
        admin = await connect(admin_dsn, timeout_ms=settings.connect_timeout)
        try:
            names = migration_names(migration_set.migrations) | frozenset(created_roles)
            await drop_new_roles(admin, roles_before, names)
        finally:
            await admin.close()


def _require_rehearsable(migration_set: MigrationSet, applied_through: int | None) -> None:
    """Refuse (exit 2, every problem listed) before starting a server when a file the
    rehearsal would run cannot run as written (a syntax error, a COMMIT in a
    transactional file, ...), as ``migrate up`` refuses its pending files."""
    files = [
        migration_file
        for migration in migration_set.migrations
        if applied_through is None or migration.version > applied_through
        for migration_file in migration.files()
    ]
    require_runnable(
        migration_set, files, hint="nothing was rehearsed; fix the files and run it again"
    )


def _check_applied_through(migration_set: MigrationSet, version: int | None) -> None:
    """``--applied-through`` past the last migration would rehearse nothing and pass:
    most likely a typo, so it is refused."""
    if version is None:
        return
    last = max((m.version for m in migration_set.migrations), default=0)
    if version < 0 or version > last:
        raise UsageError(
            f"--applied-through {version}: no such migration (the versions go up to {last})",
            hint="give the version of the last migration the schema file contains, or 0 for none",
        )


def rehearse(
    settings: Settings,
    options: RehearsalOptions,
    listener: RehearsalListener | None = None,
) -> RehearsalReport:
    """Lint, then rehearse every pending migration on a throwaway database; the
    embedded server (or the throwaway database) is removed whatever happens.
    ``listener`` hears of the lint result and of each migration as it completes."""
    listener = listener or SilentListener()
    began = time.monotonic()
    if options.applied_through is not None and options.from_schema is None:
        raise UsageError("--applied-through needs --from-schema FILE")
    migration_set = load_migrations(settings)
    _check_applied_through(migration_set, options.applied_through)
    _require_rehearsable(migration_set, options.applied_through)
    lint = (
        lint_before_rehearsal(settings)
        if options.lint
        else LintSummary(ran=False, note="skipped (--no-lint)")
    )
    listener.linted(lint)
    with rehearsal_server(options.server_url, bin_dir=options.bin_dir) as server:
        version, results = run(
            _rehearse_on(server.admin_dsn, migration_set, settings, options, listener)
        )
    return RehearsalReport(
        target=server.description,
        server_version=version,
        migrations=tuple(results),
        lint=lint,
        schema_file=str(options.from_schema) if options.from_schema else None,
        seed_rows=options.seed_rows,
        server_start_ms=server.start_ms,
        total_ms=round((time.monotonic() - began) * 1000),
    )
