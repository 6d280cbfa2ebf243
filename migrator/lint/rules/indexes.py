"""Index builds and drops that block writes or reads on busy tables."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import SYSTEM_SCHEMA
from migrator.sql.names import object_name
from migrator.sql.tree import def_option


def _list_items(item: object) -> list[object]:
    if isinstance(item, dict) and "List" in item:
        return list(item["List"].get("items") or ())
    return []


_PARTITIONED_HELP = (
    "create the index with ON ONLY on the parent, build each partition's index with "
    "CREATE INDEX CONCURRENTLY, then ALTER INDEX ... ATTACH PARTITION"
)


@rule("index-not-concurrent", Severity.ERROR, kinds=("IndexStmt",), plannable=True)
def index_not_concurrent(ctx: StatementContext) -> Iterator[Hit]:
    """Creating an index on an existing table without `CONCURRENTLY`.

    What it does:
    Flags `CREATE [UNIQUE] INDEX` without `CONCURRENTLY` on a table that an earlier
    migration created (or that the migrations never created, so it existed before
    them). An index on a table created earlier in the same migration is fine.
    `CREATE INDEX CONCURRENTLY` on a partitioned table is flagged too, new or not:
    PostgreSQL refuses it.

    Why it hurts:
    A plain `CREATE INDEX` holds a SHARE lock for the whole build: every INSERT,
    UPDATE and DELETE on the table waits until the index is built, which takes
    minutes on a large table.

    Example:

        CREATE INDEX users_email_idx ON users (email);

    Use instead:

        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);

    On a partitioned table `CONCURRENTLY` is impossible: create the parent index
    with `ON ONLY` (instant, invalid), build each partition's index concurrently, and
    `ALTER INDEX parent_idx ATTACH PARTITION partition_idx` for each.

    PostgreSQL versions:
    All. `CONCURRENTLY` cannot run inside a transaction block, so the migration must
    be marked `-- migrate:no-transaction`.
    """
    relation = ctx.fields.get("relation") or {}
    name, table = ctx.relation(relation)
    if ctx.fields.get("concurrent"):
        if table is not None and table.partitioned:  # fails at deploy, new table or not
            yield Hit(
                f"CREATE INDEX CONCURRENTLY on partitioned table {name} fails: PostgreSQL "
                "cannot build a partitioned index concurrently",
                _PARTITIONED_HELP,
                plannable=False,
            )
        return
    if not ctx.is_existing(table, name):
        return
    if table is not None and table.partitioned:
        if not relation.get("inh"):  # ON ONLY: catalog-only, the index starts invalid
            return
        yield Hit(
            f"CREATE INDEX on partitioned table {name} locks every partition against writes",
            _PARTITIONED_HELP,
            facts=ctx.row_facts(name),
        )
        return
    yield Hit(
        f"CREATE INDEX on existing table {name} blocks writes until the build finishes",
        "use CREATE INDEX CONCURRENTLY in a migration marked -- migrate:no-transaction",
        facts=ctx.row_facts(name),
    )


@rule("drop-index-not-concurrent", Severity.ERROR, kinds=("DropStmt",), plannable=True)
def drop_index_not_concurrent(ctx: StatementContext) -> Iterator[Hit]:
    """Dropping an existing index without `CONCURRENTLY`.

    What it does:
    Flags `DROP INDEX` without `CONCURRENTLY` unless the index was created earlier in
    the same migration.

    Why it hurts:
    `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table. The drop is
    instant once the lock is held, but waiting for it queues every later query on the
    table, reads included, behind any long-running transaction.

    Example:

        DROP INDEX users_email_idx;

    Use instead:

        -- migrate:no-transaction
        DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;

    PostgreSQL versions:
    All. `DROP INDEX CONCURRENTLY` cannot run in a transaction block and drops one
    index per statement.
    """
    if ctx.fields.get("removeType") != "OBJECT_INDEX" or ctx.fields.get("concurrent"):
        return
    for item in ctx.fields.get("objects") or ():
        schema, name = object_name(_list_items(item))
        qualified = ctx.catalog.resolve(schema, name, kind="index")
        index = ctx.catalog.index(qualified)
        if index is not None and (
            ctx.catalog.is_new(index)
            or not ctx.is_existing(ctx.catalog.table(index.table), index.table)
        ):
            continue
        if index is None:
            ctx.note_unknown("index", qualified, "an index of an existing table")
        label = str(index.name) if index is not None else name
        table = str(index.table) if index is not None else "its table"
        yield Hit(
            f"DROP INDEX {label} locks {table} against reads and writes",
            "use DROP INDEX CONCURRENTLY in a migration marked -- migrate:no-transaction",
        )


@rule("reindex-not-concurrent", Severity.ERROR, kinds=("ReindexStmt",), plannable=True)
def reindex_not_concurrent(ctx: StatementContext) -> Iterator[Hit]:
    """`REINDEX` without `CONCURRENTLY`.

    What it does:
    Flags every `REINDEX` (index, table, schema or database) that is not
    `CONCURRENTLY`, and `REINDEX CONCURRENTLY` when the target PostgreSQL is older
    than 12 (it does not exist there).

    Why it hurts:
    A plain `REINDEX` blocks writes to the table (and reads that would use the index)
    for the whole rebuild.

    Example:

        REINDEX INDEX users_email_idx;

    Use instead:

        -- migrate:no-transaction
        REINDEX INDEX CONCURRENTLY users_email_idx;

    PostgreSQL versions:
    `REINDEX CONCURRENTLY` exists from PostgreSQL 12. It cannot run in a transaction
    block, and PostgreSQL refuses it on system catalogs (`REINDEX SYSTEM`, a
    `pg_catalog` table or index): such a rebuild is flagged with that advice, since
    it belongs in a maintenance window rather than a migration.
    """
    if _reindexes_system_catalogs(ctx):
        yield Hit(
            "REINDEX of a system catalog blocks every session that reads the catalog "
            "for the whole rebuild",
            "PostgreSQL refuses REINDEX CONCURRENTLY on system catalogs: rebuild them "
            "in a maintenance window, not in a migration",
            plannable=False,
        )
        return
    if def_option(ctx.fields.get("params"), "concurrently") is not None:
        if ctx.pg_version < 12:
            yield Hit(
                f"REINDEX CONCURRENTLY needs PostgreSQL 12 (target {ctx.pg_version}): it "
                "fails there",
                "build a new index concurrently, then drop the old one concurrently",
                plannable=False,
            )
        return
    help_text = "use REINDEX ... CONCURRENTLY in a migration marked -- migrate:no-transaction"
    if ctx.pg_version < 12:
        help_text = (
            "REINDEX CONCURRENTLY needs PostgreSQL 12: build a new index concurrently, "
            "then drop the old one concurrently"
        )
    one_relation = str(ctx.fields.get("kind", "")) in (
        "REINDEX_OBJECT_TABLE",
        "REINDEX_OBJECT_INDEX",
    )
    yield Hit(
        "REINDEX without CONCURRENTLY blocks writes for the whole rebuild",
        help_text,
        plannable=one_relation and ctx.pg_version >= 12,  # what migrate plan rewrites
    )


def _reindexes_system_catalogs(ctx: StatementContext) -> bool:
    """``REINDEX SYSTEM``, or ``REINDEX TABLE|INDEX`` of a ``pg_catalog`` relation
    (qualified, or an unqualified system catalog's name)."""
    kind = str(ctx.fields.get("kind", ""))
    if kind == "REINDEX_OBJECT_SYSTEM":
        return True
    if kind not in ("REINDEX_OBJECT_TABLE", "REINDEX_OBJECT_INDEX"):
        return False
    name, _ = ctx.relation(ctx.fields.get("relation"))
    return name.schema == SYSTEM_SCHEMA
