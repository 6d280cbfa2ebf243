"""Read the change file: each statement (each subcommand of an ``ALTER TABLE``) becomes
a :class:`~migrator.plan.model.Change` planned by its recipe, or passes through as
written when it is already safe.

The schema facts follow the file: every statement, and every subcommand of an
``ALTER TABLE`` (:func:`planning_units`), is replayed into the catalog before the next
one is planned, so a table created earlier in the same file is known (and empty: changes
to it pass through), and a subcommand sees what the ones before it did. What a change
removes only in the contract phase (:class:`~migrator.plan.facts.Deferred`) is known too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from migrator.plan.added_columns import added_in_the_catalog
from migrator.plan.facts import SchemaFacts
from migrator.plan.model import CannotPlan, Change, UnusableChangeFile
from migrator.plan.recipes.column_type import change_type
from migrator.plan.recipes.columns import (
    add_column,
    drop_column,
    drop_not_null,
    drop_to_add_again,
    pass_through,
    reset_columns,
    set_not_null,
    split_column_constraints,
)
from migrator.plan.recipes.constraints import add_constraint, drop_constraint
from migrator.plan.recipes.data_changes import batched_delete, batched_update
from migrator.plan.recipes.enums import add_enum_value
from migrator.plan.recipes.indexes import create_index, drop_index, reindex_concurrently
from migrator.plan.recipes.inverse import derived_down
from migrator.plan.recipes.renames import rename_column, rename_table
from migrator.plan.recipes.tables import drop_table, drop_view
from migrator.plan.recipes.target import PlanOptions, Target, resolve
from migrator.plan.sql_text import ident, mentioned_relations, named_columns, qualified
from migrator.sql.classify import (
    non_transactional_reason,
    reason_outside_transaction,
    transaction_keyword,
)
from migrator.sql.enums import AlterTableType, DropBehavior, ObjectType
from migrator.sql.names import QualifiedName, relation_name
from migrator.sql.split import Statement, split_statements
from migrator.sql.syntax import deparse, is_node, kind_of

#: subcommands PostgreSQL applies in the first pass of an ``ALTER TABLE``, before every
#: other one wherever they are written (``AT_PASS_DROP`` in tablecmds.c); ``ALTER COLUMN
#: ... DROP DEFAULT`` too (an ``AT_ColumnDefault`` without expression)
_DROP_PASS = frozenset(
    {
        AlterTableType.AT_DropColumn,
        AlterTableType.AT_DropConstraint,
        AlterTableType.AT_DropNotNull,
        AlterTableType.AT_DropIdentity,
        AlterTableType.AT_DropExpression,
    }
)


#: ``ALTER TABLE ... ENABLE | DISABLE [REPLICA | ALWAYS] TRIGGER``
_TRIGGER_SWITCHES = frozenset(
    {
        AlterTableType.AT_EnableTrig,
        AlterTableType.AT_EnableAlwaysTrig,
        AlterTableType.AT_EnableReplicaTrig,
        AlterTableType.AT_EnableTrigAll,
        AlterTableType.AT_EnableTrigUser,
        AlterTableType.AT_DisableTrig,
        AlterTableType.AT_DisableTrigAll,
        AlterTableType.AT_DisableTrigUser,
    }
)


#: ``ATTACH PARTITION``, ``DETACH PARTITION [CONCURRENTLY]``, ``DETACH ... FINALIZE``
_PARTITION_CHANGES = frozenset(
    {
        AlterTableType.AT_AttachPartition,
        AlterTableType.AT_DetachPartition,
        AlterTableType.AT_DetachPartitionFinalize,
    }
)


def _in_drop_pass(command: Any) -> bool:
    if command.subtype == AlterTableType.AT_ColumnDefault:
        return command.def_ is None
    return command.subtype in _DROP_PASS


def _alter_table_source(statement: Any, command: Any) -> str:
    return deparse(_alter_table_single(statement, command))


def _alter_table_single(statement: Any, command: Any) -> Any:
    """The ``ALTER TABLE`` of ``statement`` with ``command`` as its only subcommand."""
    single = copy.deepcopy(statement)
    single.cmds = (command,)
    return single


def _resets_columns(statement: Any) -> bool:
    """``ALTER TABLE`` of several subcommands that only drop columns and add each again
    under its name (lemmy's 0215: ``DROP COLUMN score, ADD COLUMN score boolean DEFAULT
    false NOT NULL, ...``): planned as one statement (:func:`reset_columns`)."""
    commands = statement.cmds or ()
    dropped = {str(c.name) for c in commands if c.subtype == AlterTableType.AT_DropColumn}
    added = {
        str(c.def_.colname)
        for c in commands
        if c.subtype == AlterTableType.AT_AddColumn and c.def_ is not None
    }
    return len(commands) > 1 and len(dropped) + len(added) == len(commands) and dropped == added


def planning_units(source: Statement) -> list[Statement]:
    """The statements ``text`` is planned as, one after the other: an ``ALTER TABLE``
    of several subcommands as one statement per subcommand, in the order PostgreSQL
    applies them (the drops first, then the rest as written), so that each is planned
    against the schema the ones before it leave (``DROP COLUMN id, ADD PRIMARY KEY
    (uuid)``: the key went with ``id``). A statement planned as written is its own one
    unit: its trees are the ones the file's parse gave."""
    statement = source.node
    if (
        not is_node(statement, "AlterTableStmt")
        or statement.objtype != ObjectType.OBJECT_TABLE
        or len(statement.cmds or ()) < 2
        or _resets_columns(statement)
    ):
        return [source]
    commands = sorted(statement.cmds or (), key=lambda command: not _in_drop_pass(command))
    units = []
    for command in commands:
        single = _alter_table_single(statement, command)
        units.append(source.rewritten(deparse(single), single))
    return units


