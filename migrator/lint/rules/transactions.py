"""Transactions: what runs inside one, how long locks are held, and lock timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.lint.rules.columns import SERIAL_TYPES
from migrator.source.segments import transaction_control as segment_control
from migrator.sql import classify
from migrator.sql.locks import statement_locks
from migrator.sql.names import object_name, strings, type_ref
from migrator.sql.quick_statements import adds_no_time
from migrator.sql.tree import alter_commands, column_constraints, def_option, string_constants
from migrator.sql.volatility import expression_volatility

#: what else PostgreSQL refuses in a transaction block (VACUUM, CREATE DATABASE, ...)
_NEVER_IN_TRANSACTION_KINDS = tuple(
    sorted(classify.TRANSACTION_SENSITIVE_KINDS - {"TransactionStmt"})
)
_LOCKING_KINDS = (
    "AlterTableStmt",
    "IndexStmt",
    "RenameStmt",
    "TruncateStmt",
    "VacuumStmt",
    "ClusterStmt",
    "ReindexStmt",
    "CreateTrigStmt",
    "RuleStmt",
    "DropStmt",
)
#: statements that hold no lock worth reporting after an ACCESS EXCLUSIVE one
_HARMLESS = ("VariableSetStmt", "TransactionStmt", "CommentStmt", "VariableShowStmt")


def uses_concurrently(kind: str, fields: dict[str, object]) -> bool:
    """The statement asks for a ``CONCURRENTLY`` operation."""
    if kind in ("IndexStmt", "DropStmt") and fields.get("concurrent"):
        return True
    if kind == "ReindexStmt":
        return def_option(fields.get("params"), "concurrently") is not None  # type: ignore[arg-type]
    if kind == "AlterTableStmt":
        for command in alter_commands(fields):
            if command.get("def", {}).get("PartitionCmd", {}).get("concurrent"):
                return True
    return False


@rule("concurrently-in-transaction", Severity.ERROR, kinds=_NEVER_IN_TRANSACTION_KINDS)
def concurrently_in_transaction(ctx: StatementContext) -> Iterator[Hit]:
    """A `CONCURRENTLY` statement in a migration that runs inside a transaction.

    What it does:
    Flags `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`,
    `REINDEX ... CONCURRENTLY` and `DETACH PARTITION ... CONCURRENTLY` in a migration
    the runner wraps in a transaction (any file without `-- migrate:no-transaction`),
    or inside an explicit `BEGIN` ... `COMMIT`; and the other statements PostgreSQL
    refuses in a transaction block: `VACUUM` (not `ANALYZE`), `CREATE`/`DROP DATABASE`,
    `CREATE`/`DROP TABLESPACE`, `ALTER SYSTEM`, `CREATE SUBSCRIPTION`, `DROP
    SUBSCRIPTION`, `CLUSTER` without a table, `REINDEX SCHEMA`/`DATABASE`/`SYSTEM`.
    `migrate up` refuses such a file before running anything. A file whose only
    statement is one of these runs outside a transaction (as golang-migrate and dbmate
    run it) and is not flagged.

    Why it hurts:
    PostgreSQL refuses these statements inside a transaction block ("cannot run inside
    a transaction block"): the migration fails at deploy time.

    Example:

        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
        ANALYZE users;

    Use instead:

        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);
        ANALYZE users;

    PostgreSQL versions:
    All.
    """
    if not ctx.state.in_transaction:
        return
    if uses_concurrently(ctx.kind, ctx.fields):
        what = "CONCURRENTLY"
    else:
        reason = classify.refused_in_transaction(ctx.kind, ctx.fields)
        if reason is None:
            return
        what = reason.split(" cannot ", 1)[0]
    where = (
        "inside an explicit BEGIN block"
        if ctx.state.explicit_transaction
        else "in a migration that runs in a transaction"
    )
    yield Hit(
        f"{what} cannot run {where}: PostgreSQL will refuse it",
        "add -- migrate:no-transaction at the top of the file and keep this statement "
        "in a migration of its own",
    )


@rule("validate-in-same-transaction", Severity.ERROR, kinds=("AlterTableStmt",))
def validate_in_same_transaction(ctx: StatementContext) -> Iterator[Hit]:
    """`VALIDATE CONSTRAINT` in the same transaction that added the constraint `NOT VALID`.

    What it does:
    Flags `ALTER TABLE ... VALIDATE CONSTRAINT c` when `c` was added `NOT VALID`
    earlier in the same transaction (or earlier in the same `ALTER TABLE`).

    Why it hurts:
    `ADD CONSTRAINT ... NOT VALID` takes an ACCESS EXCLUSIVE (CHECK) or SHARE ROW
    EXCLUSIVE (FOREIGN KEY) lock that is held until the transaction ends. Validating
    in the same transaction scans the whole table while that lock is still held, so
    the two-step form gains nothing.

    Example:

        ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
        ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;

    Use instead:

        ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
        -- next migration
        ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;

    PostgreSQL versions:
    All.
    """
    name, _ = ctx.relation(ctx.fields.get("relation"))
    added_here: set[str] = set()  # NOT VALID earlier in this statement: same transaction
    for command in ctx.alter_commands():
        constraint = (command.get("def") or {}).get("Constraint", {})
        if command.get("subtype") == "AT_AddConstraint" and constraint.get("skip_validation"):
            added_here.add(constraint.get("conname", ""))
        if command.get("subtype") != "AT_ValidateConstraint":
            continue
        constraint_name = command.get("name", "")
        if constraint_name in added_here or (name, constraint_name) in ctx.state.not_valid_added:
            yield Hit(
                f"constraint {command.get('name')} is validated in the same transaction "
                "that added it NOT VALID: the table stays locked during the scan",
                "move VALIDATE CONSTRAINT to a later migration (or commit in between in "
                "a -- migrate:no-transaction file)",
            )


@rule("missing-lock-timeout", Severity.ERROR, kinds=_LOCKING_KINDS)
def missing_lock_timeout(ctx: StatementContext) -> Iterator[Hit]:
    """A statement that locks a busy table while no `lock_timeout` is in force.

    What it does:
    Flags the first statement of a migration that takes a lock blocking reads or
    writes (SHARE or stronger) on an existing table when no `lock_timeout` applies:
    neither `-- migrate:lock-timeout` in the file, nor `SET lock_timeout` (or
    `SELECT set_config('lock_timeout', ...)`) before the statement, nor the runner's
    default (`lock-timeout` in `[tool.migrator]`, 5s unless set to 0). Reported once
    per file.

    Why it hurts:
    A statement waiting for a lock blocks every later query on the table, readers
    included, for as long as it waits. One long-running query plus one pending
    `ALTER TABLE` stops all traffic. A short lock timeout makes the migration fail
    fast (and the runner retry) instead.

    Example:

        -- migrate:lock-timeout 0
        ALTER TABLE users ADD COLUMN nickname text;

    Use instead:

        -- migrate:lock-timeout 3s
        ALTER TABLE users ADD COLUMN nickname text;

    PostgreSQL versions:
    All.
    """
    if ctx.state.lock_timeout or ctx.state.lock_timeout_reported:
        return
    for range_var, lock in statement_locks(ctx.kind, ctx.fields):
        name = ctx.existing_relation(range_var)
        if name is not None:
            ctx.state.lock_timeout_reported = True  # once per file
            yield Hit(
                f"{lock.label} lock on {name} with no lock_timeout: while it waits, every "
                "query on the table queues behind it",
                "add -- migrate:lock-timeout 5s at the top of the file, or set "
                "lock-timeout in [tool.migrator]",
            )
            return
    if ctx.kind == "DropStmt" and ctx.fields.get("removeType") == "OBJECT_TABLE":
        ctx.state.lock_timeout_reported = True
        yield Hit(
            "DROP TABLE takes an ACCESS EXCLUSIVE lock with no lock_timeout",
            "add -- migrate:lock-timeout 5s at the top of the file",
        )


@rule("statements-after-access-exclusive", Severity.ERROR, kinds=("*",))
def statements_after_access_exclusive(ctx: StatementContext) -> Iterator[Hit]:
    """More statements in the same transaction after one took ACCESS EXCLUSIVE on a busy table.

    What it does:
    Flags the first statement that follows, in the same transaction, a statement that
    took an ACCESS EXCLUSIVE lock on an existing table. Reported once per transaction.
    A table created earlier in the same migration (also by a plain `CREATE TABLE`
    inside a `DO` block) holds no data and nobody else uses it: its locks do not
    count. Neither does the lock a `DROP TABLE` holds on the dropped table (whatever
    still reads it fails after the commit anyway: see drop-table), but the lock it
    takes on each table its foreign keys reference does (PostgreSQL locks those
    ACCESS EXCLUSIVE to remove the key's triggers), and with `CASCADE` on each table
    whose foreign key to it is dropped. A statement that only changes the catalog of
    a table the transaction already holds ACCESS EXCLUSIVE (`ALTER TABLE t ADD
    COLUMN c text` after another `ALTER TABLE t`, `DROP NOT NULL`, `SET DEFAULT`,
    renaming a column) waits for no lock and takes no time: it is not reported. Nor
    is one that touches only a sequence or reads a held table by one index probe:
    `SELECT setval('t_id_seq', max(id)) FROM t` where `id` leads a btree index,
    `ALTER SEQUENCE ... OWNED BY` of a sequence the same transaction created.

    Why it hurts:
    Locks are held until the transaction ends. Every statement after the one that
    took ACCESS EXCLUSIVE extends the time during which nobody can read or write the
    table, and a slow one (an index build, a backfill) turns an instant change into an
    outage.

    Example:

        ALTER TABLE users ADD COLUMN nickname text;
        CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);
        UPDATE accounts SET plan = 'free' WHERE plan IS NULL;

    Use instead:

        ALTER TABLE users ADD COLUMN nickname text;
        -- next migration
        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_nickname_idx ON users (nickname);

    PostgreSQL versions:
    All.
    """
    if ctx.kind in _HARMLESS or not ctx.state.in_transaction:
        return
    if ctx.state.after_access_exclusive_reported or not ctx.state.access_exclusive:
        return
    if _catalog_only_on_held_table(ctx):
        return  # no new lock to wait for, no time added
    (name, (line, how)), *_ = ctx.state.access_exclusive.items()
    ctx.state.after_access_exclusive_reported = True  # once per transaction
    how = f" ({how})" if how else ""
    yield Hit(
        f"runs while the ACCESS EXCLUSIVE lock taken on {name} at line {line}{how} is "
        "still held: nobody can read or write the table until the transaction ends",
        "put the ACCESS EXCLUSIVE statement in a migration of its own",
    )


#: ALTER TABLE subcommands that change only the catalog and lock only their table
_CATALOG_ONLY = frozenset({"AT_DropNotNull", "AT_ColumnDefault", "AT_SetStatistics"})
#: column constraints an instant ADD COLUMN may have (PostgreSQL 11+: a default that
#: is not volatile is stored once, not written into every row)
_INSTANT_COLUMN_CONSTRAINTS = frozenset({"CONSTR_NULL", "CONSTR_NOTNULL", "CONSTR_DEFAULT"})


def _catalog_only_on_held_table(ctx: StatementContext) -> bool:
    """The statement changes only the catalog of a table the transaction already holds
    ACCESS EXCLUSIVE, or is quick (:func:`~migrator.sql.quick_statements.adds_no_time`):
    it waits for no lock and adds no time to the one held."""
    held = ctx.state.access_exclusive
    # the engine decodes a SELECT's kind only: the judgement needs its clauses
    tree = ctx.statement.kind_and_fields() if ctx.kind == "SelectStmt" else (ctx.kind, ctx.fields)
    if tree is not None and adds_no_time(*tree, ctx.catalog, set(held)):
        return True  # touches a sequence, or reads a table by one index probe
    if ctx.kind == "RenameStmt":
        name, _ = ctx.relation(ctx.fields.get("relation"))
        renames = ctx.fields.get("renameType") in ("OBJECT_COLUMN", "OBJECT_TABCONSTRAINT")
        return renames and name in held
    if ctx.kind != "AlterTableStmt":
        return False
    name, _ = ctx.altered_table()
    if name not in held:
        return False
    for command in ctx.alter_commands():
        subtype = command.get("subtype")
        if subtype == "AT_AddColumn" and _instant_column(ctx, command):
            continue
        if subtype not in _CATALOG_ONLY:
            return False
    return True


def _instant_column(ctx: StatementContext, command: dict[str, Any]) -> bool:
    """``ADD COLUMN`` that writes no row and validates nothing: no constraint beyond
    NULL, NOT NULL with a default, and a default that is not volatile (PostgreSQL 11+)."""
    column = (command.get("def") or {}).get("ColumnDef", {})
    if type_ref(column.get("typeName")).name in SERIAL_TYPES:
        return False
    constraints = list(column_constraints(column))
    kinds = {c.get("contype") for c in constraints}
    if not kinds <= _INSTANT_COLUMN_CONSTRAINTS:
        return False
    if "CONSTR_NOTNULL" in kinds and "CONSTR_DEFAULT" not in kinds:
        return False  # fails, or scans, on a table with rows
    for constraint in constraints:
        if constraint.get("contype") == "CONSTR_DEFAULT" and (
            ctx.pg_version < 11
            or expression_volatility(constraint.get("raw_expr"), ctx.catalog)
            in ("volatile", "unknown")
        ):
            return False
    return True


@rule("enum-value-in-transaction", Severity.ERROR, kinds=("*",))
def enum_value_in_transaction(ctx: StatementContext) -> Iterator[Hit]:
    """`ALTER TYPE ... ADD VALUE` in a transaction before PostgreSQL 12, or its value used too soon.

    What it does:
    Flags `ALTER TYPE ... ADD VALUE` in a transaction when the target PostgreSQL is
    older than 12, and any later statement of the same transaction that uses the new
    value (as a string constant).

    Why it hurts:
    Before PostgreSQL 12, `ADD VALUE` cannot run in a transaction block at all. From
    12 on it can, but the new value cannot be used until the transaction commits
    ("unsafe use of new value"): the migration fails at deploy time.

    Example:

        ALTER TYPE order_status ADD VALUE 'refunded';
        INSERT INTO order_status_labels (status, label) VALUES ('refunded', 'Refunded');

    Use instead:

        ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded';
        -- next migration
        INSERT INTO order_status_labels (status, label) VALUES ('refunded', 'Refunded');

    PostgreSQL versions:
    `ADD VALUE` in a transaction block needs 12+; the new value is usable only after
    commit on every version (unless the type itself was created in that transaction).
    """
    if not ctx.state.in_transaction:
        return
    if ctx.kind == "AlterEnumStmt":
        if ctx.fields.get("newVal") and not ctx.fields.get("oldVal") and ctx.pg_version < 12:
            yield Hit(
                "ALTER TYPE ... ADD VALUE cannot run inside a transaction block before "
                f"PostgreSQL 12 (target: {ctx.pg_version})",
                "add -- migrate:no-transaction at the top of the file",
            )
        return
    if not ctx.state.enum_values_added:
        return
    used = ctx.state.enum_values_added.intersection(string_constants(ctx.fields))
    for value in sorted(used):
        if value in ctx.state.unknown_enum_values:
            name = ctx.state.unknown_enum_values[value]
            ctx.note_unknown("type", name, "a type created before this transaction")
        yield Hit(
            f"enum value {value!r} was added in this transaction and cannot be used before "
            "it commits",
            "use the new value in a later migration",
        )


@rule("transaction-control", Severity.ERROR, kinds=("TransactionStmt",))
def transaction_control(ctx: StatementContext) -> Iterator[Hit]:
    """`ROLLBACK` or a two-phase command in a migration that runs in transactions.

    What it does:
    Flags `ROLLBACK`, `PREPARE TRANSACTION`, `COMMIT PREPARED` and `ROLLBACK PREPARED`
    in a migration without `-- migrate:no-transaction`. (`BEGIN`, `COMMIT`, `END` and
    `COMMIT AND CHAIN` are fine: a `BEGIN ... COMMIT` wrapper is the runner's own
    transaction, and a commit between statements is a commit point, see
    `commit-point`. Savepoints are fine.) In a no-transaction migration, flags a
    `BEGIN` that the file never commits, and `PREPARE TRANSACTION`: `migrate up`
    refuses such a file.

    Why it hurts:
    The runner records the migration as applied when the file's last transaction
    commits. A `ROLLBACK` throws away the work before it while the ledger still says
    applied; a prepared transaction stays open after the migration, holding its locks.

    Example:

        ALTER TABLE users ADD COLUMN nickname text;
        ROLLBACK;

    Use instead:

        ALTER TABLE users ADD COLUMN nickname text;

    PostgreSQL versions:
    All.
    """
    control = segment_control(ctx.statement)
    if not ctx.state.transactional:
        if control is not None and control.keyword == "PREPARE TRANSACTION":
            yield Hit(
                "PREPARE TRANSACTION leaves the block's work prepared, not committed "
                "(invisible, holding its locks until COMMIT PREPARED), while the ledger "
                "records the migration as applied",
                "end the block with COMMIT",
            )
        return
    if control is not None and control.kind == "refused":
        yield Hit(
            f"{control.keyword} in a migration the runner runs in a transaction: it would "
            "throw away work that the ledger then records as applied",
            "remove it; to undo a change, write the statement that undoes it",
        )


@rule("commit-point", Severity.WARNING, kinds=("TransactionStmt",))
def commit_point(ctx: StatementContext) -> Iterator[Hit]:
    """A `COMMIT` (or `END`, `COMMIT AND CHAIN`) between the statements of a migration.

    What it does:
    Describes each commit point of a migration that runs in transactions: a `COMMIT`,
    `END` or `COMMIT AND CHAIN` after which more statements follow, or the `COMMIT`
    of one of several `BEGIN ... COMMIT` blocks. The runner then runs the file as
    segments, each in its own transaction, and records its progress per segment. A
    `BEGIN ... COMMIT` wrapper around the whole file is not a commit point (it is the
    runner's own transaction) and is not reported.

    Why it hurts:
    The file is no longer all-or-nothing: when a later segment fails, the segments
    before it stay committed (the ledger marks the migration failed after them, and
    `migrate up --resume` continues at the first unfinished segment). Each segment
    must be safe to leave applied on its own. That is often the point: sourcegraph
    commits after each table (`COMMIT AND CHAIN`) so that no lock is held across
    tables.

    Example:

        ALTER TABLE users ADD COLUMN nickname text;
        COMMIT AND CHAIN;
        ALTER TABLE orders ADD COLUMN note text;

    Use instead:

        ALTER TABLE users ADD COLUMN nickname text;
        ALTER TABLE orders ADD COLUMN note text;

    PostgreSQL versions:
    All (`COMMIT AND CHAIN` needs 12).
    """
    if not ctx.state.transactional:
        return
    segments = ctx.file.segments
    for segment in segments[:-1]:
        commit = segment.commit
        if commit is None or commit.statement.index != ctx.statement.index:
            continue
        first, last = segment.statements[0].line, segment.statements[-1].end_line
        chained = (
            ", and the next segment starts at once in a new transaction with the same "
            "characteristics"
            if commit.keyword.endswith("AND CHAIN")
            else ""
        )
        yield Hit(
            f"{commit.keyword} is a commit point: segment {segment.number} of "
            f"{len(segments)} (lines {first}-{last}) commits here{chained}; if a later "
            f"segment fails, this one stays applied and `migrate up --resume` continues "
            f"at segment {segment.number + 1}",
            "keep each segment safe to leave applied on its own, or remove the commit "
            "points to make the migration all-or-nothing",
        )


@rule(
    "non-idempotent-non-transactional",
    Severity.WARNING,
    kinds=(
        "CreateStmt",
        "IndexStmt",
        "CreateSchemaStmt",
        "DropStmt",
        "ViewStmt",
        "CreateFunctionStmt",
        "CreateSeqStmt",
        "AlterTableStmt",
    ),
)
def non_idempotent_non_transactional(ctx: StatementContext) -> Iterator[Hit]:
    """`CREATE` / `DROP` without `IF [NOT] EXISTS` in a migration that runs outside a transaction.

    What it does:
    In a migration marked `-- migrate:no-transaction`, flags `CREATE TABLE`,
    `CREATE INDEX`, `CREATE SCHEMA`, `CREATE SEQUENCE`, `ADD COLUMN` without
    `IF NOT EXISTS`, `CREATE VIEW` / `CREATE FUNCTION` without `OR REPLACE`, and
    `DROP ...` / `DROP COLUMN` without `IF EXISTS`.

    Why it hurts:
    Without a transaction, a run that fails half way leaves the first statements
    applied. Re-running the migration then fails on the first of them ("already
    exists"), and someone has to repair the database by hand.

    Example:

        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

    Use instead:

        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);

    PostgreSQL versions:
    All (`CREATE INDEX IF NOT EXISTS` needs 9.5).
    """
    if ctx.state.transactional:
        return
    for statement, missing in _not_rerunnable(ctx):
        yield Hit(
            f"{statement} without {missing}: a re-run after a half-applied run fails here",
            f"add {missing}: this migration runs outside a transaction",
        )


#: the statement each kind is, as written
_CREATE_WORDS = {
    "CreateStmt": "CREATE TABLE",
    "IndexStmt": "CREATE INDEX",
    "CreateSchemaStmt": "CREATE SCHEMA",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "ViewStmt": "CREATE VIEW",
    "CreateFunctionStmt": "CREATE FUNCTION",
}


def _not_rerunnable(ctx: StatementContext) -> Iterator[tuple[str, str]]:
    """``(statement with its object, missing clause)`` of each part that fails when run
    a second time."""
    kind, fields = ctx.kind, ctx.fields
    if kind in ("CreateStmt", "IndexStmt", "CreateSchemaStmt", "CreateSeqStmt"):
        if not fields.get("if_not_exists"):
            verb = _CREATE_WORDS[kind] + (" CONCURRENTLY" if fields.get("concurrent") else "")
            yield f"{verb} {_created_object(ctx)}", "IF NOT EXISTS"
    elif kind in ("ViewStmt", "CreateFunctionStmt"):
        if not fields.get("replace"):
            yield f"{_CREATE_WORDS[kind]} {_created_object(ctx)}", "OR REPLACE"
    elif kind == "DropStmt":
        if not fields.get("missing_ok"):
            what = str(fields.get("removeType", "")).removeprefix("OBJECT_").replace("_", " ")
            names = [
                ".".join(n for n in object_name(_items(o)) if n)
                for o in fields.get("objects") or ()
            ]
            if fields.get("concurrent"):
                what += " CONCURRENTLY"
            yield f"DROP {what} {', '.join(names)}".rstrip(), "IF EXISTS"
    elif kind == "AlterTableStmt":
        table, _ = ctx.relation(fields.get("relation"))
        for command in alter_commands(fields):
            column = (command.get("def") or {}).get("ColumnDef", {}).get("colname")
            if command.get("subtype") == "AT_AddColumn" and not command.get("missing_ok"):
                yield f"ALTER TABLE {table} ADD COLUMN {column}", "IF NOT EXISTS"
            elif command.get("subtype") == "AT_DropColumn" and not command.get("missing_ok"):
                yield f"ALTER TABLE {table} DROP COLUMN {command.get('name')}", "IF EXISTS"


def _items(node: object) -> list[Any] | None:
    """The name parts of one object of a ``DROP`` (a list node, or a bare name)."""
    if isinstance(node, dict):
        for wrapper, key in (
            ("List", "items"),
            ("ObjectWithArgs", "objname"),
            ("TypeName", "names"),
        ):
            if wrapper in node:
                parts: list[Any] | None = node[wrapper].get(key)
                return parts
    return [node]


def _created_object(ctx: StatementContext) -> str:
    """The name of what a ``CREATE`` statement creates, as the replay resolves it."""
    fields = ctx.fields
    if ctx.kind == "IndexStmt":
        table, _ = ctx.relation(fields.get("relation"))
        return f"{fields.get('idxname') or '(unnamed)'} ON {table}"
    if ctx.kind == "CreateSchemaStmt":
        return str(fields.get("schemaname", ""))
    if ctx.kind == "CreateFunctionStmt":
        return ".".join(strings(fields.get("funcname")))
    range_var = fields.get("relation") or fields.get("sequence") or fields.get("view")
    name, _ = ctx.relation(range_var)
    return str(name)
