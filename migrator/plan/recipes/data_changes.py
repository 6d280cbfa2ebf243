"""``UPDATE`` and ``DELETE`` of an existing table: one statement that would lock every
row it touches until the migration commits becomes a batched backfill, walked by key
range in short transactions (``-- migrate:backfill``), as `unbatched-backfill` advises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from migrator.plan.model import CannotPlan, Change
from migrator.plan.recipes.backfill import batched_step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.row_conditions import RowChange
from migrator.plan.sql_text import column_references, ident
from migrator.plan.volatility import is_volatile
from migrator.sql.classify import batchable_change, reads_itself, statement_node
from migrator.sql.enums import BoolExprType, NullTestType
from migrator.sql.syntax import deparse, is_node

#: rows the application writes while the batches run
_MEANWHILE = (
    "each batch runs the {verb} on one key range, in its own transaction: rows the "
    "application changes meanwhile are {done} by the batch that reaches them"
)


def batched_update(statement: Any, text: str, target: Target, options: PlanOptions) -> Change:
    """The ``UPDATE`` as a backfill migration: ``WHERE key BETWEEN $1 AND $2 AND (its
    own condition)``, one batch per transaction, resumable. A ``FROM`` list and an
    alias stay as written; the key is then qualified."""
    label = f"backfill_{statement.relation.relname}"
    if not _batchable(text, target):
        return pass_through(text, label=label)
    assignments = ", ".join(
        f"{ident(item.name)} = {deparse(item.val)}" for item in statement.targetList
    )
    _refuse_derived_new_columns(statement, target)
    head = f"UPDATE {_relation(statement, target)} SET {assignments}"
    if statement.fromClause:
        head += " FROM " + ", ".join(deparse(item) for item in statement.fromClause)
    return _batched(
        statement, text, target, options, head, label, bool(statement.fromClause), "UPDATE"
    )


def _refuse_derived_new_columns(statement: Any, target: Target) -> None:
    """An ``UPDATE`` that fills a column the change added goes stale: a row old code
    inserts (or, when the values come from columns it writes, ``SET first_name =
    split_part(name, ' ', 1)``, changes) after its batch keeps the new column NULL or
    old, and the plan has no trigger to keep it in step through the deploy. Refused."""
    facts = target.facts
    if facts is None or facts.created_in_change:
        return
    filled = sorted(
        item.name
        for item in statement.targetList
        if (column := facts.column(item.name)) is not None and column.added_in_change
    )
    if not filled:
        return
    own = {target.name, *([statement.relation.alias.aliasname] if statement.relation.alias else [])}
    read: list[str] = []
    for node in [item.val for item in statement.targetList] + [statement.whereClause]:
        for qualifier, name in column_references(node):
            column = facts.column(name)
            existing = column is not None and not column.added_in_change
            if qualifier in (None, *own) and existing and name not in read:
                read.append(name)
    names = ", ".join(ident(n) for n in filled)
    if read:
        sources = ", ".join(ident(name) for name in read)
        raise CannotPlan(
            f"this UPDATE fills {names}, which the change adds to {target.sql}, from "
            f"{sources}, which running code keeps writing until the deploy: a row it "
            "inserts or changes after its batch would keep the new column NULL or stale, "
            "and the planner does not generate a trigger that keeps derived values in step",
            hint="plan the new columns with a trigger of your own that computes them on "
            "every insert and update (created in the same migration as the columns), then "
            "the backfill; or make them generated columns",
        )
    raise CannotPlan(
        f"this UPDATE fills {names}, which the change adds to {target.sql}: a row running "
        "code inserts after its batch (it does not know the column) would keep it NULL, "
        "where the one UPDATE would have filled it",
        hint="give the column a DEFAULT in its ADD COLUMN (a constant one fills existing "
        "rows too, without a rewrite), or a trigger that fills it on insert",
    )


def batched_delete(statement: Any, text: str, target: Target, options: PlanOptions) -> Change:
    """The ``DELETE`` as a backfill migration, like :func:`batched_update`; a ``USING``
    list stays as written. Deleted rows are gone: up-only."""
    label = f"delete_{statement.relation.relname}"
    if not _batchable(text, target):
        return pass_through(text, label=label)
    head = f"DELETE FROM {_relation(statement, target)}"
    if statement.usingClause:
        head += " USING " + ", ".join(deparse(item) for item in statement.usingClause)
    return _batched(
        statement, text, target, options, head, label, bool(statement.usingClause), "DELETE"
    )


def _batchable(text: str, target: Target) -> bool:
    """A statement the planner batches: the plain form (:func:`batchable_change`), of
    a table that has rows (not one the change created) and is the application's.
    :class:`CannotPlan` when it reads the table it changes."""
    facts = target.facts
    parsed = statement_node(text)
    if parsed is None or (facts is not None and (facts.created_in_change or facts.system)):
        return False  # no rows yet, or a catalog's few rows: as written
    kind, fields = parsed
    schema = facts.schema if facts is not None else None  # where `t` resolved
    if reads_itself(fields, schema):
        verb = "UPDATE" if kind == "UpdateStmt" else "DELETE"
        raise CannotPlan(
            f"this {verb} reads {target.sql}, the table it changes: in batches, each batch "
            "would see what the batches before it changed, and the result could differ "
            "from the one statement's",
            hint="write the backfill migration by hand (docs/backfill.md) if the result "
            "does not depend on that; keeping the smallest id of each group does not",
        )
    return batchable_change(kind, fields, schema)


def _relation(statement: Any, target: Target) -> str:
    """The changed table as written: ``ONLY`` kept (without it the batches would change
    the rows of inheriting tables too), and its alias."""
    relation = statement.relation
    name = target.sql if relation.inh else f"ONLY {target.sql}"
    alias = relation.alias
    return f"{name} {ident(alias.aliasname)}" if alias is not None else name


def _batched(
    statement: Any,
    text: str,
    target: Target,
    options: PlanOptions,
    head: str,
    label: str,
    joined: bool,
    verb: str,
) -> Change:
    alias = statement.relation.alias
    key_of = alias.aliasname if alias is not None else (target.name if joined else None)
    condition = deparse(statement.whereClause) if statement.whereClause is not None else "true"
    what = f"run this {verb}"
    step = batched_step(target, head, condition, options, what, key_of=key_of)
    step = replace(step, undo=None)  # the values it overwrites or the rows it deletes are gone
    done = "updated" if verb == "UPDATE" else "deleted"
    return Change(
        text,
        "batched backfill" if verb == "UPDATE" else "batched delete",
        (step,),
        label=label,
        warnings=(_MEANWHILE.format(verb=verb, done=done),),
        row_change=_row_change(statement, target, condition, joined, verb),
    )


def _row_change(
    statement: Any, target: Target, condition: str, joined: bool, verb: str
) -> RowChange | None:
    """What the statement does to the rows, for the check of the rows as it leaves
    them (:mod:`migrator.plan.prechecks`)."""
    alias = statement.relation.alias
    assignments: list[tuple[str, str]] = []
    opaque = "it reads other tables (FROM or USING)" if joined else ""
    catalog = target.schema_facts.catalog if target.schema_facts is not None else None
    nodes = [statement.whereClause] if statement.whereClause is not None else []
    for item in statement.targetList or () if verb == "UPDATE" else ():
        if item.indirection or is_node(item.val, "MultiAssignRef"):
            opaque = opaque or "it sets part of a column, or several columns from one row"
            continue
        assignments.append((item.name, deparse(item.val)))
        nodes.append(item.val)
    if not opaque and any(is_volatile(node, catalog) for node in nodes):
        opaque = "its values or condition are volatile (they differ each time they are computed)"
    return target.row_change(
        where=condition,
        assignments=tuple(assignments),
        delete=verb == "DELETE",
        alias=alias.aliasname if alias is not None else None,
        only=not statement.relation.inh,
        null_tested=frozenset(_null_tested(statement.whereClause)),
        opaque=opaque,
    )


def _null_tested(node: Any) -> list[str]:
    """The columns a top-level ``c IS NULL`` conjunct of ``node`` tests."""
    if is_node(node, "BoolExpr") and node.boolop == BoolExprType.AND_EXPR:
        return [name for arg in node.args or () for name in _null_tested(arg)]
    if is_node(node, "NullTest") and node.nulltesttype == NullTestType.IS_NULL:
        references = column_references(node.arg) if is_node(node.arg, "ColumnRef") else []
        return [name for _, name in references]
    return []
