"""Whole-table operations: rewrites and unbatched data changes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql import classify
from migrator.sql.locks import statement_locks
from migrator.sql.names import QualifiedName
from migrator.sql.parse import Node
from migrator.sql.tree import HOLD_NO_TABLE, function_name, walk

#: ``ALTER TABLE`` subcommands that copy the whole table (and its indexes) under ACCESS
#: EXCLUSIVE (checked on PostgreSQL 15: SET [UN]LOGGED gives a new relfilenode; the
#: other two do when the tablespace or access method really changes)
_REWRITING_SUBCOMMANDS = {
    "AT_SetLogged": "SET LOGGED copies every row of {table}",
    "AT_SetUnLogged": "SET UNLOGGED copies every row of {table}",
    "AT_SetTableSpace": "SET TABLESPACE copies {table} to the new tablespace",
    "AT_SetAccessMethod": "SET ACCESS METHOD rewrites every row of {table}",
}


@rule(
    "table-rewrite",
    Severity.ERROR,
    kinds=("VacuumStmt", "ClusterStmt", "AlterTableStmt", "RefreshMatViewStmt"),
)
def table_rewrite(ctx: StatementContext) -> Iterator[Hit]:
    """`VACUUM FULL`, `CLUSTER`, or an `ALTER TABLE` that copies an existing table.

    What it does:
    Flags `VACUUM FULL` and `CLUSTER` (with a table) in a migration, also of a system
    catalog (`VACUUM FULL pg_class` locks out every query that needs it); and `ALTER
    TABLE ... SET LOGGED`, `SET UNLOGGED`, `SET TABLESPACE` and `SET ACCESS METHOD`
    on an existing table (not on a partitioned table, which has no rows of its own:
    there they only set what new partitions get); and `REFRESH MATERIALIZED VIEW`
    of an existing materialized view without `CONCURRENTLY` (readers wait for the
    whole refresh; `WITH NO DATA` leaves it unreadable until the next refresh).

    Why it hurts:
    Each rewrites the whole table and its indexes under an ACCESS EXCLUSIVE lock:
    nothing can read or write the table until the copy is done, and the copy needs
    as much free disk as the table.

    Example:

        VACUUM FULL events;

    Use instead:

        VACUUM (ANALYZE) events;

    or rebuild online with an extension such as pg_repack, outside migrations.

    PostgreSQL versions:
    All.
    """
    if ctx.kind == "AlterTableStmt":
        yield from _rewriting_alter_table(ctx)
        return
    if ctx.kind == "RefreshMatViewStmt":
        yield from _blocking_refresh(ctx)
        return
    for range_var, _ in statement_locks(ctx.kind, ctx.fields):
        name, table = ctx.relation(range_var)
        if ctx.is_existing(table, name) or (table is not None and table.system):  # a catalog
            verb = "CLUSTER" if ctx.kind == "ClusterStmt" else "VACUUM FULL"
            yield Hit(
                f"{verb} rewrites {name} under an ACCESS EXCLUSIVE lock",
                "use plain VACUUM, or pg_repack outside migrations",
                facts=ctx.row_facts(name),
            )


def _blocking_refresh(ctx: StatementContext) -> Iterator[Hit]:
    name, view = ctx.relation(ctx.fields.get("relation"))
    if not ctx.is_existing(view, name, "materialized view"):
        return
    if ctx.fields.get("skipData"):
        yield Hit(
            f"REFRESH MATERIALIZED VIEW ... WITH NO DATA empties {name}: every query of it "
            "fails until the next refresh",
            "refresh it with data (CONCURRENTLY), or drop it in a contract migration",
        )
    elif not ctx.fields.get("concurrent"):
        yield Hit(
            f"REFRESH MATERIALIZED VIEW rebuilds {name} under an ACCESS EXCLUSIVE lock: "
            "reads of it wait for the whole refresh",
            "use REFRESH MATERIALIZED VIEW CONCURRENTLY (it needs a unique index on the "
            "view, and lets reads go on)",
            facts=ctx.row_facts(name),
        )


def _rewriting_alter_table(ctx: StatementContext) -> Iterator[Hit]:
    name, table = ctx.altered_table()
    if table is not None and table.partitioned:
        return  # no storage of its own: only what new partitions get changes
    for command in ctx.commands_on_existing(*_REWRITING_SUBCOMMANDS):
        subtype = str(command.get("subtype"))
        yield Hit(
            _REWRITING_SUBCOMMANDS[subtype].format(table=name) + " under an ACCESS EXCLUSIVE lock",
            "do it in a maintenance window, or build a new table and switch over; "
            "not in a deploy-time migration",
            facts=ctx.row_facts(name),
        )


@rule("detach-partition-not-concurrent", Severity.ERROR, kinds=("AlterTableStmt",))
def detach_partition_not_concurrent(ctx: StatementContext) -> Iterator[Hit]:
    """Detaching a partition of an existing partitioned table without `CONCURRENTLY`.

    What it does:
    Flags `ALTER TABLE parent DETACH PARTITION p` without `CONCURRENTLY` when the
    partitioned table existed before the migration.

    Why it hurts:
    A plain `DETACH PARTITION` takes an ACCESS EXCLUSIVE lock on the partitioned
    table: every query on it, even one that never touches the detached partition,
    waits until the migration's transaction ends (and behind the lock's own wait, if
    a long query holds the table).

    Example:

        ALTER TABLE measurements DETACH PARTITION measurements_2019;

    Use instead:

        -- migrate:no-transaction
        ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY;

    PostgreSQL versions:
    `DETACH PARTITION ... CONCURRENTLY` exists from PostgreSQL 14. It cannot run in a
    transaction block, and PostgreSQL refuses it while the partitioned table has a
    `DEFAULT` partition. Before 14 there is no online form: keep the statement alone
    in its migration with a short `lock_timeout`.
    """
    for command in ctx.commands_on_existing("AT_DetachPartition"):
        if ((command.get("def") or {}).get("PartitionCmd") or {}).get("concurrent"):
            continue
        parent, _ = ctx.altered_table()
        help_text = (
            "use DETACH PARTITION ... CONCURRENTLY in a migration marked "
            "-- migrate:no-transaction (not possible while the table has a DEFAULT "
            "partition)"
        )
        if ctx.pg_version < 14:
            help_text = (
                "DETACH PARTITION ... CONCURRENTLY needs PostgreSQL 14: keep this "
                "statement alone in its migration, with a short lock_timeout"
            )
        yield Hit(
            f"DETACH PARTITION locks {parent} against reads and writes (ACCESS EXCLUSIVE) "
            "until the transaction ends",
            help_text,
            facts=ctx.row_facts(parent),
        )


@rule(
    "unbatched-backfill",
    Severity.ERROR,
    kinds=("UpdateStmt", "DeleteStmt", "SelectStmt", "InsertStmt"),
    plannable=True,
)
def unbatched_backfill(ctx: StatementContext) -> Iterator[Hit]:
    """`UPDATE`, `DELETE` or `INSERT ... SELECT` of existing tables in a schema migration.

    What it does:
    Flags `UPDATE` and `DELETE` statements on existing tables in a migration that is
    not a batched backfill (`-- migrate:backfill ...`), also when they are written in
    a `WITH` query (`WITH moved AS (UPDATE ...) SELECT ...`). Flags `INSERT ...
    SELECT` reading existing tables when it copies into an existing table, or when an
    earlier statement of the transaction took a lock that blocks writes to a table it
    reads (`CREATE TRIGGER ... ON t`, `CREATE INDEX ... ON t`, an `ALTER TABLE t`):
    writers of that table then wait for the whole copy. An `UPDATE` or `DELETE` whose
    `WHERE` pins every column of a primary key or unique constraint to a constant
    (`WHERE key = 'smtpTls'`) changes at most one row and is not flagged, nor is an
    `INSERT ... SELECT` that returns at most one row (`LIMIT 1`, aggregates without
    `GROUP BY`, or a `WHERE` that pins a unique key of the one table it reads).

    Why it hurts:
    One statement in one transaction locks every row it touches until the migration
    commits, blocks concurrent writers of those rows, and leaves as many dead tuples
    for vacuum. On a large table it runs for minutes while holding any lock the
    migration took before it.

    Example:

        UPDATE users SET plan = 'free' WHERE plan IS NULL;

    Use instead:

        -- migrate:phase backfill
        -- migrate:backfill table=users key=id batch-size=5000
        UPDATE users SET plan = 'free' WHERE id BETWEEN $1 AND $2 AND plan IS NULL;

    The runner then applies the update (or delete) in key-range batches, one
    transaction each, resumable. `migrate plan` writes this migration from the plain
    statement.

    PostgreSQL versions:
    All.
    """
    if ctx.file.directives.backfill is not None:
        return
    if ctx.kind == "InsertStmt" and _INSERT_SELECT.search(ctx.statement.text):
        yield from _insert_select(ctx)
    changes: list[tuple[str, Node, str]] = []
    if ctx.kind in ("UpdateStmt", "DeleteStmt"):
        changes.append((ctx.kind, ctx.fields, ""))
    for cte in (ctx.fields.get("withClause") or {}).get("ctes") or ():
        query = cte.get("CommonTableExpr", {}).get("ctequery") or {}
        for kind in ("UpdateStmt", "DeleteStmt"):
            if kind in query:
                changes.append((kind, query[kind], " (in a WITH query)"))
    for kind, fields, where in changes:
        name = ctx.existing_relation(fields.get("relation"))
        if name is None:
            continue
        if _one_row_by_key(ctx, fields if where else None):
            continue
        verb = "UPDATE" if kind == "UpdateStmt" else "DELETE"
        yield Hit(
            f"{verb} of existing table {name}{where} in one transaction locks every row it touches",
            "make it a batched backfill (-- migrate:backfill table=... key=..., and WHERE "
            "key BETWEEN $1 AND $2; docs/backfill.md)",
            facts=ctx.row_facts(name),
            plannable=not where and classify.batchable_change(kind, _whole(ctx)),
        )


def _insert_select(ctx: StatementContext) -> Iterator[Hit]:
    """``INSERT INTO x SELECT ... FROM y``: a copy in one transaction. Flagged when the
    transaction holds a lock that blocks writes to ``y`` (writers wait for the whole
    copy), or when ``x`` is an existing table (the copy into a busy table is a backfill:
    batch it)."""
    fields = ctx.fields if "relation" in ctx.fields else _whole(ctx)
    target, target_table = ctx.relation(fields.get("relation"))
    if not ctx.state.write_locked and not ctx.is_existing(target_table, target):
        return  # a copy into a new table that holds no lock on what it reads
    if not _may_read_existing(ctx):
        return  # every table it names is new: nothing to decode
    fields = _whole(ctx)
    sources = _tables_read(ctx, fields)
    if not sources or _at_most_one_row(ctx, fields.get("selectStmt") or {}):
        return
    for source in sources:
        held = ctx.state.write_locked.get(source)
        if held is not None:
            line, lock = held
            yield Hit(
                f"INSERT INTO {target} ... SELECT reads {source} while the {lock.label} lock "
                f"taken on it at line {line} is held: its writers wait for the whole copy",
                "copy the rows in a migration of their own (or a batched backfill), "
                "before or after the statement that locks the table",
                facts=ctx.row_facts(source),
                plannable=False,
            )
            return
    if ctx.is_existing(target_table, target):
        shown = ", ".join(str(source) for source in sources[:3])
        yield Hit(
            f"INSERT INTO existing table {target} ... SELECT from {shown} copies every "
            "selected row in one transaction",
            "make it a batched backfill (-- migrate:backfill table=... key=..., and WHERE "
            "key BETWEEN $1 AND $2; docs/backfill.md)",
            facts=ctx.row_facts(target),
            plannable=False,
        )


_INSERT_SELECT = re.compile(r"\bselect\b", re.IGNORECASE)
#: aggregate functions: without GROUP BY, a query of them returns at most one row
_AGGREGATES = frozenset(
    [
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "array_agg",
        "string_agg",
        "json_agg",
        "jsonb_agg",
        "json_object_agg",
        "jsonb_object_agg",
        "bool_and",
        "bool_or",
        "every",
        "bit_and",
        "bit_or",
        "xmlagg",
    ]
)


def _at_most_one_row(ctx: StatementContext, select: Node) -> bool:
    """The ``SELECT`` of an ``INSERT`` returns at most one row: ``LIMIT 1``,
    aggregates without ``GROUP BY``, or one table whose unique key the ``WHERE`` pins
    to constants."""
    query = select.get("SelectStmt") or {}
    if not query or query.get("op", "SETOP_NONE") != "SETOP_NONE":
        return False
    tables: list[Node] = query.get("fromClause") or []
    if len(tables) == 1 and "RangeVar" in tables[0]:
        pinned = {"relation": tables[0]["RangeVar"], "whereClause": query.get("whereClause")}
        if _one_row_by_key(ctx, pinned):
            return True
    limit = ((query.get("limitCount") or {}).get("A_Const") or {}).get("ival")
    if limit is not None and limit.get("ival", 0) <= 1:
        return True
    if query.get("groupClause"):
        return False
    for target in query.get("targetList") or ():
        value = target.get("ResTarget", {}).get("val")
        for kind, node in walk(value):
            if kind == "FuncCall" and (
                node.get("agg_star") or function_name(node)[1] in _AGGREGATES
            ):
                return True
    return False


def _one_row_by_key(ctx: StatementContext, fields: Node | None) -> bool:
    """An ``UPDATE`` / ``DELETE`` whose ``WHERE`` sets every column of a unique key of
    the table to a constant: it changes at most one row. ``fields`` ``None``: the
    statement's own, decoded whole only when the table has a unique key to pin."""
    _, table = ctx.relation((fields or ctx.fields).get("relation"))
    if table is None or not table.unique_keys:
        return False
    if fields is None:
        fields = _whole(ctx)
    fixed = _columns_equal_to_constants(fields.get("whereClause"))
    return any(key and set(key) <= fixed for key in table.unique_keys)