def _alter_table(
    statement: Any, text: str, facts: SchemaFacts, options: PlanOptions
) -> list[Change]:
    relation = statement.relation
    target = resolve(facts, relation.schemaname, relation.relname)
    if statement.objtype != ObjectType.OBJECT_TABLE:
        return [pass_through(text)]
    planned: list[Change] = []
    for command in statement.cmds:
        source = text if len(statement.cmds) == 1 else _alter_table_source(statement, command)
        kind = command.subtype
        if kind == AlterTableType.AT_AddColumn:
            bare, separate = split_column_constraints(command.def_)
            planned.append(
                add_column(
                    bare, target, options, bool(command.missing_ok), constrained=bool(separate)
                )
            )
            for constraint in separate:
                constraint_source = f"ALTER TABLE {target.sql} ADD {deparse(constraint)}"
                planned.append(add_constraint(constraint, target, constraint_source))
        elif kind == AlterTableType.AT_SetNotNull:
            planned.append(set_not_null(command.name, target, options))
        elif kind == AlterTableType.AT_AddConstraint:
            planned.append(add_constraint(command.def_, target, source))
        elif kind == AlterTableType.AT_DropConstraint:
            planned.append(
                drop_constraint(
                    command.name, target, command.behavior == DropBehavior.DROP_CASCADE, source
                )
            )
        elif kind == AlterTableType.AT_AlterColumnType:
            planned.append(change_type(command.name, command.def_, target, options))
        elif kind == AlterTableType.AT_DropNotNull:
            planned.append(drop_not_null(command.name, target, source))
        elif kind == AlterTableType.AT_DropColumn:
            planned.append(
                drop_column(
                    command.name,
                    target,
                    command.behavior == DropBehavior.DROP_CASCADE,
                    bool(command.missing_ok),
                )
            )
        elif kind == AlterTableType.AT_DropIdentity:
            # old code's inserts leave the column out and got the identity's value: from
            # the migration it commits in they fail (the column stays NOT NULL), as after
            # a DROP DEFAULT of a NOT NULL column (finding F52)
            planned.append(replace(pass_through(source), changes_defaults=True))
        elif kind in _PARTITION_CHANGES:
            planned.append(_partition_change(source, target))
        elif kind == AlterTableType.AT_DropExpression:
            # the column stops being computed: what old code's inserts and updates
            # leave there changes from the migration it commits in, as with a default
            planned.append(replace(pass_through(source), changes_defaults=True))
        else:
            if kind == AlterTableType.AT_ColumnDefault:
                _refuse_default_of_shadowed(target, command.name)
                planned.append(
                    replace(
                        pass_through(source),
                        changes_defaults=True,
                        # a DROP DEFAULT changes what old code's inserts get even for a
                        # column the file adds (they got its default until then; F35)
                        default_of_new_column=command.def_ is not None
                        and not _old_code_inserts(target, command.name),
                    )
                )
            else:
                # ENABLE / DISABLE TRIGGER changes what running code's writes do from the
                # moment it commits, as a default change does (finding F-hostile-7)
                toggles = kind in _TRIGGER_SWITCHES
                planned.append(replace(pass_through(source), changes_defaults=toggles))
    return planned


