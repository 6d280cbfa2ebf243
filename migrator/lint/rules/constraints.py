"""Constraints that scan or index a busy table while holding a strong lock."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.names import QualifiedName, object_name, strings, type_ref
from migrator.sql.parse import Node
from migrator.sql.tree import column_constraints


@rule(
    "constraint-not-valid",
    Severity.ERROR,
    kinds=("AlterTableStmt", "AlterDomainStmt"),
    plannable=True,
)
def constraint_not_valid(ctx: StatementContext) -> Iterator[Hit]:
    """Adding a CHECK or FOREIGN KEY constraint to an existing table without `NOT VALID`.

    What it does:
    Flags `ALTER TABLE ... ADD CONSTRAINT ... CHECK (...)`, `... FOREIGN KEY ...`,
    `ADD COLUMN ... CHECK (...)` and `ADD COLUMN ... REFERENCES ...` on an existing
    table when the constraint is not added `NOT VALID`. An `ADD COLUMN ... REFERENCES`
    without a default is not flagged: PostgreSQL does not validate it (every row holds
    NULL; no scan), while any default (even `DEFAULT NULL`), a generated, identity or
    serial column makes it scan. A CHECK on an added column scans in every case, also
    when the column is NULL in every row (PostgreSQL 15, measured with
    `pg_stat_user_tables.seq_scan`). A foreign key added to a table the migration
    filled with `CREATE TABLE ... AS SELECT` is flagged too when it references an
    existing table: checking the copied rows keeps writes to that table waiting. And
    flags `ALTER DOMAIN ... ADD CONSTRAINT ... CHECK` without `NOT VALID` on a domain
    that columns of existing tables use (PostgreSQL checks every such row while
    holding a SHARE lock on the table: writes wait).

    Why it hurts:
    Adding a valid constraint scans the whole table to check every row while holding
    an ACCESS EXCLUSIVE lock (CHECK) or a SHARE ROW EXCLUSIVE lock on both tables
    (FOREIGN KEY): writes (and for CHECK, reads) wait for the scan.

    Example:

        ALTER TABLE orders ADD CONSTRAINT orders_user_fk
            FOREIGN KEY (user_id) REFERENCES users (id);

    Use instead:

        ALTER TABLE orders ADD CONSTRAINT orders_user_fk
            FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
        -- next migration
        ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;

    `VALIDATE CONSTRAINT` takes only a SHARE UPDATE EXCLUSIVE lock, which blocks
    neither reads nor writes.

    PostgreSQL versions:
    All.
    """
    if ctx.kind == "AlterDomainStmt":
        yield from _domain_check(ctx)
        return
    name, table = ctx.altered_table()
    if table is not None and table.filled and not ctx.is_existing(table):
        yield from _filled_table_foreign_keys(ctx)
        return
    for command in ctx.commands_on_existing():
        subtype = command.get("subtype")
        definition = command.get("def") or {}
        if subtype == "AT_AddConstraint":
            constraint = definition.get("Constraint", {})
            kind = {"CONSTR_CHECK": "CHECK", "CONSTR_FOREIGN": "FOREIGN KEY"}.get(
                constraint.get("contype", "")
            )
            if kind and not constraint.get("skip_validation"):
                label = f"{constraint['conname']} " if constraint.get("conname") else ""
                yield Hit(
                    f"ADD CONSTRAINT {label}{kind} on existing table {name} scans every "
                    "row under a lock that blocks writes",
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
                    facts=ctx.row_facts(name),
                )
        elif subtype == "AT_AddColumn":
            yield from _added_column_constraints(ctx, definition.get("ColumnDef", {}))


def _added_column_constraints(ctx: StatementContext, column: Node) -> Iterator[Hit]:
    """``ADD COLUMN c ... REFERENCES`` / ``... CHECK``: what PostgreSQL 15 checks.

    A foreign key on a column added without a default is not validated (every row
    holds NULL; no scan, checked with ``pg_stat_user_tables.seq_scan``); any default,
    even ``DEFAULT NULL``, a generated, identity or serial column makes it scan the
    table. A CHECK constraint always scans, even when the new column is NULL in every
    row."""
    name, _ = ctx.altered_table()
    colname = column.get("colname")
    constraints = list(column_constraints(column))
    filled = _fills_rows(column, constraints)
    for constraint in constraints:
        contype = constraint.get("contype")
        if contype == "CONSTR_FOREIGN" and filled and not constraint.get("skip_validation"):
            yield Hit(
                f"ADD COLUMN {colname} ... REFERENCES on existing table {name} validates "
                f"the foreign key ({filled}) under a lock on both tables",
                "add the column without REFERENCES, then ADD CONSTRAINT ... FOREIGN "
                "KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later migration",
                facts=ctx.row_facts(name),
            )
        elif contype == "CONSTR_CHECK" and not constraint.get("skip_validation"):
            label = f"{constraint['conname']} " if constraint.get("conname") else ""
            why = filled or "PostgreSQL scans even when the new column is NULL in every row"
            yield Hit(
                f"ADD COLUMN {colname} ... CHECK {label}on existing table {name} scans every "
                f"row under an ACCESS EXCLUSIVE lock to check it ({why})",
                "add the column without the CHECK, then ADD CONSTRAINT ... CHECK ... NOT "
                "VALID, then VALIDATE CONSTRAINT in a later migration",
                facts=ctx.row_facts(name),
                plannable=False,
            )


def _fills_rows(column: Node, constraints: list[Node]) -> str:
    """Why existing rows get a value in the added column ('' when they all hold NULL)."""
    if type_ref(column.get("typeName")).name in ("serial", "bigserial", "smallserial"):
        return "a serial column fills every row"
    for constraint in constraints:
        contype = constraint.get("contype")
        if contype == "CONSTR_DEFAULT":
            return "the column has a default, so existing rows are checked"
        if contype in ("CONSTR_GENERATED", "CONSTR_IDENTITY"):
            return "a generated or identity column fills every row"
    return ""


def _filled_table_foreign_keys(ctx: StatementContext) -> Iterator[Hit]:
    """A foreign key added to a table this migration filled with ``CREATE TABLE ... AS
    SELECT``: validating it scans those rows while holding SHARE ROW EXCLUSIVE on the
    referenced table, an existing one that writers use."""
    name, _ = ctx.altered_table()
    for command in ctx.alter_commands():
        constraint = (command.get("def") or {}).get("Constraint", {})
        if (
            command.get("subtype") != "AT_AddConstraint"
            or constraint.get("contype") != "CONSTR_FOREIGN"
            or constraint.get("skip_validation")
        ):
            continue
        referenced, target = ctx.relation(constraint.get("pktable"))
        if not ctx.is_existing(target, referenced):
            continue
        yield Hit(
            f"ADD FOREIGN KEY on {name}, which CREATE TABLE ... AS filled with rows of "
            f"existing tables in this migration, checks every copied row while writes to "
            f"{referenced} wait (SHARE ROW EXCLUSIVE)",
            "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
            facts=ctx.row_facts(referenced),
        )


def _domain_check(ctx: StatementContext) -> Iterator[Hit]:
    """``ALTER DOMAIN d ADD CONSTRAINT ... CHECK`` (validated) while existing tables
    have columns of type ``d``."""
    constraint = (ctx.fields.get("def") or {}).get("Constraint", {})
    if (
        ctx.fields.get("subtype") != "C"
        or constraint.get("contype") != "CONSTR_CHECK"
        or constraint.get("skip_validation")
    ):
        return
    schema, domain = object_name(ctx.fields.get("typeName"))
    users = [
        f"{table.name}.{column.name}"
        for table in ctx.catalog.tables()
        if ctx.is_existing(table)
        for column in table.columns
        if column.type.name == domain and (schema is None or column.type.schema in (None, schema))
    ]
    if users:
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        yield Hit(
            f"ALTER DOMAIN {domain} ADD CONSTRAINT checks every row of {shown} under a "
            "SHARE lock that blocks writes",
            "add it NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT in a later migration",
            plannable=False,  # the planner has no domain recipe
        )


@rule("unique-without-index", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def unique_without_index(ctx: StatementContext) -> Iterator[Hit]:
    """Adding a UNIQUE or PRIMARY KEY constraint to an existing table without `USING INDEX`.

    What it does:
    Flags `ALTER TABLE ... ADD UNIQUE (...)`, `ADD PRIMARY KEY (...)` and their
    `ADD CONSTRAINT` forms on an existing table unless they use an index built before
    (`USING INDEX`), and `ADD COLUMN ... UNIQUE` / `ADD COLUMN ... PRIMARY KEY`, which
    build the same index. `ADD CONSTRAINT ... EXCLUDE` builds its index the same way,
    and PostgreSQL has no online form of it.

    Why it hurts:
    The constraint builds its unique index while holding an ACCESS EXCLUSIVE lock:
    nobody can read or write the table until the build is done.

    Example:

        ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

    Use instead:

        -- migrate:no-transaction
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);
        -- next migration
        ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;

    PostgreSQL versions:
    All. `PRIMARY KEY USING INDEX` also needs the columns to be NOT NULL (see
    set-not-null for the safe way).
    """
    name, _ = ctx.altered_table()
    for command in ctx.commands_on_existing("AT_AddConstraint", "AT_AddColumn"):
        definition = command.get("def") or {}
        if "ColumnDef" in definition:  # ADD COLUMN c type UNIQUE / PRIMARY KEY
            column = definition["ColumnDef"]
            added = [
                (c, f"COLUMN {column.get('colname')} ... ") for c in column_constraints(column)
            ]
        else:
            added = [(definition.get("Constraint", {}), "")]
        for constraint, what in added:
            if constraint.get("contype") == "CONSTR_EXCLUSION":
                yield Hit(
                    f"ADD {what}EXCLUDE on existing table {name} builds its index under an "
                    "ACCESS EXCLUSIVE lock",
                    "an exclusion constraint cannot be built concurrently: add it while "
                    "the table is new or small, or in a maintenance window",
                    facts=ctx.row_facts(name),
                    plannable=False,
                )
                continue
            kind = {"CONSTR_UNIQUE": "UNIQUE", "CONSTR_PRIMARY": "PRIMARY KEY"}.get(
                constraint.get("contype", "")
            )
            if kind and not constraint.get("indexname"):
                yield Hit(
                    f"ADD {what}{kind} on existing table {name} builds its index under an "
                    "ACCESS EXCLUSIVE lock",
                    "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... "
                    f"{kind} USING INDEX",
                    facts=ctx.row_facts(name),
                )


@rule("set-not-null", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def set_not_null(ctx: StatementContext) -> Iterator[Hit]:
    """`ALTER COLUMN ... SET NOT NULL` on an existing column without a validated CHECK behind it.

    What it does:
    Flags `SET NOT NULL` on a column of an existing table, unless the target is
    PostgreSQL 12 or later and a valid `CHECK (column IS NOT NULL)` constraint on the
    table was validated in an earlier transaction (an earlier migration, or before a
    `COMMIT` in a non-transactional one). The same goes for the statements that set
    NOT NULL implicitly: `ADD CONSTRAINT name NOT NULL column` without `NOT VALID`
    (PostgreSQL 18) and `ADD PRIMARY KEY USING INDEX` on a column that may hold NULL.
    Before PostgreSQL 18, `ADD CONSTRAINT name NOT NULL column` is flagged on any
    table: it does not exist there.

    Why it hurts:
    `SET NOT NULL` scans the whole table to prove there is no NULL while holding an
    ACCESS EXCLUSIVE lock. From PostgreSQL 12 on, the scan is skipped when a valid
    CHECK constraint already proves it.

    Example:

        ALTER TABLE users ALTER COLUMN email SET NOT NULL;

    Use instead:

        ALTER TABLE users ADD CONSTRAINT users_email_not_null
            CHECK (email IS NOT NULL) NOT VALID;
        -- next migration
        ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
        -- next migration
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;
        ALTER TABLE users DROP CONSTRAINT users_email_not_null;

    On PostgreSQL 18, `ADD CONSTRAINT users_email_not_null NOT NULL email NOT VALID`
    followed by `VALIDATE CONSTRAINT` does the same in two steps.

    PostgreSQL versions:
    The CHECK-backed shortcut needs 12+. `NOT NULL ... NOT VALID` needs 18+.
    """
    name, table = ctx.altered_table()
    yield from _not_null_before_18(ctx)
    for command in ctx.commands_on_existing("AT_SetNotNull", "AT_AddConstraint"):
        if command.get("subtype") == "AT_SetNotNull":
            column_name = command.get("name", "")
            if _scans(ctx, column_name):
                yield Hit(
                    f"SET NOT NULL on {name}.{column_name} scans the whole table under an "
                    "ACCESS EXCLUSIVE lock",
                    _safe_not_null(ctx, column_name),
                    facts=ctx.row_facts(name),
                )
            continue
        constraint = (command.get("def") or {}).get("Constraint", {})
        contype = constraint.get("contype")
        if contype == "CONSTR_NOTNULL" and ctx.pg_version >= 18:
            columns = strings(constraint.get("keys"))
            if constraint.get("skip_validation") or not any(_scans(ctx, c) for c in columns):
                continue
            yield Hit(
                f"ADD CONSTRAINT ... NOT NULL {', '.join(columns)} on {name} scans the whole "
                "table under an ACCESS EXCLUSIVE lock",
                _safe_not_null(ctx, columns[0]),
                facts=ctx.row_facts(name),
                plannable=False,  # migrate plan passes it through as is
            )
        elif contype == "CONSTR_PRIMARY" and constraint.get("indexname") and table is not None:
            index = ctx.catalog.index(QualifiedName(name.schema, constraint["indexname"]))
            nullable = [
                c
                for c in (index.columns if index is not None else ())
                if c is not None and table.column(c) is not None and _scans(ctx, c)
            ]
            if nullable:
                yield Hit(
                    f"ADD PRIMARY KEY USING INDEX sets {name}.{', '.join(nullable)} NOT NULL, "
                    "which scans the whole table under an ACCESS EXCLUSIVE lock",
                    "make the column NOT NULL first: " + _safe_not_null(ctx, nullable[0]),
                    facts=ctx.row_facts(name),
                    plannable=False,  # migrate plan passes it through as is
                )


def _not_null_before_18(ctx: StatementContext) -> Iterator[Hit]:
    """``ADD CONSTRAINT ... NOT NULL col`` on a target that does not have it (any table:
    the statement fails)."""
    if ctx.pg_version >= 18:
        return
    for command in ctx.alter_commands():
        constraint = (command.get("def") or {}).get("Constraint", {})
        if command.get("subtype") == "AT_AddConstraint" and constraint.get("contype") == (
            "CONSTR_NOTNULL"
        ):
            yield Hit(
                "ADD CONSTRAINT ... NOT NULL needs PostgreSQL 18 (target "
                f"{ctx.pg_version}): the statement fails there",
                "use ALTER COLUMN ... SET NOT NULL; on an existing table "
                + _safe_not_null(ctx, (strings(constraint.get("keys")) or ["column"])[0]),
                plannable=False,  # migrate plan passes it through as is
            )


def _scans(ctx: StatementContext, column_name: str) -> bool:
    """Making ``column_name`` of the altered table NOT NULL scans the table: the column
    is not known NOT NULL and (from 12 on) no CHECK validated earlier proves it."""
    _, table = ctx.altered_table()
    column = ctx.column(table, column_name, "a column that may hold NULL")
    if column is not None and column.not_null:
        return False
    return not (ctx.pg_version >= 12 and table is not None and _proven_not_null(ctx, column_name))


def _safe_not_null(ctx: StatementContext, column_name: str) -> str:
    """How to make ``column_name`` NOT NULL without the scan, for the target version."""
    if ctx.pg_version >= 18:
        return (
            f"ADD CONSTRAINT ... NOT NULL {column_name} NOT VALID, then VALIDATE "
            "CONSTRAINT in a later migration"
        )
    if ctx.pg_version >= 12:
        return (
            f"add CHECK ({column_name} IS NOT NULL) NOT VALID, VALIDATE it in a later "
            "migration, then SET NOT NULL (no scan on PostgreSQL 12+)"
        )
    return (
        f"PostgreSQL {ctx.pg_version} always scans: keep a CHECK "
        f"({column_name} IS NOT NULL) NOT VALID constraint instead, or upgrade"
    )


def _proven_not_null(ctx: StatementContext, column: str) -> bool:
    _, table = ctx.relation(ctx.fields.get("relation"))
    if table is None:
        return False
    current = ctx.catalog.origin
    for constraint in table.constraints:
        if (
            constraint.kind == "check"
            and constraint.valid
            and column in constraint.proves_not_null
            and constraint.validated is not None
            and constraint.validated.transaction != current.transaction
        ):
            return True
    return False
