"""Column types that age badly (default severity: warning)."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.names import TypeRef, strings, type_ref
from migrator.sql.parse import Node
from migrator.sql.tree import column_constraints

_KINDS = ("CreateStmt", "AlterTableStmt")


def new_column_types(ctx: StatementContext) -> list[tuple[str, TypeRef, Node]]:
    """``(column, type, ColumnDef)`` of every column a statement defines or retypes."""
    found: list[tuple[str, TypeRef, Node]] = ctx.memo(
        "new_column_types", lambda: list(_new_column_types(ctx))
    )
    return found


def _new_column_types(ctx: StatementContext) -> Iterator[tuple[str, TypeRef, Node]]:
    if ctx.kind == "CreateStmt":
        for element in ctx.fields.get("tableElts") or ():
            column = element.get("ColumnDef")
            if column and column.get("typeName"):
                yield column.get("colname", ""), type_ref(column["typeName"]), column
    elif ctx.kind == "AlterTableStmt":
        for command in ctx.alter_commands():
            column = (command.get("def") or {}).get("ColumnDef")
            if not column or not column.get("typeName"):
                continue
            if command.get("subtype") == "AT_AddColumn":
                yield column.get("colname", ""), type_ref(column["typeName"]), column
            elif command.get("subtype") == "AT_AlterColumnType":
                yield command.get("name", ""), type_ref(column["typeName"]), column


def _key_columns(ctx: StatementContext) -> set[str]:
    """Columns the statement makes part of a primary key or foreign key."""
    keys: set[str] = set()
    constraints: list[tuple[Node, str | None]] = []
    if ctx.kind == "CreateStmt":
        for element in ctx.fields.get("tableElts") or ():
            if "Constraint" in element:
                constraints.append((element["Constraint"], None))
            elif "ColumnDef" in element:
                column = element["ColumnDef"]
                constraints.extend((c, column.get("colname")) for c in column_constraints(column))
    else:
        for command in ctx.alter_commands():
            definition = command.get("def") or {}
            if "Constraint" in definition:
                constraints.append((definition["Constraint"], None))
            elif "ColumnDef" in definition:
                column = definition["ColumnDef"]
                constraints.extend((c, column.get("colname")) for c in column_constraints(column))
    for constraint, column_name in constraints:
        contype = constraint.get("contype")
        if contype not in ("CONSTR_PRIMARY", "CONSTR_FOREIGN"):
            continue
        if column_name:
            keys.add(column_name)
        keys.update(strings(constraint.get("keys")))
        keys.update(strings(constraint.get("fk_attrs")))
    return keys


@rule("prefer-bigint", Severity.WARNING, kinds=_KINDS)
def prefer_bigint(ctx: StatementContext) -> Iterator[Hit]:
    """`integer`, `smallint` or `serial` for a primary or foreign key.

    What it does:
    Flags primary-key and foreign-key columns declared `smallint`, `integer`,
    `smallserial` or `serial`.

    Why it hurts:
    A 32-bit key runs out at 2,147,483,647; widening it later is a full table rewrite
    of the table and of every table referencing it, under ACCESS EXCLUSIVE locks.

    Example:

        CREATE TABLE orders (id serial PRIMARY KEY, user_id integer REFERENCES users (id));

    Use instead:

        CREATE TABLE orders (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id bigint REFERENCES users (id)
        );

    PostgreSQL versions:
    All.
    """
    keys = _key_columns(ctx)
    if not keys:
        return
    table, _ = ctx.relation(ctx.fields.get("relation"))
    for column, column_type, _ in new_column_types(ctx):
        if column in keys and column_type.name in ("int2", "int4", "serial", "smallserial"):
            yield Hit(
                f"key column {table}.{column} is {column_type.sql}: 32 bits or fewer run out",
                "use bigint (or bigint GENERATED ... AS IDENTITY)",
            )


@rule("prefer-identity", Severity.WARNING, kinds=_KINDS)
def prefer_identity(ctx: StatementContext) -> Iterator[Hit]:
    """`serial` / `bigserial` columns.

    What it does:
    Flags columns declared `smallserial`, `serial` or `bigserial`.

    Why it hurts:
    A serial is a loose sequence plus a default: its ownership, grants and
    `pg_dump` behaviour surprise people, and inserts with explicit ids silently
    desynchronise it. Identity columns are the SQL-standard replacement.

    Example:

        CREATE TABLE events (id bigserial PRIMARY KEY);

    Use instead:

        CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);

    PostgreSQL versions:
    Identity columns exist from PostgreSQL 10.
    """
    for column, column_type, _ in new_column_types(ctx):
        if column_type.name in ("serial", "bigserial", "smallserial"):
            yield Hit(
                f"column {column} is {column_type.name}",
                "use bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT)",
            )


@rule("prefer-text", Severity.WARNING, kinds=_KINDS)
def prefer_text(ctx: StatementContext) -> Iterator[Hit]:
    """`varchar(n)` or `char(n)` columns.

    What it does:
    Flags columns declared `varchar(n)` / `character varying(n)` or `char(n)` /
    `character(n)`.

    Why it hurts:
    The length limit is not faster or smaller in PostgreSQL, and raising it later is
    a schema change (lowering it is a rewrite). `char(n)` pads with spaces and
    compares surprisingly. Express real limits as CHECK constraints, which can be
    changed `NOT VALID` without a rewrite.

    Example:

        CREATE TABLE users (email varchar(255));

    Use instead:

        CREATE TABLE users (email text CHECK (length(email) <= 255));

    PostgreSQL versions:
    All.
    """
    for column, column_type, _ in new_column_types(ctx):
        if column_type.name == "bpchar" or (
            column_type.name == "varchar" and column_type.modifiers
        ):
            yield Hit(
                f"column {column} is {column_type.sql}",
                "use text (with a CHECK constraint if the length matters)",
            )


@rule("prefer-timestamptz", Severity.WARNING, kinds=_KINDS)
def prefer_timestamptz(ctx: StatementContext) -> Iterator[Hit]:
    """`timestamp` without time zone.

    What it does:
    Flags columns declared `timestamp` / `timestamp without time zone`.

    Why it hurts:
    The value carries no time zone, so the same instant reads differently depending
    on who wrote it; daylight-saving changes create duplicate and missing hours.
    `timestamptz` stores an instant and costs the same 8 bytes.

    Example:

        CREATE TABLE events (created_at timestamp NOT NULL DEFAULT now());

    Use instead:

        CREATE TABLE events (created_at timestamptz NOT NULL DEFAULT now());

    PostgreSQL versions:
    All.
    """
    for column, column_type, _ in new_column_types(ctx):
        if column_type.name == "timestamp":
            yield Hit(f"column {column} is timestamp without time zone", "use timestamptz")


@rule("prefer-jsonb", Severity.WARNING, kinds=_KINDS)
def prefer_jsonb(ctx: StatementContext) -> Iterator[Hit]:
    """`json` columns.

    What it does:
    Flags columns declared `json`.

    Why it hurts:
    `json` stores the text as written and re-parses it on every access; it has no
    equality operator (so no DISTINCT, GROUP BY or unique index) and no GIN indexing.
    `jsonb` is what JSON columns almost always want.

    Example:

        CREATE TABLE metrics (payload json);

    Use instead:

        CREATE TABLE metrics (payload jsonb);

    PostgreSQL versions:
    `jsonb` exists from PostgreSQL 9.4.
    """
    for column, column_type, _ in new_column_types(ctx):
        if column_type.name == "json":
            yield Hit(f"column {column} is json", "use jsonb")
