"""Read the change file: each statement (each subcommand of an ``ALTER TABLE``) becomes
a :class:`~migrator.plan.model.Change` planned by its recipe, or passes through as
written when it is already safe.

The schema facts follow the file: every statement is replayed into the catalog before
the next one is planned, so a table created earlier in the same file is known (and
empty: changes to it pass through).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ObjectType

from migrator.plan.facts import SchemaFacts
from migrator.plan.model import Change, UnusableChangeFile
from migrator.plan.recipes.column_type import change_type
from migrator.plan.recipes.columns import (
    add_column,
    drop_column,
    pass_through,
    set_not_null,
    split_column_constraints,
)
from migrator.plan.recipes.constraints import add_constraint
from migrator.plan.recipes.enums import add_enum_value
from migrator.plan.recipes.indexes import create_index, drop_index
from migrator.plan.recipes.inverse import derived_down
from migrator.plan.recipes.renames import rename_column, rename_table
from migrator.plan.recipes.target import PlanOptions, Target, resolve
from migrator.plan.sql_text import deparse
from migrator.sql.classify import non_transactional_reason, statement_node, transaction_control
from migrator.sql.split import Statement, split_statements


def _alter_table_source(statement: Any, command: Any) -> str:
    single = copy.deepcopy(statement)
    single.cmds = (command,)
    return deparse(single)


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
            planned.append(add_column(bare, target, options, bool(command.missing_ok)))
            for constraint in separate:
                constraint_source = f"ALTER TABLE {target.sql} ADD {deparse(constraint)}"
                planned.append(add_constraint(constraint, target, constraint_source))
        elif kind == AlterTableType.AT_SetNotNull:
            planned.append(set_not_null(command.name, target, options))
        elif kind == AlterTableType.AT_AddConstraint:
            planned.append(add_constraint(command.def_, target, source))
        elif kind == AlterTableType.AT_AlterColumnType:
            planned.append(change_type(command.name, command.def_, target, options))
        elif kind == AlterTableType.AT_DropColumn:
            planned.append(
                drop_column(
                    command.name, target, int(command.behavior) == 1, bool(command.missing_ok)
                )
            )
        else:
            planned.append(pass_through(source))
    return planned


def _rename(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    relation = statement.relation
    if relation is None:
        return [pass_through(text)]
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
    return [pass_through(text, transactional=non_transactional_reason(text) is None)]


def _enum(statement: Any, text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    if statement.oldVal:
        return [pass_through(text)]
    return [add_enum_value(statement, text, facts)]


_RECIPES: dict[type, Callable[[Any, str, SchemaFacts, PlanOptions], list[Change]]] = {
    ast.AlterTableStmt: _alter_table,
    ast.RenameStmt: _rename,
    ast.IndexStmt: _index,
    ast.DropStmt: _drop,
    ast.AlterEnumStmt: _enum,
}


def plan_statement(text: str, facts: SchemaFacts, options: PlanOptions) -> list[Change]:
    """The changes one statement of the change file asks for."""
    statement = parse_sql(text)[0].stmt
    recipe = _RECIPES.get(type(statement))
    if recipe is None:
        return [
            pass_through(
                text,
                transactional=non_transactional_reason(text) is None,
                undo=derived_down(statement),
            )
        ]
    return recipe(statement, text, facts, options)


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
        if statement.tree is None and statement_node(statement.text) is None:
            raise UnusableChangeFile(
                f"{where}:{statement.line}: this statement is nested too deeply for the "
                "parser to give its tree",
                hint="split the expression into smaller statements",
            )
        keyword = transaction_control(statement.text)
        if keyword is not None:
            raise UnusableChangeFile(
                f"{where}:{statement.line}: {keyword} in the change file",
                hint="remove it: the planned migrations bring their own transactions",
            )
    return list(split.statements)


__all__ = ["Target", "plan_statement", "read_change_file"]
