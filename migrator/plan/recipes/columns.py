"""Adding, constraining and dropping columns."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from migrator.plan.added_columns import added_in_the_catalog
from migrator.plan.facts import ColumnFact, Deferred, TableFacts
from migrator.plan.model import (
    AS_WRITTEN,
    CannotPlan,
    Change,
    NotInSchema,
    Slot,
    Step,
    UnusableChangeFile,
    lint_ignored,
)
from migrator.plan.recipes.backfill import backfill_step
from migrator.plan.recipes.not_null import enforce_not_null
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import ident
from migrator.plan.volatility import is_volatile, is_volatile_sql
from migrator.source.model import Phase
from migrator.sql.enums import AlterTableType, ConstrType, DropBehavior
from migrator.sql.names import QualifiedName
from migrator.sql.parse import Node
from migrator.sql.syntax import deparse, string

#: column constraints planned as separate table constraints on the new column
SEPARATE_CONSTRAINTS = (
    ConstrType.CONSTR_CHECK,
    ConstrType.CONSTR_UNIQUE,
    ConstrType.CONSTR_PRIMARY,
    ConstrType.CONSTR_FOREIGN,
)


#: why a planned DROP COLUMN is fine: it runs in the contract phase, after the deploy
#: that stopped using the column
DROP_COLUMN_REASON = (
    "contract phase: runs after the deploy that stopped using the column (docs/planner.md)"
)


def pass_through(
    source: str,
    *,
    transactional: bool = True,
    label: str = "change",
    undo: tuple[str, ...] | None = None,
) -> Change:
    """A statement that is safe as written: it runs unchanged in the expand phase."""
    slot = Slot.EXPAND if transactional else Slot.EXPAND_CONCURRENT
    step = Step(slot, source, AS_WRITTEN, undo=undo)
    return Change(source, "pass through", (step,), label=label)


def split_column_constraints(column: Any) -> tuple[Any, list[Any]]:
    """The column definition without CHECK / UNIQUE / PRIMARY KEY / REFERENCES, and
    those constraints as table constraints on the column."""
    kept, separate = [], []
    for constraint in column.constraints or ():
        if constraint.contype in SEPARATE_CONSTRAINTS:
            table_constraint = copy.deepcopy(constraint)
            names = (string(column.colname),)
            if constraint.contype == ConstrType.CONSTR_FOREIGN:
                table_constraint.fk_attrs = names
            elif constraint.contype != ConstrType.CONSTR_CHECK:
                table_constraint.keys = names
            separate.append(table_constraint)
        else:
            kept.append(constraint)
    bare = copy.deepcopy(column)
    bare.constraints = tuple(kept) or None
    return bare, separate


def missing_column(target: Target, column: str) -> NotInSchema:
    return NotInSchema(
        f"column {ident(column)} of {target.sql} does not exist (no earlier migration creates it)",
        hint="check the column's name",
    )


def existing_column(target: Target, column: str) -> NotInSchema:
    return NotInSchema(
        f"{target.sql} already has a column {ident(column)}", hint="choose another name"
    )


def add_column(
    column: Any,
    target: Target,
    options: PlanOptions,
    if_not_exists: bool,
    *,
    constrained: bool = False,
) -> Change:
    """``ADD COLUMN``: safe as is unless it must fill existing rows with a volatile
    default or it is NOT NULL without a default. ``constrained``: the column was written
    with CHECK / UNIQUE / PRIMARY KEY / REFERENCES, planned as separate changes."""
    if target.facts is not None and target.facts.column(column.colname) is not None:
        if if_not_exists:
            return pass_through(_add_column_sql(target, column, if_not_exists))
        raise existing_column(target, column.colname)
    name = ident(column.colname)
    label = f"add_{target.name}_{column.colname}"
    kinds = {c.contype: c for c in column.constraints or ()}
    not_null = ConstrType.CONSTR_NOTNULL in kinds
    for kind, what in (
        (ConstrType.CONSTR_IDENTITY, "an identity column"),
        (ConstrType.CONSTR_GENERATED, "a stored generated column"),
    ):
        if kind in kinds:
            raise CannotPlan(
                f"adding {what} ({target.sql}.{name}) rewrites the table under ACCESS "
                "EXCLUSIVE and the planner has no recipe for it",
                hint="add a plain nullable column, fill it with a backfill migration, then "
                "add the default or identity (docs/planner.md)",
            )
    type_name = deparse(column.typeName)
    if type_name.lower() in ("serial", "bigserial", "smallserial", "serial4", "serial8"):
        raise CannotPlan(
            f"adding a {type_name} column ({target.sql}.{name}) fills every row from a "
            "sequence: a full rewrite under ACCESS EXCLUSIVE",
            hint="create the sequence, add a nullable column with DEFAULT nextval(...), "
            "backfill it, then SET NOT NULL (docs/planner.md)",
        )
    default = kinds.get(ConstrType.CONSTR_DEFAULT)
    catalog = target.schema_facts.catalog if target.schema_facts is not None else None
    volatile = default is not None and is_volatile(default.raw_expr, catalog)
    undo = (f"ALTER TABLE {target.sql} DROP COLUMN IF EXISTS {name}",)
    fills_rows = volatile or (not_null and default is None)
    if target.facts is not None and column.colname in target.facts.deferred.columns:
        return _add_again(column, target, if_not_exists, fills_rows or constrained, undo)
    if not fills_rows:
        return pass_through(_add_column_sql(target, column, if_not_exists), label=label, undo=undo)
    facts = target.require("to fill the new column in batches")
    if facts.created_in_change:
        return pass_through(_add_column_sql(target, column, if_not_exists), label=label, undo=undo)
    if default is not None:
        target.refuse_update_triggers((column.colname,), f"add column {name}")
    bare = copy.deepcopy(column)
    bare.constraints = (
        tuple(
            c
            for c in bare.constraints or ()
            if c.contype not in (ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_DEFAULT)
        )
        or None
    )
    steps = [
        Step(
            Slot.EXPAND,
            f"ALTER TABLE {target.sql} ADD COLUMN IF NOT EXISTS {deparse(bare)}",
            "ACCESS EXCLUSIVE for a moment: a nullable column without default is catalog only",
            undo=undo,
        )
    ]
    deploy: dict[Phase, str] = {}
    warnings: list[str] = []
    if default is not None:
        expression = deparse(default.raw_expr)
        steps.append(
            Step(
                Slot.EXPAND,
                f"ALTER TABLE {target.sql} ALTER COLUMN {name} SET DEFAULT {expression}",
                "catalog only: the default applies to new rows, existing rows keep NULL",
                undo=(),
            )
        )
        steps.append(
            backfill_step(
                target, f"{name} = {expression}", f"{name} IS NULL", options, f"fill {name}"
            )
        )
    else:
        deploy["contract"] = (
            f"application code that writes {target.sql}.{name} on every insert, and values "
            f"in {name} for every existing row (a backfill migration, docs/backfill.md)"
        )
        warnings.append(
            f"{target.sql}.{name} is NOT NULL without a default: existing rows need a value "
            "before the contract phase, and only you know it; VALIDATE fails until then"
        )
    if not_null:
        steps += enforce_not_null(target, column.colname)
    source = f"ALTER TABLE {target.sql} ADD COLUMN {deparse(column)}"
    # without a default, only a value the user writes makes the contract pass
    condition = target.condition("not_null", source, (column.colname,)) if default is None else None
    return Change(
        source,
        "add column (filled in batches)" if default is not None else "add NOT NULL column",
        tuple(steps),
        deploy_before=deploy,
        label=label,
        warnings=tuple(warnings),
        conditions=(condition,) if condition is not None else (),
    )


def _add_again(
    column: Any, target: Target, if_not_exists: bool, needs_more: bool, undo: tuple[str, ...]
) -> Change:
    """``ADD COLUMN`` of a name an earlier ``DROP COLUMN`` of the change frees: the plan
    drops the old column only in the contract phase, so the new one is added there, right
    after it. Only a column that is catalog only to add can be: a backfill or a
    constraint's validation would have to come after the contract."""
    facts = target.require("to add the column again")
    name = ident(column.colname)
    if needs_more:
        raise CannotPlan(
            f"{target.sql}.{name} is dropped and added again: the plan drops the old column "
            "only in the contract phase, after the deploy, so the new one can only be added "
            "then, and this one needs more than a catalog change (a backfill, NOT NULL "
            "values or a constraint to validate), which the plan runs before the contract",
            hint="add the new column under another name in this change (it is planned "
            "with its backfill), or add it with a constant default and no constraint, and "
            "constrain it in a later change",
        )
    step = Step(
        Slot.CONTRACT_SWAP,
        _add_column_sql(target, column, if_not_exists),
        "ACCESS EXCLUSIVE for a moment: catalog only (a default that is not volatile is "
        "not written to the rows); right after the old column is dropped",
        undo=undo,
    )
    return Change(
        f"ALTER TABLE {target.sql} ADD COLUMN {deparse(column)}",
        "add column again",
        (step,),
        label=f"add_{target.name}_{column.colname}",
        warnings=(
            f"{target.sql}.{name} takes its new form only in the contract phase, when the "
            "old column is dropped: application code can use the new column once the "
            "contract phase ran",
        ),
        deferred=(Deferred(facts.schema, facts.name, added=frozenset({column.colname})),),
    )


