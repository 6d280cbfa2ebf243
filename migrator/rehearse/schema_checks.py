"""``migrate schema dump`` and ``migrate schema verify`` as functions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from migrator.config import Settings
from migrator.db.connection import connect
from migrator.db.ledger import Ledger
from migrator.errors import MigrationFailed, RefusedState
from migrator.rehearse.scratch import scratch_database
from migrator.rehearse.server import rehearsal_server
from migrator.rehearse.session import RehearsalSession
from migrator.runner.execute import apply_migration
from migrator.runner.flows import load_migrations
from migrator.schema.dump import dump_schema
from migrator.schema.introspect import Exclusions, read_schema
from migrator.schema.verify import compare_with_file
from migrator.source.model import MigrationSet


async def _applied_versions(dsn: str | None, settings: Settings) -> list[int]:
    connection = await connect(dsn)
    try:
        entries = await Ledger.from_settings(settings).entries(connection)
    finally:
        await connection.close()
    return sorted(v for v, entry in entries.items() if entry.state == "applied")


def dump_database(settings: Settings) -> str:
    """The schema file of the configured database (``--database-url``, ``DATABASE_URL``
    or libpq's ``PG*`` variables)."""
    versions = asyncio.run(_applied_versions(settings.database_url, settings))
    return dump_schema(settings.database_url, Exclusions.of(settings), versions)


async def apply_all(dsn: str, migration_set: MigrationSet, settings: Settings) -> list[int]:
    """Apply every migration, in order, on the (throwaway) database at ``dsn``; after a
    migration that changed new sessions' defaults (``ALTER DATABASE ... SET``), the
    rest run in a new session, as in ``migrate up``."""
    db = RehearsalSession(await connect(dsn), dsn)
    ledger = Ledger.from_settings(settings)
    try:
        for migration in migration_set.migrations:
            try:
                result = await apply_migration(
                    db.conn, migration, "up", settings=settings, ledger=ledger
                )
            except (MigrationFailed, RefusedState) as exc:
                raise MigrationFailed(
                    f"the migrations do not apply on an empty database: {exc.one_line()}",
                    hint="run `migrate dry-run` for the details",
                ) from None
            if result.step.changes_session_defaults:
                await db.renew()
    finally:
        await db.close()
    return [migration.version for migration in migration_set.migrations]


def dump_migrations(settings: Settings) -> str:
    """The schema file of what the migrations build, made on the embedded server."""
    migration_set = load_migrations(settings)

    async def build(admin_dsn: str) -> str:
        async with scratch_database(admin_dsn, timeout_ms=settings.connect_timeout) as dsn:
            versions = await apply_all(dsn, migration_set, settings)
            return await asyncio.to_thread(dump_schema, dsn, Exclusions.of(settings), versions)

    with rehearsal_server(None) as server:
        return asyncio.run(build(server.admin_dsn))


def verify_schema_file(settings: Settings, path: Path) -> list[str]:
    """Differences between the schema the migrations build and the schema in ``path``
    (empty when they match), both read from the catalog of the embedded server."""
    migration_set = load_migrations(settings)
    exclusions = Exclusions.of(settings)

    async def compare(admin_dsn: str) -> list[str]:
        async with scratch_database(admin_dsn, timeout_ms=settings.connect_timeout) as dsn:
            await apply_all(dsn, migration_set, settings)
            connection = await connect(dsn)
            try:
                actual = await read_schema(connection, exclusions=exclusions)
            finally:
                await connection.close()
        async with scratch_database(admin_dsn, timeout_ms=settings.connect_timeout) as scratch_dsn:
            scratch = await connect(scratch_dsn)
            try:
                return await compare_with_file(actual, path, scratch, exclusions)
            finally:
                await scratch.close()

    with rehearsal_server(None) as server:
        return asyncio.run(compare(server.admin_dsn))
