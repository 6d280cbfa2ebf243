"""Changes that break application code still running against the old schema."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import Catalog, Column, Table
from migrator.sql.names import QualifiedName, object_name, relation_name

#: relations running code reads by name, as the statements spell their kinds
_RELATION_KINDS = {
    "OBJECT_TABLE": "TABLE",
    "OBJECT_VIEW": "VIEW",
    "OBJECT_MATVIEW": "MATERIALIZED VIEW",
    "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE",
}
_VIEW_KINDS = ("OBJECT_VIEW", "OBJECT_MATVIEW")


def _created_again(ctx: StatementContext, name: QualifiedName, *, tables: bool = False) -> bool:
    """A later statement of the same migration creates a view (or materialized view)
    under ``name``: a view dropped or renamed and replaced at once (``DROP VIEW v;
    CREATE VIEW v AS ...``, or a compatibility view over a renamed table). With
    ``tables``, a plain ``CREATE TABLE`` counts too (a table renamed away and created
    again, as lemmy does to change the order of its columns)."""
    for later in ctx.later_statements():
        if later.kind == "ViewStmt":
            schema, view_name = relation_name(later.fields.get("view"))
        elif later.kind == "CreateTableAsStmt":
            schema, view_name = relation_name((later.fields.get("into") or {}).get("rel"))
        elif later.kind == "CreateStmt" and tables:
            schema, view_name = relation_name(later.fields.get("relation"))
        else:
            continue
        if view_name == name.name and (schema or name.schema) == name.schema:
            return True
    return False


def _names(item: object) -> list[object]:
    if isinstance(item, dict) and "List" in item:
        return list(item["List"].get("items") or ())
    return []


@rule("drop-table", Severity.ERROR, kinds=("DropStmt",), plannable=True)
def drop_table(ctx: StatementContext) -> Iterator[Hit]:
    """Dropping a table (or view) that running code may still use.

    What it does:
    Flags `DROP TABLE` of a table not created earlier in the same migration, and
    `DROP VIEW` / `DROP MATERIALIZED VIEW` of an existing view unless the same
    transaction creates it again (the usual way to change a view's columns). In a
    down migration, tables created by its own up migration count as new.

    Why it hurts:
    The application version still deployed (and any other reader: reports, ETL)
    fails on its next query to the table, and the data is gone for good.

    Example:

        DROP TABLE legacy_sessions;

    Use instead:

        ALTER TABLE legacy_sessions RENAME TO legacy_sessions_unused_20261101;

    deploy code that no longer uses the table, then drop it in a later contract
    migration with `-- migrate:lint-ignore drop-table -- unused since 2026-11-01`.

    PostgreSQL versions:
    All.
    """
    kind = ctx.fields.get("removeType")
    if kind not in _RELATION_KINDS:
        return
    for item in ctx.fields.get("objects") or ():
        schema, name = object_name(_names(item))
        qualified = ctx.catalog.resolve(schema, name)
        table = ctx.catalog.table(qualified)
        what = _RELATION_KINDS[str(kind)]
        if not ctx.is_existing(table, qualified, what.lower()):
            continue
        if kind in _VIEW_KINDS and _created_again(ctx, qualified):
            continue
        yield Hit(
            f"DROP {what} {qualified} breaks code that still reads "
            + ("or writes it" if kind not in _VIEW_KINDS else "it"),
            f"stop using the {what.lower()} in a deployed release first; then drop it in a "
            "contract migration with a lint-ignore that says why",
            plannable=kind == "OBJECT_TABLE",  # the planner passes views through
        )


@rule("drop-column", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def drop_column(ctx: StatementContext) -> Iterator[Hit]:
    """Dropping a column that running code may still select or insert.

    What it does:
    Flags `ALTER TABLE ... DROP COLUMN` unless the column (or its table) was created
    earlier in the same migration, or the same migration adds a column of that name
    back (`DROP COLUMN fulltext` then `ADD COLUMN fulltext ... GENERATED ...`: readers
    find it again).

    Why it hurts:
    Queries of the deployed application that name the column fail at once; an ORM
    that selects every mapped column fails on every query of the table.

    Example:

        ALTER TABLE users DROP COLUMN legacy_flag;

    Use instead:

    Deploy code that no longer uses the column first, then drop it in a contract
    migration:

        -- migrate:lint-ignore drop-column -- unused since release 42
        ALTER TABLE users DROP COLUMN legacy_flag;

    PostgreSQL versions:
    All.
    """
    name, table = ctx.altered_table()
    dropped: list[str] = []
    for command in ctx.commands_on_existing("AT_DropColumn"):
        column_name = command.get("name", "")
        column = ctx.column(table, column_name, "an existing column")
        if column is not None and ctx.catalog.is_new(column):
            continue
        dropped.append(column_name)
    if not dropped:
        return
    yield from ()  # the hits come once the whole file is replayed

    def check(final: Catalog) -> Iterator[Hit]:
        now = final.table(final.current_name(name))
        for column_name in dropped:
            again = now.column(column_name) if now is not None else None
            if again is not None and final.is_new(again):
                continue  # added back by the same migration: readers find it again
            yield Hit(
                f"DROP COLUMN {name}.{column_name} breaks code that still uses the column",
                "stop using the column in a deployed release first, then drop it in a "
                "contract migration with a lint-ignore that says why",
            )

    ctx.at_end_of_file("drop-column", check)


@rule("rename-table", Severity.ERROR, kinds=("RenameStmt", "AlterObjectSchemaStmt"), plannable=True)
def rename_table(ctx: StatementContext) -> Iterator[Hit]:
    """Renaming a table that running code uses under its old name.

    What it does:
    Flags `ALTER TABLE ... RENAME TO` of an existing table, unless the same migration
    then creates a view under the old name (a compatibility view), or a table (the
    table is rebuilt under its name, as to change the order of its columns). Also flags renaming
    an existing view or materialized view, and moving any of them to another schema
    (`ALTER TABLE ... SET SCHEMA`): code names them by their old place.

    Why it hurts:
    Every query of the deployed application that names the table fails from the
    moment the migration commits until the new code is deployed.

    Example:

        ALTER TABLE customers RENAME TO clients;

    Use instead:

        ALTER TABLE customers RENAME TO clients;
        CREATE VIEW customers AS SELECT * FROM clients;

    and drop the view once no deployed code uses the old name.

    PostgreSQL versions:
    All. A simple view like this is updatable, so writes keep working too.
    """
    moved = ctx.kind == "AlterObjectSchemaStmt"
    kind = ctx.fields.get("objectType" if moved else "renameType")
    if kind not in _RELATION_KINDS or kind == "OBJECT_FOREIGN_TABLE":
        return
    name, table = ctx.relation(ctx.fields.get("relation"))
    if not ctx.is_existing(table, name, _RELATION_KINDS[str(kind)].lower()):
        return
    if _created_again(ctx, name, tables=not moved):
        return
    where = (
        f"moving {name} to schema {ctx.fields.get('newschema')}"
        if moved
        else f"renaming {name} to {ctx.fields.get('newname')}"
    )
    yield Hit(
        f"{where} breaks code that still uses the old name",
        f"create a view named {name} over it in the same migration, or expand/contract",
        plannable=kind == "OBJECT_TABLE" and not moved,  # the planner renames tables only
    )


@rule("rename-column", Severity.ERROR, kinds=("RenameStmt",), plannable=True)
def rename_column(ctx: StatementContext) -> Iterator[Hit]:
    """Renaming a column that running code uses under its old name.

    What it does:
    Flags `ALTER TABLE ... RENAME COLUMN` on an existing table.

    Why it hurts:
    The deployed application keeps sending the old column name and fails until the
    new release is out; a rollback of the release fails the other way round.

    Example:

        ALTER TABLE users RENAME COLUMN name TO full_name;

    Use instead:

        ALTER TABLE users ADD COLUMN full_name text;

    then write both columns from the application (or a trigger), backfill, switch
    reads, and drop the old column in a contract migration (`migrate plan` writes
    these phases).

    PostgreSQL versions:
    All.
    """
    if ctx.fields.get("renameType") != "OBJECT_COLUMN":
        return
    name, table = ctx.relation(ctx.fields.get("relation"))
    if not ctx.is_existing(table, name):
        return
    old = ctx.fields.get("subname", "")
    column = ctx.column(table, old, "an existing column")
    if column is not None and ctx.catalog.is_new(column):
        return
    yield Hit(
        f"renaming {name}.{old} to {ctx.fields.get('newname')} breaks code that still uses "
        "the old name",
        "add the new column, write both, backfill, switch reads, then drop the old one",
    )


@rule("drop-not-null", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def drop_not_null(ctx: StatementContext) -> Iterator[Hit]:
    """Dropping `NOT NULL` from a column that readers assume is never NULL.

    What it does:
    Flags `ALTER COLUMN ... DROP NOT NULL` on an existing table, unless the earlier
    migrations show the column already accepts NULL (then the statement changes
    nothing).

    Why it hurts:
    Code written against the old schema (and typed clients generated from it) assumes
    the value is present; the first NULL row crashes it.

    Example:

        ALTER TABLE users ALTER COLUMN email DROP NOT NULL;

    Use instead:

    Deploy readers that handle NULL first, then drop the constraint with a
    suppression that says so:

        -- migrate:lint-ignore drop-not-null -- readers handle NULL since release 42
        ALTER TABLE users ALTER COLUMN email DROP NOT NULL;

    PostgreSQL versions:
    All.
    """
    name, table = ctx.altered_table()
    for command in ctx.commands_on_existing():
        if command.get("subtype") == "AT_DropNotNull":
            column = ctx.column(table, command.get("name", ""), "a NOT NULL column")
            if column is not None and ctx.catalog.is_new(column):
                continue
            if table is not None and column is not None and _already_nullable(table, column):
                continue  # nothing changes for readers
            yield Hit(
                f"{name}.{command.get('name')} may now be NULL: readers that assume a value break",
                "deploy readers that handle NULL first, then suppress with a reason",
            )


def _already_nullable(table: Table, column: Column) -> bool:
    """The column accepts NULL already: not NOT NULL, and no (PostgreSQL 18) NOT NULL
    constraint added NOT VALID that rejects new NULLs."""
    return not column.not_null and not any(
        c.kind == "not null" and column.name in c.columns for c in table.constraints
    )


@rule("truncate", Severity.ERROR, kinds=("TruncateStmt",))
def truncate(ctx: StatementContext) -> Iterator[Hit]:
    """`TRUNCATE` of an existing table in a migration.

    What it does:
    Flags `TRUNCATE` (and `TRUNCATE ... CASCADE`, which also empties every table that
    references it) of a table not created in the same migration.

    Why it hurts:
    It deletes every row at once under an ACCESS EXCLUSIVE lock; with CASCADE the
    damage spreads to referencing tables the author may not have meant.

    Example:

        TRUNCATE sessions CASCADE;

    Use instead:

        -- migrate:backfill table=sessions key=id batch=5000
        DELETE FROM sessions WHERE expires_at < now();

    PostgreSQL versions:
    All.
    """
    cascade = ctx.fields.get("behavior") == "DROP_CASCADE"
    for item in ctx.fields.get("relations") or ():
        name = ctx.existing_relation(item.get("RangeVar"))
        if name is not None:
            also = " and every table that references it (CASCADE)" if cascade else ""
            yield Hit(
                f"TRUNCATE deletes every row of {name}{also}",
                "delete the rows you mean in a batched backfill, or suppress with a reason",
            )


@rule("drop-schema-or-database", Severity.ERROR, kinds=("DropStmt", "DropdbStmt"))
def drop_schema_or_database(ctx: StatementContext) -> Iterator[Hit]:
    """`DROP SCHEMA` or `DROP DATABASE` in a migration.

    What it does:
    Flags `DROP SCHEMA` (unless the schema was created in the same migration) and
    every `DROP DATABASE`.

    Why it hurts:
    Everything in the schema (or the database) goes at once: tables, data, functions,
    grants. With CASCADE nothing stops it.

    Example:

        DROP SCHEMA reporting CASCADE;

    Use instead:

    Drop the objects you mean one by one, each reviewed, or suppress with the reason
    the whole schema is disposable:

        -- migrate:lint-ignore drop-schema-or-database -- scratch schema, rebuilt nightly
        DROP SCHEMA scratch CASCADE;

    PostgreSQL versions:
    All.
    """
    if ctx.kind == "DropdbStmt":
        yield Hit(
            f"DROP DATABASE {ctx.fields.get('dbname')} destroys a whole database",
            "never drop databases from a migration",
        )
        return
    if ctx.fields.get("removeType") != "OBJECT_SCHEMA":
        return
    for item in ctx.fields.get("objects") or ():
        schema = item.get("String", {}).get("sval", "") if isinstance(item, dict) else ""
        origin = ctx.catalog.schema_origin(schema)
        if origin is not None and ctx.catalog.is_new_origin(origin):
            continue
        if origin is None:
            ctx.note_unknown("schema", schema, "an existing schema")
        yield Hit(
            f"DROP SCHEMA {schema} drops everything in it",
            "drop the objects one by one, or suppress with a reason",
        )
