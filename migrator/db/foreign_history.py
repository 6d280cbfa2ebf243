"""Other migration tools' history tables, read as those tools write them.

``migrate baseline --from TOOL`` adopts a database that dbmate, golang-migrate, goose,
Flyway, diesel or sqlx migrated. Each tool keeps its own table; this module knows
each one's name and columns (from the tools' own sources) and turns its rows into a
:class:`ForeignHistory`: which versions the tool applied, and which rows say a run
failed part-way. Reading never writes: the other tool's table stays as it is.

- dbmate, ``schema_migrations (version varchar(128) PRIMARY KEY)``: one row per
  applied version (a rollback deletes it).
- golang-migrate, ``schema_migrations (version bigint PRIMARY KEY, dirty boolean)``:
  one row; every version up to ``version`` is applied; ``dirty``: the last run failed
  part-way.
- goose, ``goose_db_version (id, version_id bigint, is_applied boolean, tstamp)``:
  append-only; the newest row (highest ``id``) of a version says whether it is
  applied; version 0 is goose's own first row.
- Flyway, ``flyway_schema_history (installed_rank, version, description, type,
  script, checksum, ..., success)``: one row per run; ``success = false`` is a failed
  run; type ``BASELINE``: everything up to that version; ``UNDO_*`` / ``DELETE`` rows
  take a version back; no version: a repeatable (``R__``), by its description.
- diesel, ``__diesel_schema_migrations (version varchar(50) PRIMARY KEY, run_on)``:
  one row per applied version (the folder name up to its first ``_``, without ``-``).
- sqlx, ``_sqlx_migrations (version bigint PRIMARY KEY, description, installed_on,
  success, checksum bytea, execution_time)``: one row per version; ``success =
  false``: the run did not finish (sqlx calls it dirty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from migrator.db.quoting import quote_ident
from migrator.errors import UsageError


@dataclass(frozen=True)
class ToolTable:
    """Where a tool keeps its history and which columns we read."""

    tool: str
    default_table: str
    columns: tuple[str, ...]
    order_by: str
    #: a column only another tool's same-named table has, and that tool
    impostor: tuple[str, str] | None = None


TOOL_TABLES: dict[str, ToolTable] = {
    table.tool: table
    for table in (
        ToolTable("dbmate", "schema_migrations", ("version",), "version",
                  impostor=("dirty", "golang-migrate")),
        ToolTable("golang-migrate", "schema_migrations", ("version", "dirty"), "version"),
        ToolTable("goose", "goose_db_version", ("id", "version_id", "is_applied"), "id"),
        ToolTable(
            "flyway",
            "flyway_schema_history",
            ("installed_rank", "version", "description", "type", "checksum", "success"),
            "installed_rank",
        ),
        ToolTable("diesel", "__diesel_schema_migrations", ("version",), "version"),
        ToolTable(
            "sqlx", "_sqlx_migrations", ("version", "description", "success", "checksum"),
            "version",
        ),
    )
}  # fmt: skip
TOOLS = tuple(TOOL_TABLES)


@dataclass(frozen=True)
class ForeignVersion:
    """One version another tool applied, as it recorded it."""

    version: str
    description: str | None = None
    #: Flyway's CRC32 (an int) or sqlx's SHA-384 (bytes) of the file it ran
    checksum: int | bytes | None = None


@dataclass(frozen=True)
class ForeignHistory:
    """What another tool's history table says was applied."""

    tool: str
    #: the table as found (``schema.table``)
    table: str
    applied: tuple[ForeignVersion, ...] = ()
    #: every version up to this one counts as applied (golang-migrate's single row,
    #: Flyway's ``BASELINE`` row)
    up_to: str | None = None
    #: Flyway's repeatables as last run: description and checksum (version "")
    repeatables: tuple[ForeignVersion, ...] = ()
    #: rows that say a run failed part-way, one line each, with what to do
    failed: tuple[str, ...] = ()


def interpret(tool: str, table: str, rows: Sequence[Mapping[str, Any]]) -> ForeignHistory:
    """The history that ``rows`` (ordered as :class:`ToolTable` says) of ``tool``'s
    table record."""
    if tool == "golang-migrate":
        return _golang_migrate(table, rows)
    if tool == "goose":
        return _goose(table, rows)
    if tool == "flyway":
        return _flyway(table, rows)
    if tool == "sqlx":
        return _sqlx(table, rows)
    # dbmate and diesel: one row per applied version, nothing else
    return ForeignHistory(tool, table, tuple(ForeignVersion(str(row["version"])) for row in rows))


def _golang_migrate(table: str, rows: Sequence[Mapping[str, Any]]) -> ForeignHistory:
    if not rows:
        return ForeignHistory("golang-migrate", table)
    if len(rows) > 1:
        versions = ", ".join(str(row["version"]) for row in rows)
        return ForeignHistory(
            "golang-migrate",
            table,
            failed=(
                f"{table} has {len(rows)} rows ({versions}) where golang-migrate keeps one: "
                "leave only the row of the version the database is at",
            ),
        )
    version, dirty = int(rows[0]["version"]), bool(rows[0]["dirty"])
    if dirty:
        at = "no version (a failed first migration)" if version < 0 else f"version {version}"
        return ForeignHistory(
            "golang-migrate",
            table,
            failed=(
                f"golang-migrate's {table} is dirty at {at}: that migration failed part-way. "
                "Finish or undo it by hand, then `migrate force V` with golang-migrate (V = "
                "the version the database is really at) or clear the flag "
                f"(UPDATE {table} SET dirty = false), and run baseline --from again",
            ),
        )
    if version < 0:
        return ForeignHistory("golang-migrate", table)
    return ForeignHistory("golang-migrate", table, up_to=str(version))