def _add_column_sql(target: Target, column: Any, if_not_exists: bool) -> str:
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f"ALTER TABLE {target.sql} ADD COLUMN {exists}{deparse(column)}"


def set_not_null(column: str, target: Target, options: PlanOptions) -> Change:
    """``ALTER COLUMN c SET NOT NULL``: check NOT VALID, validate, then SET NOT NULL."""
    facts = target.require("to make the column NOT NULL")
    label = f"{target.name}_{column}_not_null"
    source = f"ALTER TABLE {target.sql} ALTER COLUMN {ident(column)} SET NOT NULL"
    if facts.created_in_change:
        return pass_through(source, label=label)
    fact = facts.column(column)
    if fact is None:
        raise missing_column(target, column)
    if fact.not_null:
        # PostgreSQL does nothing for it (it only takes ACCESS EXCLUSIVE on the table,
        # which would end an expand migration or keep other tables locked with it); one
        # an earlier statement of the change set it would add the same made-up check again
        earlier = " by an earlier statement of the change" if fact.not_null_in_change else ""
        return Change(
            source,
            "nothing to do",
            (),
            label=label,
            warnings=(
                f"{target.sql}.{ident(column)} is NOT NULL already{earlier}: this statement "
                "does nothing, and the plan leaves it out",
            ),
        )
    steps: list[Step] = []
    deploy: dict[Phase, str] = {
        "backfill": f"application code that writes {ident(column)} on every insert and update"
    }
    warnings = []
    fill, condition = None, None
    if fact.default_sql is not None:
        # a column renamed or retyped earlier in the change is, until the contract, a
        # second column without the default (plandiff F47): the fill writes the expression
        value = f"({fact.default_sql})" if column in facts.deferred.shadowed else "DEFAULT"
        steps.append(
            backfill_step(
                target,
                f"{ident(column)} = {value}",
                f"{ident(column)} IS NULL",
                options,
                f"fill NULL rows of {ident(column)}",
            )
        )
        catalog = target.schema_facts.catalog if target.schema_facts is not None else None
        volatile = "its default is volatile" if is_volatile_sql(fact.default_sql, catalog) else ""
        fill = target.row_change(
            where=f"{ident(column)} IS NULL",
            assignments=((column, fact.default_sql),),
            null_tested=frozenset({column}),
            opaque=volatile,
            fill=True,
        )
    else:
        condition = target.condition("not_null", source, (column,))
        warnings.append(
            f"{ident(column)} has no default: rows where it is NULL must be fixed before "
            "the contract phase (a backfill migration, docs/backfill.md); VALIDATE fails "
            "until then"
        )
    steps += enforce_not_null(target, column)
    return Change(
        source,
        "set NOT NULL",
        tuple(steps),
        deploy,
        label,
        tuple(warnings),
        row_change=fill,
        conditions=(condition,) if condition is not None else (),
    )


