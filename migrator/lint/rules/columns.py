"""Adding and changing columns: failures on non-empty tables and full rewrites."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from migrator.lint.context import StatementContext
from migrator.lint.findings import Severity
from migrator.lint.rule import Hit, rule
from migrator.sql.catalog import Column
from migrator.sql.names import QualifiedName, TypeRef, type_ref
from migrator.sql.tree import column_constraints
from migrator.sql.volatility import expression_volatility, unknown_functions

SERIAL_TYPES = ("serial", "bigserial", "smallserial")


@rule("add-column-required", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def add_column_required(ctx: StatementContext) -> Iterator[Hit]:
    """Adding a `NOT NULL` column without a default to an existing table.

    What it does:
    Flags `ALTER TABLE ... ADD COLUMN c type NOT NULL` with no `DEFAULT` (or
    `DEFAULT NULL`), and not an identity, generated or serial column, on an existing
    table, or on a table this migration filled with `CREATE TABLE ... AS SELECT`. Not
    after `TRUNCATE t` or `DELETE FROM t` (without `WHERE`) earlier in the same
    transaction: the table is empty then.

    Why it hurts:
    Existing rows would have NULL in the new column, so the statement fails as soon
    as the table has a single row: the migration passes on an empty development
    database and fails in production.

    Example:

        ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;

    Use instead:

        ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL DEFAULT 0;

    or add the column nullable, backfill it in batches, and make it NOT NULL the safe
    way (see set-not-null).

    PostgreSQL versions:
    All.
    """
    name, table = ctx.altered_table()
    if name in ctx.state.emptied or not ctx.holds_rows(table, name):
        return
    for command in ctx.alter_commands():
        if command.get("subtype") != "AT_AddColumn":
            continue
        column_def = (command.get("def") or {}).get("ColumnDef", {})
        kinds = {
            c.get("contype")
            for c in column_constraints(column_def)
            if not (c.get("contype") == "CONSTR_DEFAULT" and _is_null(c.get("raw_expr")))
        }
        if "CONSTR_NOTNULL" not in kinds and "CONSTR_PRIMARY" not in kinds:
            continue
        if kinds & {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}:
            continue
        if type_ref(column_def.get("typeName")).name in SERIAL_TYPES:
            continue
        yield Hit(
            f"ADD COLUMN {column_def.get('colname')} NOT NULL without a default fails on "
            f"{name} as soon as it has a row",
            "give it a DEFAULT, or add it nullable, backfill, then SET NOT NULL safely",
            facts=ctx.row_facts(name),
        )


def _is_null(expr: object) -> bool:
    """``NULL`` or ``NULL::type``: a default that fills nothing."""
    while isinstance(expr, dict) and "TypeCast" in expr:
        expr = expr["TypeCast"].get("arg")
    return isinstance(expr, dict) and bool(expr.get("A_Const", {}).get("isnull"))


@rule("add-column-rewrite", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def add_column_rewrite(ctx: StatementContext) -> Iterator[Hit]:
    """Adding a column that forces a rewrite of an existing table.

    What it does:
    Flags `ADD COLUMN` on an existing table when the new column's value must be
    computed for every row: a volatile default (`gen_random_uuid()`,
    `clock_timestamp()`, `random()`), a default calling a function of unknown
    volatility (a user function not created IMMUTABLE or STABLE by these
    migrations), any default before PostgreSQL 11, `GENERATED ... STORED`, an
    identity column, or `serial`/`bigserial`. Constant defaults, `now()`,
    `current_timestamp` and other non-volatile built-ins are fine on 11+, and so is
    a `GENERATED ... VIRTUAL` column on 18+ (computed when read). Before 18 a virtual
    column is flagged too: it does not exist there, so the statement fails.

    Why it hurts:
    The table and all its indexes are rewritten while an ACCESS EXCLUSIVE lock blocks
    every read and write: minutes to hours on a large table.

    Example:

        ALTER TABLE events ADD COLUMN id uuid DEFAULT gen_random_uuid();

    Use instead:

        ALTER TABLE events ADD COLUMN id uuid;
        ALTER TABLE events ALTER COLUMN id SET DEFAULT gen_random_uuid();

    then fill existing rows with a batched backfill migration.

    PostgreSQL versions:
    Non-volatile defaults are catalog-only from PostgreSQL 11 (`atthasmissing`);
    before 11 every default rewrites. Virtual generated columns need 18.
    """
    name, _ = ctx.altered_table()
    for command in ctx.commands_on_existing("AT_AddColumn"):
        column_def = (command.get("def") or {}).get("ColumnDef", {})
        if ctx.pg_version < 18 and any(_virtual(c) for c in column_constraints(column_def)):
            yield Hit(
                f"ADD COLUMN {column_def.get('colname')} ... GENERATED ... VIRTUAL needs "
                f"PostgreSQL 18 (target {ctx.pg_version}): the statement fails there",
                "compute the value in queries or a view, or add a STORED generated column "
                "to a new table (on an existing one it rewrites the table)",
                plannable=False,
            )
            continue
        reason = _rewrite_reason(ctx, column_def)
        if reason:
            yield Hit(
                f"ADD COLUMN {column_def.get('colname')} rewrites {name} under an ACCESS "
                f"EXCLUSIVE lock: {reason}",
                "add the column without it (nullable, no default or a constant one), "
                "set the default separately, and backfill existing rows in batches",
                facts=ctx.row_facts(name),
            )


def _virtual(constraint: dict[str, object]) -> bool:
    """A ``GENERATED ... VIRTUAL`` column (PostgreSQL 18; also when neither ``STORED``
    nor ``VIRTUAL`` is written): computed when read, never stored."""
    return (
        constraint.get("contype") == "CONSTR_GENERATED" and constraint.get("generated_kind") == "v"
    )


def _rewrite_reason(ctx: StatementContext, column_def: dict[str, object]) -> str | None:
    column_type = type_ref(column_def.get("typeName"))  # type: ignore[arg-type]
    if column_type.name in SERIAL_TYPES:
        return f"{column_type.name} fills every row from a sequence"
    for constraint in column_constraints(column_def):
        contype = constraint.get("contype")
        if contype == "CONSTR_GENERATED" and not _virtual(constraint):
            return "a GENERATED ... STORED column is computed for every row"
        if contype == "CONSTR_IDENTITY":
            return "an identity column fills every row from a sequence"
        if contype == "CONSTR_DEFAULT":
            if ctx.pg_version < 11:
                return (
                    f"any default rewrites the table before PostgreSQL 11 (target {ctx.pg_version})"
                )
            found = expression_volatility(constraint.get("raw_expr"), ctx.catalog)
            if found == "volatile":
                return "its default is volatile, so it is computed per row"
            if found == "unknown":
                unknown = unknown_functions(constraint.get("raw_expr"), ctx.catalog)
                for function in unknown:
                    ctx.note_unknown("function", function, "a volatile function")
                called = ", ".join(unknown) if unknown else "a function"
                return f"its default calls {called}, of unknown volatility"
    return None


#: binary-coercible changes: (old, new) base types that never rewrite
_COERCIBLE = {("varchar", "text"), ("text", "varchar"), ("cidr", "inet"), ("bpchar", "bpchar")}


_TEMPORAL = ("timestamp", "timestamptz", "time", "timetz")
#: the largest fractional-second precision (what an unconstrained column keeps)
_MAX_SECONDS_PRECISION = 6
#: interval range bits, from SECOND up: the least field of a range is its lowest unit
_INTERVAL_UNITS = (1 << 12, 1 << 11, 1 << 10, 1 << 3, 1 << 1, 1 << 2)
_FULL_PRECISION = 0xFFFF


def _interval_parts(modifiers: tuple[int, ...]) -> tuple[int, int]:
    """``(least field, precision)`` of an interval's modifiers (``[range]`` or
    ``[range, precision]`` as the parser writes them; none: unconstrained)."""
    if not modifiers:
        return 0, _FULL_PRECISION
    least = next((rank for rank, bit in enumerate(_INTERVAL_UNITS) if modifiers[0] & bit), 0)
    return least, modifiers[1] if len(modifiers) > 1 else _FULL_PRECISION


def _interval_widens(old: tuple[int, ...], new: tuple[int, ...]) -> bool:
    """PostgreSQL's ``interval_support``: no rewrite when the least field stays or gets
    smaller and sub-second precision (which matters only down to SECOND) does not
    shrink."""
    if not new:
        return True
    old_least, old_precision = _interval_parts(old)
    new_least, new_precision = _interval_parts(new)
    return new_least <= old_least and (
        old_least > 0 or new_precision >= _MAX_SECONDS_PRECISION or new_precision >= old_precision
    )


def type_change_is_safe(old: TypeRef, new: TypeRef) -> bool:
    """The change from ``old`` to ``new`` is catalog-only (postgres-facts.md)."""
    if old.array != new.array or old.schema != new.schema:
        return False
    if old == new:
        return True
    if (old.name, new.name) == ("varchar", "varchar") or (old.name, new.name) == (
        "varbit",
        "varbit",
    ):
        return not new.modifiers or (bool(old.modifiers) and new.modifiers[0] >= old.modifiers[0])
    if (old.name, new.name) == ("numeric", "numeric"):
        if not new.modifiers:
            return True
        if len(old.modifiers) < 1:
            return False
        old_scale = old.modifiers[1] if len(old.modifiers) > 1 else 0
        new_scale = new.modifiers[1] if len(new.modifiers) > 1 else 0
        return new.modifiers[0] >= old.modifiers[0] and new_scale == old_scale
    if old.name == new.name and old.name in _TEMPORAL:
        # fractional-second precision: no rewrite when it does not drop digits
        if not new.modifiers or new.modifiers[0] >= _MAX_SECONDS_PRECISION:
            return True
        return bool(old.modifiers) and new.modifiers[0] >= old.modifiers[0]
    if (old.name, new.name) == ("interval", "interval"):
        return _interval_widens(old.modifiers, new.modifiers)
    if (old.name, new.name) == ("varchar", "text") or (old.name, new.name) == ("cidr", "inet"):
        return True
    if (old.name, new.name) == ("text", "varchar"):
        return not new.modifiers
    return False


@rule("column-type-rewrite", Severity.ERROR, kinds=("AlterTableStmt",), plannable=True)
def column_type_rewrite(ctx: StatementContext) -> Iterator[Hit]:
    """Changing a column's type in a way that rewrites an existing table.

    What it does:
    Flags `ALTER COLUMN ... TYPE` on an existing table unless the change is
    binary-coercible with no new check: `varchar(n)` to `varchar(m)` with m >= n or
    to unconstrained `varchar`/`text`, `text` to unconstrained `varchar`,
    `numeric(p,s)` to `numeric(p2,s)` with p2 >= p or to unconstrained `numeric`,
    `cidr` to `inet`, and a `timestamp`, `timestamptz`, `time`, `timetz` or
    `interval` precision that does not shrink (`timestamp(3)` to `timestamp(6)` or
    to plain `timestamp`); on PostgreSQL 12+ also `timestamp` to `timestamptz` and
    back (precision kept) once the file set the session's time zone to UTC
    (`SET LOCAL TIME ZONE 'UTC'`, or any zone of offset 0 without daylight saving
    time): PostgreSQL then keeps the table's rows, but rebuilds the indexes on the
    column (their operator class changes), so that change is flagged only when the
    column has an index. `citext` to `text` or unconstrained `varchar` and back is
    judged the same way on any version (the casts are binary-coercible, the operator
    classes differ). The column's type before the change comes from the earlier
    migrations (or, with `--database-url`, from the database); when it is unknown the
    change is flagged. A `USING` clause that only names the column (`USING col`,
    `USING col::newtype`) is what PostgreSQL does without one and is judged the same
    way; any other `USING` expression rewrites the table. A column added earlier in
    the same migration counts too: retyping it rewrites the existing table.

    Why it hurts:
    A rewriting type change copies the whole table and rebuilds every index on it
    while an ACCESS EXCLUSIVE lock blocks all reads and writes.

    Example:

        ALTER TABLE users ALTER COLUMN id TYPE bigint;

    Use instead:

        ALTER TABLE users ADD COLUMN id_new bigint;

    then keep both columns in sync with a trigger, backfill in batches, and swap the
    columns in a short contract migration (`migrate plan` writes these phases).

    PostgreSQL versions:
    All.
    """
    name, table = ctx.altered_table()
    for command in ctx.commands_on_existing("AT_AlterColumnType"):
        column_name = command.get("name", "")
        column_def = (command.get("def") or {}).get("ColumnDef", {})
        new_type = type_ref(column_def.get("typeName"))
        # a column added earlier in this migration counts too: the rewrite is of the
        # whole existing table, whose rows it now holds
        column: Column | None = table.column(column_name) if table is not None else None
        old_type, facts = _old_type(ctx, name, column, column_name)
        if old_type is None:  # say that the replay does not know the column
            ctx.column(table, column_name, "a column whose type change rewrites the table")
        using = column_def.get("raw_default")  # ALTER ... TYPE ... USING expr
        before = f"from {old_type.sql} " if old_type is not None else ""
        if using and not _names_only_the_column(using, column_name, name, old_type, new_type):
            yield Hit(
                f"changing {name}.{column_name} {before}to {new_type.sql} USING an "
                "expression rewrites the table and its indexes under an ACCESS EXCLUSIVE "
                "lock",
                "add a new column, sync it with a trigger, backfill in batches, then swap",
                facts=facts + ctx.row_facts(name),
            )
            continue
        if old_type is not None and type_change_is_safe(old_type, new_type):
            continue
        help_text = "add a new column, sync it with a trigger, backfill in batches, then swap"
        kept = old_type is not None and _keeps_rows_new_operator_class(old_type, new_type)
        if old_type is not None and (
            kept
            or (
                ctx.options.pg_version >= 12 and time_zone_change_is_safe_in_utc(old_type, new_type)
            )
        ):
            if kept or ctx.state.utc_time_zone:
                indexes = table.indexes_covering(column_name) if table is not None else ()
                if not indexes:
                    continue
                shown = ", ".join(str(index.name.name) for index in indexes[:3])
                more = f" and {len(indexes) - 3} more" if len(indexes) > 3 else ""
                why = "the types share their storage" if kept else "the session's time zone is UTC"
                yield Hit(
                    f"changing {name}.{column_name} from {old_type.sql} to {new_type.sql} "
                    f"keeps the rows ({why}) but rebuilds index {shown}{more} under an "
                    "ACCESS EXCLUSIVE lock (its operator class changes)",
                    "drop the index first and build it again CONCURRENTLY afterwards, "
                    "or change the type while the table is small",
                    facts=facts + ctx.row_facts(name),
                    plannable=False,
                )
                continue
            help_text = (
                "PostgreSQL 12+ makes this change without a rewrite when the session's time "
                "zone is UTC: put SET LOCAL TIME ZONE 'UTC' before it"
            )
        yield Hit(
            f"changing {name}.{column_name} {before}to {new_type.sql} rewrites the table "
            "and its indexes under an ACCESS EXCLUSIVE lock",
            help_text,
            facts=facts + ctx.row_facts(name),
        )


def _names_only_the_column(
    expr: object,
    column: str,
    table: QualifiedName,
    old_type: TypeRef | None,
    new_type: TypeRef,
) -> bool:
    """``USING col``, ``USING t.col``, ``USING col::newtype`` (or a cast to the old
    type): PostgreSQL builds the same conversion as without ``USING`` (checked on 15:
    the relfilenode stays where the plain change keeps it)."""
    while isinstance(expr, dict) and "TypeCast" in expr:
        cast = expr["TypeCast"]
        target = type_ref(cast.get("typeName"))
        if target != new_type and target != old_type:
            return False
        expr = cast.get("arg")
    if not isinstance(expr, dict) or "ColumnRef" not in expr:
        return False
    parts = [field.get("String", {}).get("sval") for field in expr["ColumnRef"].get("fields") or ()]
    if not parts or parts[-1] != column:
        return False
    return len(parts) == 1 or (len(parts) == 2 and parts[0] == table.name)


#: binary-coercible changes between types whose indexes use different operator classes
#: (citext's casts to and from text and varchar are WITHOUT FUNCTION): the rows stay,
#: the indexes on the column are rebuilt (checked on 15: the table's relfilenode stays,
#: the index's changes)
_SAME_STORAGE_NEW_OPERATOR_CLASS = frozenset(
    {("citext", "text"), ("text", "citext"), ("citext", "varchar"), ("varchar", "citext")}
)


def _keeps_rows_new_operator_class(old: TypeRef, new: TypeRef) -> bool:
    """``ALTER COLUMN ... TYPE`` from ``old`` to ``new`` keeps every row but rebuilds
    the column's indexes (a binary-coercible cast to a type of another operator class;
    a length limit on the new type would be checked, so it does not count)."""
    return (
        (old.name, new.name) in _SAME_STORAGE_NEW_OPERATOR_CLASS
        and old.array == new.array
        and not new.modifiers
    )


def time_zone_change_is_safe_in_utc(old: TypeRef, new: TypeRef) -> bool:
    """``timestamp`` to ``timestamptz`` or back, keeping the precision: PostgreSQL 12+
    changes it in place when the session's TimeZone has offset 0 (UTC)."""
    if {old.name, new.name} != {"timestamp", "timestamptz"}:
        return False
    return type_change_is_safe(old, dataclasses.replace(new, name=old.name))


def _old_type(
    ctx: StatementContext, table: QualifiedName, column: Column | None, column_name: str
) -> tuple[TypeRef | None, tuple[str, ...]]:
    if column is not None:
        return column.type, ()
    if ctx.facts is not None:
        live = ctx.facts.column_type(table, column_name)
        if live is not None:
            return live, (f"type of {table}.{column_name} is {live.sql} (from the database)",)
    return None, ()