def _goose(table: str, rows: Sequence[Mapping[str, Any]]) -> ForeignHistory:
    newest: dict[int, bool] = {}
    for row in rows:  # ordered by id: the newest row of a version comes last
        newest[int(row["version_id"])] = bool(row["is_applied"])
    applied = tuple(
        ForeignVersion(str(version))
        for version, is_applied in sorted(newest.items())
        if is_applied and version != 0  # 0: goose's own first row, no migration
    )
    return ForeignHistory("goose", table, applied)


def _flyway(table: str, rows: Sequence[Mapping[str, Any]]) -> ForeignHistory:
    applied: dict[tuple[int, ...], ForeignVersion] = {}
    repeatables: dict[str, ForeignVersion] = {}
    failed: list[str] = []
    baseline: str | None = None
    for row in rows:  # by installed_rank: later rows supersede earlier ones
        kind = str(row["type"])
        version = row["version"]
        label = f"V{version}" if version is not None else f"repeatable {row['description']!r}"
        if not row["success"]:
            failed.append(
                f"Flyway's {table} says {label} ({row['description']}, installed_rank "
                f"{row['installed_rank']}) failed (success = false): part of it may be "
                "applied. Finish or undo it by hand, then `flyway repair` (it removes failed "
                "rows) or delete that row, and run baseline --from again"
            )
            continue
        if kind == "SCHEMA":
            continue  # Flyway created the schemas: no migration
        if version is None:  # a repeatable: its latest run's checksum counts
            description = str(row["description"])
            repeatables[description] = ForeignVersion("", description, row["checksum"])
            continue
        key = flyway_version_key(str(version))
        if kind == "BASELINE":
            baseline = str(version)
        elif kind.startswith("UNDO") or kind == "DELETE":
            applied.pop(key, None)
        else:
            applied[key] = ForeignVersion(str(version), row["description"], row["checksum"])
    return ForeignHistory(
        "flyway",
        table,
        tuple(applied[key] for key in sorted(applied)),
        up_to=baseline,
        repeatables=tuple(repeatables.values()),
        failed=tuple(failed),
    )


def _sqlx(table: str, rows: Sequence[Mapping[str, Any]]) -> ForeignHistory:
    failed = tuple(
        f"sqlx's {table} says version {row['version']} ({row['description']}) did not "
        'finish (success = false, a "dirty" migration): finish or undo it by hand, '
        f"delete its row (DELETE FROM {table} WHERE version = {int(row['version'])}), and "
        "run baseline --from again"
        for row in rows
        if not row["success"]
    )
    applied = tuple(
        ForeignVersion(str(row["version"]), row["description"], bytes(row["checksum"]))
        for row in rows
        if row["success"]
    )
    return ForeignHistory("sqlx", table, applied, failed=failed)


def flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway's version order: parts split on ``.`` or ``_``, compared as numbers,
    trailing zero parts ignored (``1.0`` = ``1``, ``1_2`` = ``1.2`` < ``1.10``)."""
    parts = [int(part) for part in version.replace("_", ".").split(".") if part != ""]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def parse_table_name(tool: str, table: str | None) -> tuple[str | None, str]:
    """``(schema, table)`` from ``--from-table`` (``table`` or ``schema.table``), or
    the tool's default table found through the ``search_path`` (schema ``None``), as
    the tools themselves look it up."""
    if tool not in TOOL_TABLES:
        raise UsageError(f"unknown tool {tool!r}: use one of {', '.join(TOOLS)}")
    if not table:
        return None, TOOL_TABLES[tool].default_table
    schema, dot, name = table.partition(".")
    if not dot:
        return None, table
    if not schema or not name:
        raise UsageError(f"--from-table {table!r}: write TABLE or SCHEMA.TABLE")
    return schema, name


async def read_history(
    conn: asyncpg.Connection, tool: str, table: str | None = None
) -> ForeignHistory:
    """Read ``tool``'s history table (its default name unless ``table``) as it is.

    Raises :class:`UsageError` when the table is not there or is not that tool's."""
    spec = TOOL_TABLES[tool]
    schema, name = parse_table_name(tool, table)
    quoted = quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"
    found = await conn.fetchrow(
        "SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum) AS columns "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE c.oid = to_regclass($1) GROUP BY n.nspname, c.relname",
        quoted,
    )
    where = name if schema is None else f"{schema}.{name}"
    if found is None:
        raise UsageError(
            f"no table {where} in this database: {tool} keeps its history there",
            hint="check --database-url, or name the table with --from-table SCHEMA.TABLE",
        )
    display = f"{found['nspname']}.{found['relname']}"
    columns = set(found["columns"])
    if spec.impostor is not None and spec.impostor[0] in columns:
        column, other = spec.impostor
        raise UsageError(
            f"{display} has a {column} column: it is {other}'s table, not {tool}'s",
            hint=f"use --from {other}",
        )
    missing = [column for column in spec.columns if column not in columns]
    if missing:
        raise UsageError(
            f"{display} is not {tool}'s history table: it has no {', '.join(missing)} "
            f"column (it has {', '.join(found['columns'])})",
            hint="check --from, or name the table with --from-table SCHEMA.TABLE",
        )
    qualified = f"{quote_ident(found['nspname'])}.{quote_ident(found['relname'])}"
    rows = await conn.fetch(
        f"SELECT {', '.join(quote_ident(column) for column in spec.columns)} "
        f"FROM {qualified} ORDER BY {quote_ident(spec.order_by)}"
    )
    return interpret(tool, display, [dict(row) for row in rows])