def _refuse_dropping_a_sequence_in_use(target: Target, column: str) -> None:
    """A serial column whose sequence another column's default takes values from (a
    partition detached from the table keeps the copy of it, plandiff F54): ``DROP
    COLUMN`` drops the sequence with it, which the default depends on, so the naive
    statement fails (2BP01), and the plan's, in its contract phase, after the rest of
    the change committed."""
    catalog = None if target.schema_facts is None else target.schema_facts.catalog
    if catalog is None or target.facts is None:
        return
    name = QualifiedName(target.facts.schema, target.facts.name)
    table = catalog.table(name)
    dropped = None if table is None else table.column(column)
    if dropped is None or dropped.sequence is None:
        return
    sequence = QualifiedName(name.schema, dropped.sequence)
    if sequence not in catalog.owned_sequences(name):
        return
    with_it = {name, *catalog.partitions(name)}
    users = sorted(
        f"{user}.{user_column}"
        for user, user_column in catalog.default_users(sequence)
        if user not in with_it or user_column != column
    )
    if users:
        raise CannotPlan(
            f"{target.sql}.{ident(column)} owns the sequence {sequence} the default of "
            f"{', '.join(users)} takes values from: dropping the column drops the sequence, "
            "so it needs CASCADE (the naive DROP COLUMN fails with 2BP01), and the plan drops "
            "it only in its contract phase, after the rest of the change committed",
            hint="drop or change that default first, or ALTER SEQUENCE ... OWNED BY the "
            "column that keeps it",
        )


