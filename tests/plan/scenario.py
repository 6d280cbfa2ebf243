"""Apply a base schema, then either the naive SQL or the planned migrations (through
the real runner), and read back what the planner must guarantee: the schema, the data,
and no leftovers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from migrator.config import Settings
from migrator.plan.planner import PlanResult, plan_file, write_plan
from migrator.plan.recipes.target import PlanOptions
from migrator.runner.execute import apply_migration
from migrator.schema.diff import diff_lines
from migrator.schema.introspect import read_schema
from migrator.schema.model import Schema, SchemaObject
from migrator.source import discover


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def naive_error(dsn: str, sql: str) -> str | None:
    """The SQLSTATE the naive SQL fails with (in one transaction), or None."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        return str(error.sqlstate)
    finally:
        await conn.close()
    return None


async def fetch(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def settings_for(directory: Path) -> Settings:
    return Settings(
        migrations_dir=directory, lock_timeout=2000, retry_delay=20, retry_max_delay=100
    )


async def apply_all(
    dsn: str,
    directory: Path,
    *,
    versions: set[int] | None = None,
    before_phase: Callable[[str], Awaitable[None]] | None = None,
) -> list[str]:
    """Apply the migrations of ``directory`` (all, or ``versions``) in order through the
    runner; ``before_phase(phase)`` is awaited before the first migration of each
    phase. Returns the labels applied."""
    settings = settings_for(directory)
    migration_set = discover(directory)
    assert not migration_set.problems, migration_set.problems
    applied = []
    seen: set[str] = set()
    conn = await asyncpg.connect(dsn)
    try:
        for migration in migration_set.migrations:
            if versions is not None and migration.version not in versions:
                continue
            phase = migration.phase or "expand"
            if phase not in seen:
                seen.add(phase)
                if before_phase is not None:
                    await before_phase(phase)
            await apply_migration(conn, migration, settings=settings)
            applied.append(migration.label)
    finally:
        await conn.close()
    return applied


async def revert(dsn: str, directory: Path, version: int) -> None:
    """Run the down file of ``version`` through the runner, from its first statement."""
    (migration,) = [m for m in discover(directory).migrations if m.version == version]
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migration(conn, migration, "down", settings=settings_for(directory))
    finally:
        await conn.close()


def _without_positions(schema: Schema, ignore: set[tuple[str, str]]) -> Schema:
    """Column positions differ by design (a replacement column is added last)."""
    objects = []
    for obj in schema:
        if obj.key in ignore:
            continue
        if obj.kind == "column":
            obj = SchemaObject(
                obj.kind,
                obj.name,
                tuple((k, v) for k, v in obj.attributes if k != "position"),
                obj.parent,
                obj.label,
            )
        objects.append(obj)
    return Schema.of(objects)


async def schema_of(dsn: str, ignore: set[tuple[str, str]] = frozenset()) -> Schema:  # type: ignore[assignment]
    conn = await asyncpg.connect(dsn)
    try:
        return _without_positions(await read_schema(conn), set(ignore))
    finally:
        await conn.close()


async def schema_difference(
    naive_dsn: str, planned_dsn: str, ignore: set[tuple[str, str]]
) -> list[str]:
    return diff_lines(await schema_of(naive_dsn), await schema_of(planned_dsn, ignore))


LEFTOVERS = """
SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL
SELECT 'function ' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND proname LIKE 'migrator%'
UNION ALL
SELECT 'column ' || attrelid::regclass || '.' || attname FROM pg_attribute a
 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND attnum > 0
   AND NOT attisdropped AND attname LIKE '%\\_new'
UNION ALL
SELECT 'constraint ' || conname FROM pg_constraint
 WHERE conname LIKE 'migrator%' AND conrelid::regclass::text NOT LIKE 'migrator_ledger%'
UNION ALL
SELECT 'invalid index ' || indexrelid::regclass FROM pg_index WHERE NOT indisvalid
UNION ALL
SELECT 'index ' || indexrelid::regclass FROM pg_index
 WHERE indexrelid::regclass::text LIKE '%\\_new'
"""


async def leftovers(dsn: str) -> list[str]:
    return [row[0] for row in await fetch(dsn, LEFTOVERS)]


@dataclass
class Project:
    """A migrations directory with the base schema as migration 001."""

    directory: Path
    change_file: Path
    base_sql: str
    results: list[PlanResult] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, base_sql: str) -> Project:
        directory = root / "migrations"
        directory.mkdir()
        (directory / "001_base.up.sql").write_text(base_sql)
        (directory / "001_base.down.sql").write_text("SELECT 1;\n")
        return cls(directory, root / "change.sql", base_sql)

    def plan(self, change_sql: str, **options: Any) -> PlanResult:
        self.change_file.write_text(change_sql)
        result = plan_file(
            self.change_file,
            self.directory,
            lock_timeout_ms=2000,
            options=PlanOptions(batch_size=options.pop("batch_size", 1000), pause_ms=0),
            **options,
        )
        write_plan(result)
        self.results.append(result)
        return result
