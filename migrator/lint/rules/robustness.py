"""Files that will not run as written, and schema shapes that fail later.

``syntax-error``, ``psql-meta-command``, ``invalid-directive``, ``invalid-suppression``
and ``invalid-migration-file`` are reported by the engine from what the source layer
found; their check functions only carry the documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import Catalog, Table
from migrator.sql.names import MAX_IDENTIFIER_BYTES, strings
from migrator.sql.parse import Node
from migrator.sql.tree import column_constraints


@rule("syntax-error", Severity.ERROR)
def syntax_error(ctx: StatementContext) -> Iterator[Hit]:
    """A statement that does not parse under the PostgreSQL grammar.

    What it does:
    Reports each statement that PostgreSQL's own parser (libpg_query) rejects, with
    the line and column of the error. The rest of the file is still linted: the file
    is split with the scanner and each statement parsed on its own.

    Why it hurts:
    The migration fails at deploy time, after the statements before it ran (and, in
    a non-transactional migration, stay applied).

    Example:

        ALTER TABLE users ADD COLUMN nickname txt text;

    Use instead:

        ALTER TABLE users ADD COLUMN nickname text;

    PostgreSQL versions:
    The grammar is PostgreSQL 18's (pglast): syntax newer than your server parses
    here and still fails on the server.
    """
    return iter(())


@rule("psql-meta-command", Severity.ERROR)
def psql_meta_command(ctx: StatementContext) -> Iterator[Hit]:
    """psql meta-commands (`\\i`, `\\set`, `\\connect`) or `COPY ... FROM stdin` data.

    What it does:
    Flags lines starting with a backslash command outside strings and comments, and
    `COPY ... FROM STDIN` (its data block is a psql feature).

    Why it hurts:
    Migrations are sent to the server as SQL, not run through psql: the server
    answers with a syntax error at deploy time.

    Example:

        \\set ON_ERROR_STOP on
        CREATE TABLE tags (id bigint PRIMARY KEY);

    Use instead:

        CREATE TABLE tags (id bigint PRIMARY KEY);

    PostgreSQL versions:
    All.
    """
    return iter(())


@rule("invalid-directive", Severity.ERROR)
def invalid_directive(ctx: StatementContext) -> Iterator[Hit]:
    """A `-- migrate:` directive that is unknown, malformed or in the wrong place.

    What it does:
    Reports directive comments the runner would refuse: an unknown word after
    `-- migrate:` (a typo such as `-- migrate:no-transction`), a bad argument
    (`-- migrate:lock-timeout soon`), a header directive (`no-transaction`,
    `lock-timeout`, `statement-timeout`, `phase`, `backfill`) after the first
    statement, or one given twice; and a `-- migrate:backfill` the runner would refuse
    (no `table=` or `key=`, `batch-size=abc`, a body that is not one `UPDATE` or
    `DELETE` of that table using `$1` and `$2`, or `-- migrate:no-transaction` with it).

    Why it hurts:
    A misspelt `no-transaction` would otherwise be ignored silently and the
    migration would run in a transaction it cannot run in; the runner refuses such a
    file at deploy time, so the linter reports it first.

    Example:

        -- migrate:no-transction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);

    Use instead:

        -- migrate:no-transaction
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);

    PostgreSQL versions:
    All.
    """
    return iter(())


@rule("invalid-suppression", Severity.ERROR)
def invalid_suppression(ctx: StatementContext) -> Iterator[Hit]:
    """A `-- migrate:lint-ignore` that names a rule that does not exist.

    What it does:
    Reports every unknown rule id in `-- migrate:lint-ignore` and
    `-- migrate:lint-ignore-file` comments. The unknown id silences nothing (other,
    known ids in the same comment still apply). This finding cannot be suppressed.

    Why it hurts:
    A typo in a suppression must never silence everything, or silently silence
    nothing while the author believes the finding was reviewed.

    Example:

        -- migrate:lint-ignore drop-tabel -- replaced by archive.sessions
        DROP TABLE sessions;

    Use instead:

        -- migrate:lint-ignore drop-table -- replaced by archive.sessions
        DROP TABLE sessions;

    PostgreSQL versions:
    All.
    """
    return iter(())


@rule("invalid-migration-file", Severity.ERROR)
def invalid_migration_file(ctx: StatementContext) -> Iterator[Hit]:
    """A file in the migrations directory that the runner cannot use.

    What it does:
    Reports what discovery found wrong with the directory: a name that does not
    parse as `<version>_<name>.up.sql` / `.down.sql` / `.sql`, two migrations with one
    version, a down file without its up, an empty or non-UTF-8 file.

    Why it hurts:
    The runner refuses to run any migration while the directory has such a file.

    Example:

        -- a file named 0003-add-index.sql in the migrations directory
        SELECT 1;

    Use instead:

        -- the same file named 0003_add_index.up.sql, with its 0003_add_index.down.sql
        SELECT 1;

    PostgreSQL versions:
    All.
    """
    return iter(())


#: a run of identifier characters longer than 63 (tried once per run, not per character)
_LONG_WORD = re.compile(r'(?<![\w$"])[\w$"]{' + str(MAX_IDENTIFIER_BYTES + 1) + ",}")
#: a run that may be longer than 63 bytes in UTF-8 (a character takes at most 4)
_MAYBE_LONG_WORD = re.compile(r'(?<![\w$"])[\w$"]{' + str(MAX_IDENTIFIER_BYTES // 4 + 1) + ",}")
#: bytes that may belong to such a run: ASCII letters, digits, ``_$"``, and every byte
#: of a multi-byte character (a superset: only a text that passes is searched)
_WORD_BYTES = bytes(
    1 if byte >= 0x80 or chr(byte).isalnum() or chr(byte) in '_$"' else 0 for byte in range(256)
)
_LONG_RUN = b"\x01" * (MAX_IDENTIFIER_BYTES + 1)


def _has_long_word(text: str) -> bool:
    """``text`` holds a run of identifier characters longer than 63. The exact regular
    expression is slow on large statements, so a run of 64 word bytes is looked for
    first (``bytes.translate`` and ``in``: C speed); without one there is no match."""
    encoded = text.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in encoded.translate(_WORD_BYTES):
        return False
    if len(encoded) == len(text):  # ASCII: characters are bytes
        return _LONG_WORD.search(text) is not None
    return any(
        len(word.group().encode("utf-8", "surrogatepass")) > MAX_IDENTIFIER_BYTES
        for word in _MAYBE_LONG_WORD.finditer(text)
    )


_NAME_KEYS = ("relname", "colname", "idxname", "conname", "newname", "schemaname", "trigname")
#: keys holding a dotted name as a list of ``String`` nodes (functions, types, domains)
_NAME_LIST_KEYS = ("funcname", "typeName", "names", "domainname", "defnames")


def _dicts(fields: Node) -> Iterator[Node]:
    """Every dict in the tree, whatever key holds it (``relation``, ``view``,
    ``sequence`` and ``into.rel`` hold the names of what a statement creates)."""
    stack: list[object] = [fields]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(v for v in current.values() if isinstance(v, dict | list))
        elif isinstance(current, list):
            stack.extend(current)


def _truncated_names(fields: Node) -> Iterator[str]:
    for node in _dicts(fields):
        values = [node.get(key) for key in _NAME_KEYS]
        for key in _NAME_LIST_KEYS:
            listed = node.get(key)
            if isinstance(listed, list):
                values.extend(strings(listed))
        for value in values:
            if isinstance(value, str) and len(value.encode("utf-8")) >= MAX_IDENTIFIER_BYTES - 3:
                yield value


@rule(
    "identifier-too-long",
    Severity.ERROR,
    kinds=(
        "CreateStmt",
        "AlterTableStmt",
        "IndexStmt",
        "RenameStmt",
        "CreateSchemaStmt",
        "ViewStmt",
        "CreateTableAsStmt",
        "CreateFunctionStmt",
        "CreateTrigStmt",
        "CreateEnumStmt",
        "CreateSeqStmt",
        "CreateDomainStmt",
        "CompositeTypeStmt",
        "CreateRangeStmt",
        "DefineStmt",
    ),
)
def identifier_too_long(ctx: StatementContext) -> Iterator[Hit]:
    """An identifier longer than 63 bytes, which PostgreSQL truncates silently.

    What it does:
    Flags table, view, materialized view, sequence, type, domain, column, index,
    constraint, schema, trigger and function names longer than 63 bytes
    (NAMEDATALEN - 1), where they are created, renamed or used.

    Why it hurts:
    PostgreSQL cuts the name to 63 bytes with only a NOTICE. Two long names that share
    their first 63 bytes collide, and code (or a later migration) that uses the full
    name does not find the object.

    Example:

        CREATE INDEX index_on_customer_subscription_events_created_at_and_customer_id_desc
            ON customer_subscription_events (created_at, customer_id DESC);

    Use instead:

        CREATE INDEX customer_sub_events_created_customer_idx
            ON customer_subscription_events (created_at, customer_id DESC);

    PostgreSQL versions:
    All (with the default NAMEDATALEN of 64).
    """
    if not _has_long_word(ctx.statement.text):
        return
    reported: set[str] = set()
    for truncated in _truncated_names(ctx.fields):
        pattern = re.compile(r'"?(' + re.escape(truncated) + r'[\w$]*)"?')
        for match in pattern.finditer(ctx.statement.text):
            full = match.group(1)
            if len(full.encode("utf-8")) > MAX_IDENTIFIER_BYTES and full not in reported:
                reported.add(full)
                yield Hit(
                    f"identifier {full} is {len(full.encode('utf-8'))} bytes: PostgreSQL "
                    f"truncates it to {truncated}",
                    f"use a name of at most {MAX_IDENTIFIER_BYTES} bytes",
                )


def _foreign_keys(ctx: StatementContext) -> Iterator[tuple[tuple[str, ...], Node]]:
    """``(columns, constraint)`` of every foreign key the statement adds."""
    if ctx.kind == "CreateStmt":
        for element in ctx.fields.get("tableElts") or ():
            if "Constraint" in element:
                constraint = element["Constraint"]
                if constraint.get("contype") == "CONSTR_FOREIGN":
                    yield tuple(strings(constraint.get("fk_attrs"))), constraint
            elif "ColumnDef" in element:
                column = element["ColumnDef"]
                for constraint in column_constraints(column):
                    if constraint.get("contype") == "CONSTR_FOREIGN":
                        yield (column.get("colname", ""),), constraint
    elif ctx.kind == "AlterTableStmt":
        for command in ctx.alter_commands():
            definition = command.get("def") or {}
            constraint = definition.get("Constraint")
            if constraint and constraint.get("contype") == "CONSTR_FOREIGN":
                yield tuple(strings(constraint.get("fk_attrs"))), constraint
            column = definition.get("ColumnDef")
            if column:
                for constraint in column_constraints(column):
                    if constraint.get("contype") == "CONSTR_FOREIGN":
                        yield (column.get("colname", ""),), constraint


def _partial_index_for(table: Table, columns: tuple[str, ...]) -> bool:
    """A valid partial index leads with ``columns`` and its predicate is only ``c IS
    NOT NULL`` of some of them (or their conjunction): the foreign key's checks
    (``WHERE c = $1``, which implies ``c IS NOT NULL``) can use it."""
    wanted = set(columns)
    for index in table.indexes:
        if not index.valid or not index.partial or index.node is None:
            continue
        if set(index.columns[: len(wanted)]) != wanted:
            continue
        tested = _not_null_tests(index.node.get("whereClause"))
        if tested and tested <= wanted:
            return True
    return False


def _not_null_tests(expr: object) -> set[str] | None:
    """The columns of ``a IS NOT NULL [AND b IS NOT NULL ...]``; ``None`` for any other
    predicate."""
    if not isinstance(expr, dict):
        return None
    if "BoolExpr" in expr and expr["BoolExpr"].get("boolop") == "AND_EXPR":
        found: set[str] = set()
        for arg in expr["BoolExpr"].get("args") or ():
            part = _not_null_tests(arg)
            if part is None:
                return None
            found |= part
        return found
    test = expr.get("NullTest", {})
    if test.get("nulltesttype") != "IS_NOT_NULL":
        return None
    fields = (test.get("arg") or {}).get("ColumnRef", {}).get("fields") or ()
    names = [f.get("String", {}).get("sval") for f in fields]
    return {names[-1]} if len(names) == 1 and names[0] else None


@rule("foreign-key-without-index", Severity.WARNING, kinds=("CreateStmt", "AlterTableStmt"))
def foreign_key_without_index(ctx: StatementContext) -> Iterator[Hit]:
    """A foreign key whose referencing columns no index leads with.

    What it does:
    Flags a foreign key added by the migration when, at the end of the migration, no
    valid index on the referencing table starts with the foreign key's columns
    (indexes created later in the same migration count; so do primary keys and
    unique constraints). Indexes that earlier migrations built count too, and so does
    a partial index whose predicate is only `col IS NOT NULL` of the key's columns
    (the checks look rows up by `col = value`, which implies it).

    Why it hurts:
    Every DELETE or key UPDATE on the referenced table scans the referencing table to
    check for rows that still point at it: deletes on a parent become sequential
    scans of the child, under row locks.

    Example:

        CREATE TABLE comments (id bigint PRIMARY KEY, post_id bigint REFERENCES posts (id));

    Use instead:

        CREATE TABLE comments (id bigint PRIMARY KEY, post_id bigint REFERENCES posts (id));
        CREATE INDEX comments_post_id_idx ON comments (post_id);

    PostgreSQL versions:
    All.
    """
    keys = list(_foreign_keys(ctx))
    if not keys:
        return
    relation = ctx.fields.get("relation") or {}
    name = ctx.catalog.resolve(relation.get("schemaname"), relation.get("relname", ""))

    def check(final: Catalog) -> Iterator[Hit]:
        table = final.table(final.current_name(name))  # renamed later in the file?
        if table is None or table.system:
            return
        name_now = table.name
        for columns, _ in keys:
            if not columns or not all(columns) or table.indexes_leading_with(columns):
                continue
            if _partial_index_for(table, columns):
                continue
            yield Hit(
                f"foreign key ({', '.join(columns)}) on {name_now} has no index leading with "
                "its "
                "columns: deletes on the referenced table scan this one",
                f"CREATE INDEX ... ON {name_now} ({', '.join(columns)}) (CONCURRENTLY on an "
                "existing table)",
            )

    ctx.at_end_of_file("foreign-key-without-index", check)
    yield from ()