def _partition_change(source: str, target: Target) -> Change:
    """``ATTACH PARTITION`` / ``DETACH PARTITION [CONCURRENTLY | FINALIZE]`` passes
    through in the expand phase, ``CONCURRENTLY`` in a migration of its own without a
    transaction (PostgreSQL refuses it in one). Of a table running code uses, it changes
    from the moment it commits which rows the table shows and where a write of a row in
    the partition's bounds goes (the default partition, or nowhere: 23514), as a
    default change does: committed last before the deploy point, or refused when a later
    migration would let old code write in between. A detached partition keeps its
    columns' defaults, also a serial default taking values from the parent's sequence:
    a later ``DROP TABLE`` of the parent is refused as the naive one fails (plandiff F54)."""
    planned = pass_through(source, transactional=non_transactional_reason(source) is None)
    moment = target.facts is None or not target.facts.created_in_change
    return replace(planned, changes_defaults=moment)


def _old_code_inserts(target: Target, column: str) -> bool:
    """Running code inserts into ``column`` of ``target`` (leaving it out, it gets the
    default): not a column or table the change file adds, whose default stays in the
    migration that adds it (it completes the column)."""
    facts = target.facts
    if facts is None:
        return True
    fact = facts.column(column)
    return not facts.created_in_change and (fact is None or not fact.added_in_change)


def _refuse_default_of_shadowed(target: Target, column: str) -> None:
    """A default set or dropped on a column the change renames or retypes: the plan
    keeps the old and new columns in step with a trigger until its contract, where the
    old default moves over; a default there would overwrite on insert what old code
    writes to the old column, or be lost in the swap."""
    facts = target.facts
    if facts is None or column not in facts.deferred.shadowed:
        return
    raise CannotPlan(
        f"{target.sql}.{ident(column)} is renamed or retyped earlier in the change, which "
        "the plan finishes only in its contract phase (a second column kept in step by a "
        "trigger): a default changed before that would overwrite on insert what old code "
        "writes, or be lost in the swap",
        hint="change the default in a change of its own, after this one's contract phase ran",
    )


def _refuse_moving_what_running_code_reads(
    relation: Any, what: str, facts: SchemaFacts, how: str
) -> None:
    """A view renamed, or a table or view moved to another schema, that existed before
    the change: running code that reads it by its name fails from the expand on, and
    the planner keeps no view under the old name for these (it does for ``ALTER TABLE
    ... RENAME TO``). Refused (finding F44)."""
    existing = facts.table(relation.schemaname, relation.relname)
    if existing is None or existing.created_in_change:
        return
    name = qualified(relation.schemaname, relation.relname)
    raise CannotPlan(
        f"{how} {what} {name} breaks the running code that uses it by that name from the "
        "expand phase on; the planner keeps a view under the old name only for a table "
        "renamed with ALTER TABLE ... RENAME TO",
        hint=_MOVE_BY_HAND[what].format(name=name),
    )


#: how to rename or move a view or table by hand, by what it is
_MOVE_BY_HAND = {
    "view": "create a view of the same query under the new name or schema in this change, "
    "move the code to it, then drop {name} in a later change (migrate plan puts the DROP "
    "VIEW in its contract phase)",
    "table": "rename it within its schema (ALTER TABLE ... RENAME TO is planned), or move "
    "it by hand: SET SCHEMA and CREATE VIEW {name} AS SELECT * FROM the moved table in one "
    "migration, then drop that view once no code uses the old name",
}