def _columns_equal_to_constants(expr: object) -> set[str]:
    """Columns that ``col = constant`` conjuncts of a ``WHERE`` pin down."""
    if not isinstance(expr, dict):
        return set()
    if "BoolExpr" in expr and expr["BoolExpr"].get("boolop") == "AND_EXPR":
        found: set[str] = set()
        for arg in expr["BoolExpr"].get("args") or ():
            found |= _columns_equal_to_constants(arg)
        return found
    operation = expr.get("A_Expr", {})
    names = [n.get("String", {}).get("sval") for n in operation.get("name") or ()]
    if operation.get("kind") != "AEXPR_OP" or names != ["="]:
        return set()
    for column, constant in (
        (operation.get("lexpr"), operation.get("rexpr")),
        (operation.get("rexpr"), operation.get("lexpr")),
    ):
        fields = (column or {}).get("ColumnRef", {}).get("fields") or ()
        while isinstance(constant, dict) and "TypeCast" in constant:
            constant = constant["TypeCast"].get("arg")
        if fields and isinstance(constant, dict) and "A_Const" in constant:
            name = fields[-1].get("String", {}).get("sval")
            if name:
                return {name}
    return set()


def _tables_read(ctx: StatementContext, fields: Node) -> list[QualifiedName]:
    """The existing tables an ``INSERT``'s query reads (not its ``WITH`` names)."""
    local: set[str] = set()
    read: list[Node] = []
    query = {"q": [fields.get("selectStmt"), fields.get("withClause")]}
    for kind, node in walk(query, HOLD_NO_TABLE):
        if kind == "CommonTableExpr":
            local.add(node.get("ctename", ""))
        elif kind == "RangeVar":
            read.append(node)
    found: list[QualifiedName] = []
    for node in read:
        if not node.get("schemaname") and node.get("relname") in local:
            continue
        name, table = ctx.relation(node)
        if ctx.is_existing(table, name) and name not in found:
            found.append(name)
    return found


def _may_read_existing(ctx: StatementContext) -> bool:
    """Whether a table the statement reads may be an existing one, from the names its
    JSON holds, without decoding it: ``False`` only when every table named anywhere in
    it is one the replay knows as new (or a system catalog), so that
    :func:`_tables_read` would find nothing (and note nothing)."""
    tree = ctx.statement.tree
    names = tree.range_var_names() if tree is not None else None
    if names is None:
        return True
    return any(
        ctx.may_be_existing(ctx.catalog.relation_of(node)[1])
        for node in ({"schemaname": schema, "relname": name} for schema, name in names)
    )


def _whole(ctx: StatementContext) -> Node:
    """All fields of the statement: the engine decodes only ``relation`` of an UPDATE
    (what the other rules read), the rest only here, for a statement being flagged."""
    tree = ctx.statement.tree
    if tree is None:
        return ctx.fields
    whole: Node = ctx.memo("whole tree", tree.fields)  # decoded once for all its uses
    return whole
