"""``UPDATE`` and ``DELETE`` of an existing table: one statement that would lock every
row it touches until the migration commits becomes a batched backfill, walked by key
range in short transactions (``-- migrate:backfill``), as `unbatched-backfill` advises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from migrator.plan.facts import ConstraintFact, TableFacts
from migrator.plan.model import CannotPlan, Change
from migrator.plan.recipes.backfill import batched_step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.row_conditions import Condition, RowChange
from migrator.plan.sql_text import column_references, ident, parse_statement, qualified
from migrator.plan.volatility import is_volatile
from migrator.sql.classify import batchable_change, reads_itself, statement_node
from migrator.sql.enums import A_Expr_Kind, BoolExprType, NullTestType
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
    targets = getattr(statement, "targetList", None) or ()
    sets = frozenset(item.name for item in targets)
    nulled = frozenset(item.name for item in targets if _null_constant(item.val))
    step = batched_step(
        target, head, condition, options, what, key_of=key_of, sets=sets, nulled=nulled
    )
    step = replace(step, undo=None)  # the values it overwrites or the rows it deletes are gone
    done = "updated" if verb == "UPDATE" else "deleted"
    row_change = _row_change(statement, target, condition, joined, verb)
    return Change(
        text,
        "batched backfill" if verb == "UPDATE" else "batched delete",
        (step,),
        label=label,
        warnings=(_MEANWHILE.format(verb=verb, done=done),),
        row_change=row_change,
        conditions=() if row_change is None else _run_under(statement, target, row_change, text),
    )


#: what a foreign key does to the referencing rows when its key is deleted or changed
#: (``a``: NO ACTION, ``r``: RESTRICT fail instead)
_FOLLOWS = frozenset({"c", "n", "d"})


def _run_under(
    statement: Any, target: Target, change: RowChange, source: str
) -> tuple[Condition, ...]:
    """What the table's constraints make the rows the data change leaves satisfy: the
    naive statement fails on a row that breaks one and changes nothing, a batch only
    after the batches before it committed (plandiff: a DELETE of rows a foreign key
    still references deleted the unreferenced rows of its first batches). Checked
    before the first batch (:mod:`migrator.plan.prechecks`)."""
    facts = target.facts
    assert facts is not None
    found: list[Condition | None] = []
    assigned = {column for column, _ in change.assignments}
    own = {target.name, *([change.alias] if change.alias else [])}
    for item in statement.targetList or () if not change.delete else ():
        fact = facts.column(item.name)
        if fact is None or not fact.not_null or fact.not_null_in_change:
            continue
        if not _never_null(item.val, facts, own):
            found.append(target.condition("not_null", source, (item.name,)))
    for constraint in facts.constraints:
        if change.delete or not assigned & set(constraint.columns) or not constraint.valid:
            continue
        node = _constraint_node(constraint.definition_sql)
        if constraint.kind == "check" and node is not None and node.raw_expr is not None:
            found.append(target.condition("check", source, expression=deparse(node.raw_expr)))
        elif constraint.kind in ("primary", "unique"):
            found.append(target.condition("unique", source, constraint.columns))
        elif constraint.kind == "foreign":
            found.append(_outgoing_key(target, source, constraint, node))
    for schema, name, key in facts.incoming_foreign_keys:
        keys = key.referenced_columns or facts.primary_key or ()
        node = _constraint_node(key.definition_sql)
        action = node and (node.fk_del_action if change.delete else node.fk_upd_action)
        if (not change.delete and not assigned & set(keys)) or action in _FOLLOWS:
            continue
        referencing = target.schema_facts.table(schema, name) if target.schema_facts else None
        if referencing is None or referencing.created_in_change:
            continue  # no rows yet
        if node is None or (node.fk_matchtype or "s") != "s" or len(keys) != len(key.columns):
            found.append(_unchecked_key(target, source, key.name))
            continue
        found.append(
            Condition(
                schema,
                name,
                qualified(schema, name),
                "foreign_key",
                source,
                key.columns,
                references=(facts.schema, facts.name, target.sql),
                referenced_columns=keys,
            )
        )
    return tuple(replace(c, runs_under=True) for c in found if c is not None)


def _null_constant(node: Any) -> bool:
    """``node`` is the NULL constant (``NULL``, ``NULL::text``)."""
    if is_node(node, "TypeCast"):
        return _null_constant(node.arg)
    return is_node(node, "A_Const") and bool(node.isnull)


def _never_null(node: Any, facts: TableFacts, own: set[str]) -> bool:
    """``node`` (a value an ``UPDATE`` sets) is never NULL: a constant, a NOT NULL
    column of the table, or an operator over such values (``qty + 1``)."""
    if is_node(node, "A_Const"):
        return not node.isnull
    if is_node(node, "TypeCast"):
        return _never_null(node.arg, facts, own)
    if is_node(node, "ColumnRef"):
        references = column_references(node)
        if len(references) != 1:
            return False
        qualifier, name = references[0]
        column = facts.column(name)
        return qualifier in (None, *own) and column is not None and column.not_null
    if is_node(node, "A_Expr") and node.kind == A_Expr_Kind.AEXPR_OP:
        operands = [operand for operand in (node.lexpr, node.rexpr) if operand is not None]
        return all(_never_null(operand, facts, own) for operand in operands)
    return False


def _outgoing_key(target: Target, source: str, key: ConstraintFact, node: Any) -> Condition | None:
    """The table's own foreign key on a column the ``UPDATE`` sets: the values it
    writes must have their referenced row (MATCH SIMPLE)."""
    referenced = (
        target.schema_facts.table(*key.references)
        if target.schema_facts is not None and key.references is not None
        else None
    )
    keys = key.referenced_columns or (referenced.primary_key if referenced else None) or ()
    if (
        referenced is None
        or node is None
        or (node.fk_matchtype or "s") != "s"
        or len(keys) != len(key.columns)
    ):
        return _unchecked_key(target, source, key.name)
    condition = target.condition("foreign_key", source, key.columns)
    if condition is None:
        return None
    parent = (referenced.schema, referenced.name, qualified(referenced.schema, referenced.name))
    return replace(condition, references=parent, referenced_columns=keys)


def _unchecked_key(target: Target, source: str, name: str) -> Condition | None:
    return target.condition("unchecked", source, why=f"the foreign key {name} it runs under")


def _constraint_node(definition: str) -> Any:
    """The constraint node of a definition (``CHECK (x > 0)``), or ``None``."""
    if not definition:
        return None
    return parse_statement(f"ALTER TABLE t ADD {definition}").cmds[0].def_


def _row_change(
    statement: Any, target: Target, condition: str, joined: bool, verb: str
) -> RowChange | None:
    """What the statement does to the rows, for the check of the rows as it leaves
    them (:mod:`migrator.plan.prechecks`)."""
    alias = statement.relation.alias
    assignments: list[tuple[str, str]] = []
    opaque = ""
    items = (statement.fromClause if verb == "UPDATE" else statement.usingClause) or ()
    reads = _tables_read(items, target)
    if reads is None:
        opaque = "it reads what is not a table the migrations create (FROM or USING)"
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
        joined=", ".join(deparse(item) for item in items),
        reads=reads or frozenset(),
    )


def _tables_read(items: Any, target: Target) -> frozenset[tuple[str, str]] | None:
    """The tables the ``FROM`` / ``USING`` ``items`` name, ``(schema, name)``; ``None``
    when one is anything else (a subquery, a function, a join tree, a table the replay
    does not know): what the check would read of it is not known."""
    found = set()
    for item in items:
        if not is_node(item, "RangeVar") or target.schema_facts is None:
            return None
        table = target.schema_facts.table(item.schemaname, item.relname)
        if table is None:
            return None
        found.add((table.schema, table.name))
    return frozenset(found)


def _null_tested(node: Any) -> list[str]:
    """The columns a top-level ``c IS NULL`` conjunct of ``node`` tests."""
    if is_node(node, "BoolExpr") and node.boolop == BoolExprType.AND_EXPR:
        return [name for arg in node.args or () for name in _null_tested(arg)]
    if is_node(node, "NullTest") and node.nulltesttype == NullTestType.IS_NULL:
        references = column_references(node.arg) if is_node(node.arg, "ColumnRef") else []
        return [name for _, name in references]
    return []