def drop_column(column: str, target: Target, cascade: bool, if_exists: bool) -> Change:
    """``DROP COLUMN``: first let new code stop writing it (DROP NOT NULL), drop its
    indexes concurrently, then drop it once no client uses it."""
    label = f"drop_{target.name}_{column}"
    name = ident(column)
    source = f"ALTER TABLE {target.sql} DROP COLUMN {'IF EXISTS ' if if_exists else ''}{name}"
    if cascade:
        source += " CASCADE"
    facts = target.require("to drop the column in phases")
    if facts.created_in_change:
        return pass_through(source, label=label)
    fact = facts.column(column)
    if fact is None:
        if if_exists:
            return pass_through(source, label=label)
        raise missing_column(target, column)
    incoming = facts.incoming_on(column)
    if incoming and not cascade:
        others = ", ".join(f"{s}.{t}.{c.name}" for s, t, c in incoming)
        raise CannotPlan(
            f"{target.sql}.{name} is referenced by foreign keys ({others}); dropping it "
            "needs CASCADE, which drops them too",
            hint="drop those foreign keys first, or write CASCADE if that is meant",
        )
    if not cascade:
        target.refuse_dependents(column, "drop")
        _refuse_dropping_a_sequence_in_use(target, column)
    steps: list[Step] = []
    if fact.not_null and not _fills_itself(fact):
        _refuse_key_without_default(facts, target, column)
        steps.append(
            Step(
                Slot.EXPAND,
                f"ALTER TABLE {target.sql} ALTER COLUMN {name} DROP NOT NULL",
                "ACCESS EXCLUSIVE for a moment, catalog only: code that no longer writes "
                "the column can insert",
                lint_ignore=(
                    "drop-not-null",
                    "the column is being dropped: code that no longer writes it must be able "
                    "to insert; the contract phase drops it",
                ),
                undo=(
                    lint_ignored(
                        f"ALTER TABLE {target.sql} ALTER COLUMN {name} SET NOT NULL",
                        "set-not-null",
                        "the down of a planned DROP NOT NULL restores the column as it was; "
                        "it scans the table, revert off-peak",
                    ),
                ),
            )
        )
    from migrator.plan.recipes.indexes import rebuild_index  # it imports this module

    for index in facts.indexes_mentioning(column):
        if index.constraint is None:
            steps.append(
                Step(
                    Slot.CONTRACT_DROP_INDEXES,
                    f"DROP INDEX CONCURRENTLY IF EXISTS {target.qualify(index.name)}",
                    "SHARE UPDATE EXCLUSIVE: waits for running transactions, blocks no client",
                    undo=rebuild_index(target, index.name, index.body_sql, unique=index.unique),
                )
            )
    steps.append(
        Step(
            Slot.CONTRACT_SWAP,
            f"ALTER TABLE {target.sql} DROP COLUMN IF EXISTS {name}{' CASCADE' if cascade else ''}",
            "ACCESS EXCLUSIVE for a moment: catalog only, the data is gone",
            undo=None,
            lint_ignore=("drop-column", DROP_COLUMN_REASON),
        )
    )
    deploy: dict[Phase, str] = {
        "contract": f"application code that no longer reads or writes {target.sql}.{name} "
        "(every running instance)"
    }
    return Change(
        source, "drop column", tuple(steps), deploy, label, deferred=(_dropped(facts, column),)
    )