def _set_schema(
    statement: Any, text: str, facts: SchemaFacts, options: PlanOptions
) -> list[Change]:
    kinds = {ObjectType.OBJECT_TABLE: "table", **dict.fromkeys(_VIEW_KINDS, "view")}
    what = kinds.get(statement.objectType)
    if what is not None and statement.relation is not None:
        _refuse_moving_what_running_code_reads(statement.relation, what, facts, "moving the")
    return [pass_through(text, undo=derived_down(statement))]


def _rename(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    relation = statement.relation
    if relation is None:
        return [pass_through(text)]
    if statement.renameType in _VIEW_KINDS:
        _refuse_moving_what_running_code_reads(relation, "view", facts, "renaming the")
    target = resolve(facts, relation.schemaname, relation.relname)
    if (
        statement.renameType == ObjectType.OBJECT_COLUMN
        and statement.relationType == ObjectType.OBJECT_TABLE
    ):
        return [rename_column(statement.subname, statement.newname, target, options)]
    if statement.renameType == ObjectType.OBJECT_TABLE:
        return [rename_table(relation.relname, statement.newname, target)]
    return [pass_through(text)]


def _index(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    relation = statement.relation
    return [create_index(statement, resolve(facts, relation.schemaname, relation.relname), text)]


def _drop(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    if statement.removeType == ObjectType.OBJECT_INDEX:
        return [drop_index(statement, facts, text)]
    if statement.removeType == ObjectType.OBJECT_TABLE:
        return [drop_table(statement, facts, text)]
    if statement.removeType == ObjectType.OBJECT_TRIGGER:
        # dropping a trigger of a table running code writes changes what its writes do
        # from the moment it commits (an audit row no longer written), as a default
        # change does (finding F53)
        names = [[str(n.sval) for n in item] for item in statement.objects or ()]
        return [
            replace(
                pass_through(text),
                changes_defaults=any(
                    _written_by_old_code(facts, *name[-3:-1]) for name in names if len(name) > 1
                ),
            )
        ]
    return [pass_through(text, transactional=non_transactional_reason(text) is None)]


def _written_by_old_code(facts: SchemaFacts, *name: str) -> bool:
    """The table ``[schema,] name`` exists before the change file (running code writes
    it): not one the file creates; a table the replay does not know came from before."""
    catalog = facts.catalog
    if catalog is None:
        return True
    schema, table_name = (None, *name) if len(name) == 1 else name
    table = catalog.table(catalog.resolve(schema, table_name))
    return table is None or not catalog.is_new(table)


def _update(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    relation = statement.relation
    target = resolve(facts, relation.schemaname, relation.relname)
    return [batched_update(statement, text, target, options)]


def _delete(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    relation = statement.relation
    target = resolve(facts, relation.schemaname, relation.relname)
    return [batched_delete(statement, text, target, options)]


def _reindex(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    return [reindex_concurrently(statement, text)]


def _enum(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    if statement.oldVal:
        return [pass_through(text)]
    return [add_enum_value(statement, text, facts)]


def _create_trigger(
    statement: Any, text: str, facts: SchemaFacts, options: PlanOptions
) -> list[Change]:
    """``CREATE TRIGGER`` passes through, unless the table has a column the change
    renames or retypes earlier (finding F51): the plan keeps the old and the new column
    in step with its sync trigger until the contract, and a trigger created in the
    expand fires on an old client's row before that sync (triggers of one event fire in
    name order), seeing and writing the new column unsynced: it overwrote the old
    client's value with its own fill."""
    relation = statement.relation
    table = facts.table(relation.schemaname, relation.relname)
    if table is not None and table.deferred.shadowed:
        columns = ", ".join(ident(c) for c in sorted(table.deferred.shadowed))
        name = qualified(relation.schemaname, relation.relname)
        raise CannotPlan(
            f"trigger {ident(statement.trigname)} is created on {name}, "
            f"whose {columns} the change renames or retypes earlier: the plan keeps the old and "
            "the new column in step with a trigger of its own until the contract phase, and "
            "this one would fire on old clients' rows before they are in step (it would read "
            "or write the new column before the plan's trigger copies the old one into it)",
            hint="create the trigger in a change of its own, after this change's contract ran",
        )
    # a trigger on a table running code writes (OR REPLACE of one, finding F-hostile-7;
    # a new one, finding F53) changes what its writes do from the moment it commits, as
    # a default change does
    moment = _written_by_old_code(facts, *[n for n in (relation.schemaname, relation.relname) if n])
    return [replace(pass_through(text, undo=derived_down(statement)), changes_defaults=moment)]


def _create_function(
    statement: Any, text: str, facts: SchemaFacts, options: PlanOptions
) -> list[Change]:
    """``CREATE FUNCTION`` passes through; ``OR REPLACE`` of an existing trigger function
    changes what running code's writes do (the triggers that execute it) from the
    moment it commits, as a default change does: committed last, or refused when a later
    migration would let old code write in between (finding F-hostile-7: lemmy's 0169
    replaced a trigger function, then deleted rows in batches; sites inserted meanwhile
    got the new behaviour)."""
    planned = pass_through(text, undo=derived_down(statement))
    returns = [str(n.sval) for n in statement.returnType.names] if statement.returnType else []
    catalog = facts.catalog
    if not statement.replace or returns[-1:] != ["trigger"] or catalog is None:
        return [planned]
    names = [str(n.sval) for n in statement.funcname]
    existing = catalog.function(
        QualifiedName(
            *catalog.resolve(names[-2] if len(names) > 1 else None, names[-1], kind="function")
        )
    )
    return [replace(planned, changes_defaults=existing is not None)]


_VIEW_KINDS = (ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW)

_RECIPES: dict[str, Callable[[Any, str, SchemaFacts, PlanOptions], list[Change]]] = {
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "AlterEnumStmt": _enum,
    "UpdateStmt": _update,
    "DeleteStmt": _delete,
    "ReindexStmt": _reindex,
    "AlterObjectSchemaStmt": _set_schema,
    "CreateTrigStmt": _create_trigger,
    "CreateFunctionStmt": _create_function,
}


def _refuse_contract_only_columns(statement: Any, facts: SchemaFacts) -> None:
    """A column the plan adds only in the contract phase (it takes the name of one
    dropped there) does not exist in the expand and backfill phases, where the plan
    would run this statement; a table the plan drops only then still exists there."""
    names: set[str] | None = None
    for schema, name in mentioned_relations(statement):
        if facts.dropped_later(schema, name):
            raise CannotPlan(
                f"{qualified(schema, name)} is dropped earlier in the change, but the plan "
                "drops it only in the contract phase, after the deploy; this statement "
                "would run before that, while it still exists",
                hint="plan it in a change of its own, after the contract phase ran",
            )
        table = facts.table(schema, name)
        if table is None or not table.deferred.added:
            continue
        names = named_columns(statement) if names is None else names
        used = sorted(table.deferred.added & names)
        if used:
            raise CannotPlan(
                f"{qualified(schema, name)}.{ident(used[0])} is added again only in the "
                "contract phase, after the old column of that name is dropped there; this "
                "statement would run before that, against the old column",
                hint="plan it in a change of its own, after the contract phase ran",
            )


def plan_statement(
    unit: Statement,
    facts: SchemaFacts,
    options: PlanOptions,
    created_later: frozenset[tuple[str, str]] = frozenset(),
    later: Sequence[Statement] = (),
) -> list[Change]:
    """The changes one statement of the change file asks for (one of its
    :func:`planning_units`); ``created_later``: the views (``(schema, name)``) later
    statements of the file create; ``later``: those statements (a column dropped and
    added again by one of them is reset, :func:`drop_to_add_again`)."""
    text, statement = unit.text, unit.node
    _refuse_contract_only_columns(statement, facts)
    if kind_of(statement) == "AlterTableStmt" and statement.objtype == ObjectType.OBJECT_TABLE:
        relation = statement.relation
        if _resets_columns(statement) and unit.parsed is not None:
            target = resolve(facts, relation.schemaname, relation.relname)
            return _as_written([reset_columns(statement, unit.parsed.fields, text, target)], unit)
        (command, *others) = statement.cmds
        if not others and command.subtype == AlterTableType.AT_DropColumn:
            target = resolve(facts, relation.schemaname, relation.relname)
            table = target.facts
            again = (table.schema, table.name, command.name) if table is not None else None
            if again is not None and again in columns_added_later(later, facts):
                return _as_written([drop_to_add_again(command, text, target)], unit)
    if kind_of(statement) == "DropStmt" and statement.removeType in _VIEW_KINDS:
        return _as_written([drop_view(statement, facts, text, created_later)], unit)
    recipe = _RECIPES.get(kind_of(statement))
    if recipe is None:
        parsed = unit.parsed
        reason = None if parsed is None else reason_outside_transaction(parsed.kind, parsed.fields)
        planned = pass_through(text, transactional=reason is None, undo=derived_down(statement))
        return _as_written([planned], unit)
    return _as_written(recipe(statement, text, facts, options), unit)


def columns_added_later(
    units: Sequence[Statement], facts: SchemaFacts
) -> frozenset[tuple[str, str, str]]:
    """The columns (``(schema, table, column)``) ``ALTER TABLE ... ADD COLUMN`` of
    ``units`` adds to tables the schema has, each a catalog change only
    (:func:`~migrator.plan.added_columns.added_in_the_catalog`)."""
    catalog = facts.catalog
    found: set[tuple[str, str, str]] = set()
    if catalog is None:
        return frozenset()
    for unit in units:
        tree = unit.kind_and_fields(view_query=False)
        if tree is None or tree[0] != "AlterTableStmt":
            continue
        schema, name = relation_name(tree[1].get("relation"))
        table = facts.table(schema, name)
        if table is None:
            continue
        for item in tree[1].get("cmds") or ():
            command = item.get("AlterTableCmd", {})
            column = (command.get("def") or {}).get("ColumnDef")
            if command.get("subtype") != "AT_AddColumn" or column is None:
                continue
            if added_in_the_catalog(column, catalog):
                found.add((table.schema, table.name, str(column.get("colname"))))
    return frozenset(found)


def _as_written(changes: list[Change], unit: Statement) -> list[Change]:
    """``changes``, each step that runs ``unit`` as written carrying its tree from the
    file's parse (:meth:`Step.written`): what reads the plan's steps parses only the
    SQL the planner wrote."""
    parsed = unit.parsed
    if parsed is None:
        return changes
    return [
        replace(
            change,
            steps=tuple(
                step.written(parsed) if step.sql == unit.text else step for step in change.steps
            ),
        )
        for change in changes
    ]


def read_change_file(text: str, where: str) -> list[Statement]:
    """The statements of the change file; :class:`CannotPlan` when it does not parse."""
    split = split_statements(text)
    if split.syntax_error is not None:
        error = split.syntax_error
        raise UnusableChangeFile(f"{where}:{error.line}:{error.column}: {error.message}")
    if split.meta_commands:
        line, command = split.meta_commands[0]
        raise UnusableChangeFile(
            f"{where}:{line}: psql meta-command {command.split()[0]} is not SQL"
        )
    if not split.statements:
        raise UnusableChangeFile(
            f"{where} holds no SQL statement", hint="write the change you mean"
        )
    for statement in split.statements:
        parsed = statement.parsed
        if parsed is None:
            raise UnusableChangeFile(
                f"{where}:{statement.line}: this statement is nested too deeply for the "
                "parser to give its tree",
                hint="split the expression into smaller statements",
            )
        keyword = transaction_keyword(parsed.kind, parsed.fields)
        if keyword == "COMMIT":
            # a commit point (sourcegraph's COMMIT AND CHAIN between tables, so that no
            # transaction locks them all): `migrate up` keeps it, the planner would not
            raise CannotPlan(
                f"{where}:{statement.line}: {keyword} in the change file: a commit point "
                "that keeps its transactions apart, which the planner does not keep (it "
                "plans the file as one change, whose statements it groups into migrations "
                "of its own)",
                hint="plan each part between the commit points as a file of its own, in "
                "order; or keep the file as written: migrate up runs its commit points "
                "(docs/runner.md)",
            )
        if keyword is not None:
            raise UnusableChangeFile(
                f"{where}:{statement.line}: {keyword} in the change file",
                hint="remove it: the planned migrations bring their own transactions",
            )
    return list(split.statements)


__all__ = ["Target", "plan_statement", "planning_units", "read_change_file"]