def _fills_itself(fact: ColumnFact) -> bool:
    """Code that no longer writes the column can insert: a default, an identity or a
    generated expression fills it."""
    return fact.default_sql is not None or fact.identity or fact.generated


def _refuse_key_without_default(facts: TableFacts, target: Target, column: str) -> None:
    """A primary key column cannot DROP NOT NULL: with no default, no code can insert
    both before and after the contract phase drops it."""
    if column in (facts.primary_key or ()) or column in facts.deferred.primary_key:
        raise CannotPlan(
            f"{target.sql}.{ident(column)} is in the primary key and has no default: code "
            "that stops writing it cannot insert while the column exists (a primary key "
            "column cannot DROP NOT NULL), and code that writes it fails once the contract "
            "phase drops it",
            hint=f"give {ident(column)} a default or an identity first, or move the primary "
            "key off it in a change of its own; then plan the drop",
        )


def _dropped(facts: TableFacts, column: str) -> Deferred:
    """What a planned ``DROP COLUMN`` leaves in place until the contract phase: the
    column, and the constraints and indexes that go with it."""
    names = {c.name for c in facts.constraints_on(column)}
    names |= {i.name for i in facts.indexes_mentioning(column)}
    key = facts.primary_key or ()
    return Deferred(
        facts.schema,
        facts.name,
        columns=frozenset({column}),
        names=frozenset(names),
        primary_key=key if column in key else (),
    )


def drop_not_null(column: str, target: Target, source: str) -> Change:
    """``ALTER COLUMN c DROP NOT NULL`` of an existing table: in the expand phase, after
    the deploy of readers that handle NULL in ``c`` (code written for the old schema
    assumes a value, and the first NULL row breaks it)."""
    label = f"drop_not_null_{target.name}_{column}"
    facts = target.facts
    if facts is None or facts.created_in_change:
        return pass_through(source, label=label)
    fact = facts.column(column)
    if fact is None:
        if facts.columns_known:
            raise missing_column(target, column)
        return pass_through(source, label=label)
    if not fact.not_null:
        return pass_through(source, label=label)  # nullable already: nothing changes
    name = ident(column)
    if column in (facts.primary_key or ()) or fact.identity:
        what = "an identity column" if fact.identity else "in the primary key"
        raise UnusableChangeFile(
            f"{target.sql}.{name} is {what}: PostgreSQL refuses DROP NOT NULL on it",
            hint="drop the primary key or the identity first, if that is meant",
        )
    step = Step(
        Slot.EXPAND,
        source,
        "ACCESS EXCLUSIVE for a moment, catalog only",
        lint_ignore=(
            "drop-not-null",
            "planned: runs after the deploy of readers that handle NULL in the column "
            "(docs/planner.md)",
        ),
        undo=(
            lint_ignored(
                f"ALTER TABLE {target.sql} ALTER COLUMN {name} SET NOT NULL",
                "set-not-null",
                "the down of a planned DROP NOT NULL restores the column as it was; it "
                "scans the table (and fails if NULLs were written since), revert off-peak",
            ),
        ),
    )
    return Change(
        source,
        "drop not null",
        (step,),
        {"expand": f"application code that reads {target.sql}.{name} and handles NULL"},
        label,
    )


def reset_columns(statement: Any, fields: Node, source: str, target: Target) -> Change:
    """``ALTER TABLE t DROP COLUMN c, ADD COLUMN c ...`` (each dropped column added again
    under its name, nothing else; ``fields``: its JSON tree): one catalog-only statement
    that resets every row's value and the column's definition at one instant, the column
    never missing (finding F-hostile-10: lemmy's 0215 resets four settings so). It passes
    through as written: planned as a drop in the contract and an add after it, the
    column was missing in between, and what code deployed before the contract wrote to
    it was dropped with the old column. The reset changes what running code reads and
    writes from the moment it commits, as a default change does: the last migration
    before the deploy point (F29's rule). Refused where the naive statement fails or does
    more than a catalog change: the old column has dependents or referencing foreign
    keys (2BP01), or a new one needs a fill, a scan or a rewrite."""
    facts = target.facts
    if facts is None or facts.created_in_change:
        return pass_through(source)
    for command, item in zip(statement.cmds, fields.get("cmds") or (), strict=True):
        if command.subtype == AlterTableType.AT_DropColumn:
            refuse_dropping_for_a_reset(target, facts, command)
        else:
            column = (item.get("AlterTableCmd", {}).get("def") or {}).get("ColumnDef", {})
            _refuse_adding_more_than_a_catalog_change(target, column)
    columns = "_".join(str(command.name) for command in statement.cmds if command.name)
    planned = pass_through(source, label=f"reset_{target.name}_{columns}")
    return replace(planned, changes_defaults=True)


def drop_to_add_again(command: Any, source: str, target: Target) -> Change:
    """``ALTER TABLE t DROP COLUMN c`` followed in the file by a catalog-only ``ALTER
    TABLE t ADD COLUMN c ...`` (the two-statement form of :func:`reset_columns`): it
    passes through as written, in the expand, the add after it in the same transaction
    (a table and what completes it are never split), a moment change."""
    facts = target.facts
    if facts is None or facts.created_in_change:
        return pass_through(source)
    refuse_dropping_for_a_reset(target, facts, command)
    planned = pass_through(source, label=f"reset_{target.name}_{command.name}")
    return replace(planned, changes_defaults=True)


def refuse_dropping_for_a_reset(target: Target, facts: TableFacts, command: Any) -> None:
    """What makes the naive ``DROP COLUMN`` of ``command`` fail (2BP01), refused: the
    plan's runs after earlier migrations committed."""
    column = str(command.name)
    if facts.column(column) is None:
        if command.missing_ok:
            return
        raise missing_column(target, column)
    if command.behavior == DropBehavior.DROP_CASCADE:
        return
    incoming = facts.incoming_on(column)
    if incoming:
        others = ", ".join(f"{s}.{t}.{c.name}" for s, t, c in incoming)
        raise CannotPlan(
            f"{target.sql}.{ident(column)} is referenced by foreign keys ({others}); dropping "
            "it needs CASCADE, which drops them too",
            hint="drop those foreign keys first, or write CASCADE if that is meant",
        )
    target.refuse_dependents(column, "drop")
    _refuse_dropping_a_sequence_in_use(target, column)


def _refuse_adding_more_than_a_catalog_change(target: Target, column: Node) -> None:
    catalog = target.schema_facts.catalog if target.schema_facts is not None else None
    if catalog is not None and added_in_the_catalog(column, catalog):
        return
    raise CannotPlan(
        f"{target.sql}.{ident(str(column.get('colname')))} is dropped and added again, and "
        "the new column needs more than a catalog change (a fill, a rewrite, NOT NULL values "
        "or a constraint to validate): as one statement that runs under ACCESS EXCLUSIVE, "
        "and planned apart the column would be missing in between",
        hint="add the new column under another name in this change (it is planned with "
        "its backfill), or add it with a constant default and no constraint, and constrain "
        "it in a later change",
    )
