"""A plan must not commit part of a change and then fail where the naive file fails as
a whole.

The naive file runs in one transaction: ``UPDATE a SET c = 5 WHERE id % 3 = 0; ALTER
TABLE a ALTER COLUMN c SET NOT NULL`` on rows where ``c`` stays NULL fails (23502) and
changes nothing. The plan runs the ``UPDATE`` in batches, each committed, and the NOT
NULL only in its contract phase: when that fails, the rows are changed already. So
does ``ADD CHECK (c IS NOT NULL); ALTER COLUMN d TYPE varchar(40)`` (plandiff F36): the
type change commits in the expand migration, the check's ``VALIDATE`` fails later.

So a check (one ``DO`` block that reads the rows and changes nothing) runs before
anything commits that a condition the plan enforces later could be left behind by:

- before the first data change of the plan (an ``UPDATE`` or ``DELETE`` of the file, or
  a fill of NULLs), in a migration of its own: the rows as the data changes will leave
  them (:mod:`.row_conditions`) against every condition the plan enforces after them
  or the data changes run under (a NOT NULL, a check, a unique key, a foreign key);
- first in the plan's first migration, when another change commits in an expand
  migration before a condition can fail (a type change, a default change, a comment,
  a new column, ...), unless the plan names a deploy before the condition's own
  migrations (``SET NOT NULL``: the deployed code, or a person at the deploy, may fill
  the rows first; a failure after it is resumed once the rows are right). That check
  runs on the schema before the file: a condition on a
  column the file adds or retypes cannot be checked there (42703), and is refused when
  what commits before it changes something that exists (a type, a default, a NOT NULL,
  a name, a trigger, a permission); additions only (new tables, columns, indexes,
  constraints, the planner's own shadow columns and triggers) are left for the next
  run once the condition failed, as the harness allows.

Conditions it cannot compute beforehand (a foreign key MATCH FULL, a type change's cast,
a data change that reads other tables or computes volatile values) are refused with
the reason where such a commit comes before them.

The check sees the rows when it runs: rows the application writes afterwards that
break the condition still make the later migration fail (its deploy line says what the
new code must write)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.plan.row_conditions import (
    Condition,
    RowChange,
    check_block,
    rows_after,
    unknown_columns,
    violated,
)
from migrator.plan.sql_text import excerpt
from migrator.sql.parse import ParsedStatement

CHECK_NOTE = (
    "ACCESS SHARE: reads the rows as the data changes after it will leave them, changes "
    "nothing; fails (as the naive file would) when they break what the plan enforces"
)

Table = tuple[str, str]


@dataclass(frozen=True)
class TablesBefore:
    """What the schema is before the change file, for a check that runs first."""

    #: the tables that exist before the file, ``(schema, name)``
    existing: frozenset[Table] = frozenset()
    #: by table: the names of columns the file adds, retypes or renames to, at any point
    #: of the file (a check that names one cannot run before the file's changes)
    changed_columns: Mapping[Table, frozenset[str]] = field(default_factory=dict)

    def can_check(self, tables: Sequence[Table], sql: str) -> bool:
        """``sql`` (a check of ``tables``' rows) runs on the schema before the file."""
        if not all(table in self.existing for table in tables):
            return False
        changed = frozenset().union(*(self.changed_columns.get(t, frozenset()) for t in tables))
        return not (changed & _identifiers(sql))


_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def _identifiers(sql: str) -> frozenset[str]:
    """Every word of ``sql`` that may name a column (more, never fewer)."""
    return frozenset(
        quoted.replace('""', '"') if quoted else bare.lower()
        for quoted, bare in _IDENTIFIER.findall(sql)
    )


def _changes_rows(change: Change) -> bool:
    return change.row_change is not None and any(s.slot is Slot.BACKFILL for s in change.steps)


def _opaque(layer: RowChange) -> str:
    if layer.opaque:
        return layer.opaque
    if layer.only:
        return "it changes ONLY the parent table"
    if unknown_columns(layer):
        return f"the type of {', '.join(unknown_columns(layer))} is not known"
    return ""


def _reads_changed(position: int, layer: RowChange, layers: Layers) -> str:
    """Why ``layer`` (at ``position``) cannot be computed from the rows as the check
    finds them: its ``FROM`` / ``USING`` reads a table an earlier data change of the
    file changes ("" when it does not)."""
    for table in layer.reads:
        if any(i < position for i, _ in layers.get(table, [])):
            return f"it reads {table[0]}.{table[1]}, {_READS_CHANGED}"
    return ""


#: why a data change's rows cannot be computed that batches meeting a constraint
#: cannot excuse either (plandiff F56): the one statement fails whole, the batches after
#: earlier ones committed
_READS_CHANGED = "which an earlier data change of the file changes"


def _refuse(condition: Condition, change: Change, why: str) -> CannotPlan:
    return CannotPlan(
        f"`{excerpt(condition.source)}` can still fail after the plan ran "
        f"`{excerpt(change.source)}` in batches (committed, where the naive file would "
        f"change nothing), and the planner cannot check it beforehand: {why}",
        hint="run the data change in a plan of its own first, check the rows, then plan the rest",
    )


Layers = dict[Table, list[tuple[int, RowChange]]]


def _layers(changes: Sequence[Change]) -> Layers:
    """The data changes of ``changes`` by table: ``(position, layer)`` in file order."""
    layers: Layers = {}
    for i, change in enumerate(changes):
        if _changes_rows(change):
            layer = change.row_change
            assert layer is not None
            layers.setdefault((layer.schema, layer.table), []).append((i, layer))
    return layers


def _violation(
    condition: Condition, position: int, layers: Layers, own: bool = False
) -> tuple[str, str]:
    """``(SQL true when a row breaks condition, "")``, the rows as the file's data
    changes leave them when the condition comes in the file (``own``: it is the one of
    the data change at ``position``, after it) and after each data change of its table
    that comes later (it runs under the condition); ``("", why)`` when it cannot be
    computed beforehand."""
    if condition.kind == "unchecked":
        return "", f"it is {condition.why}"

    def before(i: int) -> bool:  # a data change's own condition: the rows after it
        return i < position or (own and i == position)

    on_table = layers.get((condition.schema, condition.table), [])
    referenced: list[tuple[int, RowChange]] = []
    if condition.references is not None:
        keys = set(condition.referenced_columns)
        referenced = list(layers.get(condition.references[:2], []))
        if any(
            not before(i) and (layer.delete or keys & {c for c, _ in layer.assignments})
            for i, layer in referenced
        ):
            return "", "a later data change of the referenced table deletes or changes keys"
        referenced = [(i, layer) for i, layer in referenced if before(i)]
    for i, layer in on_table + referenced:
        why = _opaque(layer) or _reads_changed(i, layer, layers)
        if why:
            return "", f"the rows a data change leaves cannot be computed beforehand ({why})"
    parent = ""
    if condition.references is not None:
        parent = rows_after(condition.references[2], False, [layer for _, layer in referenced])
    states = [[layer for i, layer in on_table if before(i)]] + [
        [layer for i, layer in on_table if i <= j] for j, _ in on_table if not before(j)
    ]
    rows = [rows_after(condition.table_sql, False, state) for state in states]
    return " OR ".join(violated(condition, r, parent) for r in rows), ""


def add_prechecks(changes: Sequence[Change], before: TablesBefore) -> list[Change]:
    """``changes`` with the checks this module's docstring describes: one before the
    first data change, one first in the plan; :class:`CannotPlan` when a condition
    that something committed earlier could be left behind by cannot be checked."""
    checked = check_before_data_changes(changes)
    # with data changes, the rows are checked before them, before the deploy: the
    # deploy cannot make them right any more, they are checked first in the plan
    return check_before_expand_commits(checked, before, len(checked) == len(changes))


def check_before_data_changes(changes: Sequence[Change]) -> list[Change]:
    """``changes`` with a check migration before the first one that changes rows, when
    a condition the plan enforces later (or the data changes run under) depends on
    them; :class:`CannotPlan` when such a condition cannot be checked beforehand."""
    changing = [i for i, change in enumerate(changes) if _changes_rows(change)]
    if not changing:
        return list(changes)
    layers = _layers(changes)
    first = changes[changing[0]]
    checks: list[tuple[Condition, str]] = []
    for position, change in enumerate(changes):
        for condition in change.conditions:
            on_table = layers.get((condition.schema, condition.table), [])
            if not on_table and not condition.late:
                continue  # enforced in the expand phase: fails before any row changed
            violation, why = _violation(condition, position, layers, _changes_rows(change))
            if not violation and _left_to_the_batches(condition, why):
                continue
            if not violation:
                index = next(
                    (i for i, layer in on_table if _opaque(layer) or layer.reads), changing[0]
                )
                raise _refuse(condition, changes[index], why)
            checks.append((condition, violation))
    if not checks:
        return list(changes)
    check = _check_change(
        checks,
        first,
        Slot.BACKFILL_CHECK,
        "(a check: the rows, as the data changes of the file will leave them, satisfy "
        "what the plan enforces after them)",
        "check rows before data changes",
        "data_changes",
    )
    return [*changes[: changing[0]], check, *changes[changing[0] :]]


def _left_to_the_batches(condition: Condition, why: str) -> bool:
    """A constraint the data change runs under whose rows cannot be computed (it
    computes volatile values, sets part of a column, reads a subquery or a join in its
    ``FROM``): not refused, the batches meet it (as before this check existed); what is
    not a computation (MATCH FULL), or a ``FROM`` / ``USING`` that reads a table an
    earlier data change of the file changes, is refused (plandiff F56: the batches of
    an ``UPDATE ... FROM`` committed, then one failed on a NULL, 23502)."""
    return condition.runs_under and condition.kind != "unchecked" and _READS_CHANGED not in why


def _check_change(
    checks: list[tuple[Condition, str]],
    first: Change,
    slot: Slot,
    source: str,
    recipe: str,
    label: str,
) -> Change:
    unique = {
        (condition.kind, violation): (condition, violation) for condition, violation in checks
    }
    block = check_block(list(unique.values()))
    if block is None:
        raise _refuse(checks[0][0], first, "its SQL contains the check's quote")
    return Change(source, recipe, (Step(slot, block, CHECK_NOTE),), label=label)


def check_before_expand_commits(
    changes: Sequence[Change], before: TablesBefore, deploy_may_fix: bool = True
) -> list[Change]:
    """``changes`` with a check of the rows first in the plan's first migration, when
    another change commits in an expand migration before a migration in which a
    condition can fail: the naive file fails on those rows and changes nothing, the
    plan would have committed that change (plandiff F36: ``ADD CHECK (c IS NOT NULL);
    ALTER COLUMN d TYPE varchar(40)``; F25: ``SET DEFAULT 5; ADD CHECK``).
    :class:`CannotPlan` when the condition cannot be checked there and what commits
    before it changes something that exists. With ``deploy_may_fix``, a condition the
    plan enforces after a deploy it names is left to that deploy."""
    layers = _layers(changes)
    checks: list[tuple[Condition, str]] = []
    for position, change in enumerate(changes):
        if not change.conditions or not change.steps:
            continue
        fails_in = min(max(step.slot for step in change.steps), Slot.BACKFILL_CHECK)
        earlier = [
            other
            for index, other in enumerate(changes)
            if index != position and any(step.slot < fails_in for step in other.steps)
        ]
        if not earlier:
            continue
        changing = [other for other in earlier if not _adds_only(other, fails_in)]
        # a foreign key replaced to act otherwise names its deploy point only for when
        # its new action applies (F-hostile-6): the deploy fixes no row
        if change.deploy_before and deploy_may_fix and not change.changes_old_inserts:
            # the deploy before it may make the rows right (SET NOT NULL): they cannot
            # be checked first, so nothing that exists may change before it (F48)
            if changing and any(c.kind == "not_null" for c in change.conditions):
                raise _refuse_left_to_the_deploy(change, changing[0])
            continue
        if not changing and all(c.checked_in_expand for c in change.conditions):
            continue
        for condition in change.conditions:
            violation, why = _violation(condition, position, layers, _changes_rows(change))
            tables = [(condition.schema, condition.table)]
            if condition.references is not None:
                tables.append(condition.references[:2])
            if violation and not before.can_check(tables, violation):
                violation, why = "", "it names a table or column the file creates or changes"
            if violation:
                checks.append((condition, violation))
            elif (
                changing
                and not _left_to_the_batches(condition, why)
                and not (
                    condition.checked_in_expand
                    and all(
                        _same_transaction(changes, changes.index(c), position) for c in changing
                    )
                )
            ):
                raise CannotPlan(
                    f"`{excerpt(condition.source)}` can fail in a later migration of the plan "
                    f"than the one that commits `{excerpt(changing[0].source)}` (where the "
                    "naive file would change nothing), and the planner cannot check it "
                    f"before anything commits: {why}",
                    hint="plan that statement in a file of its own, before or after this one",
                )
    if not checks:
        return list(changes)
    check = _check_change(
        checks,
        changes[0],
        Slot.EXPAND,
        "(a check: the rows satisfy what the plan enforces after it committed other changes)",
        "check rows before the plan commits",
        "check_rows",
    )
    return [check, *changes]


def _refuse_left_to_the_deploy(change: Change, committed: Change) -> CannotPlan:
    return CannotPlan(
        f"`{excerpt(change.source)}` is enforced only after the deploy (which may fill "
        f"its rows), in a later migration of the plan than the one that commits "
        f"`{excerpt(committed.source)}`; where the rows break it, the naive file would "
        "change nothing, and the planner cannot check them before anything commits "
        "(plandiff F48)",
        hint="plan that statement in a file of its own, before or after this one",
    )


def _expand_parts(changes: Sequence[Change]) -> list[int]:
    """The shared expand migration (its part) each change's expand steps go to, as
    :func:`~migrator.plan.assemble.assemble` groups them."""
    parts, part = [], 0
    for change in changes:
        part += change.starts_expand
        parts.append(part)
        part += change.ends_expand
    return parts


def _same_transaction(changes: Sequence[Change], index: int, position: int) -> bool:
    """What ``changes[index]`` commits before ``changes[position]`` can fail is in the
    expand transaction that ``changes[position]``'s own first step checks in: the
    check's failure rolls it back."""
    other, parts = changes[index], _expand_parts(changes)
    moved = any(  # a statement after a concurrent one moves to a later migration
        c.passthrough and any(s.slot is Slot.EXPAND_CONCURRENT for s in c.steps) for c in changes
    )
    return (
        not moved
        and not other.changes_old_inserts
        and parts[index] == parts[position]
        and all(s.slot is Slot.EXPAND for s in other.steps if s.slot < Slot.BACKFILL_CHECK)
    )


#: statements that only add what running code does not use yet
_ADDING_KINDS = frozenset(
    {
        "CreateStmt",
        "IndexStmt",
        "CreateSeqStmt",
        "CreateEnumStmt",
        "CompositeTypeStmt",
        "CreateDomainStmt",
        "CreateRangeStmt",
        "CreateSchemaStmt",
        "CreateTableAsStmt",
        "CommentStmt",
    }
)

#: ``ALTER TABLE`` subcommands that add (a column, a constraint) or validate
_ADDING_COMMANDS = frozenset(
    {"AT_AddColumn", "AT_AddConstraint", "AT_ValidateConstraint", "AT_AddIndexConstraint"}
)


def _adds_only(change: Change, before: Slot) -> bool:
    """The steps of ``change`` before slot ``before`` only add what running code does
    not use yet (a table, a column, an index, a constraint; the planner's own shadow
    columns, triggers and checks): left behind by a failed plan, they change nothing
    a client relies on."""
    if change.changes_old_inserts:
        return False
    planned = not change.passthrough
    for step in change.steps:
        if step.slot >= before:
            continue
        if step.statements is None:
            return False
        if not all(_adds(statement, change, planned) for statement in step.statements):
            return False
    return True


def _adds(statement: ParsedStatement, change: Change, planned: bool) -> bool:
    kind, fields = statement.kind, statement.fields
    if kind in _ADDING_KINDS:
        return True
    if kind in ("ViewStmt", "CreateFunctionStmt"):
        return not fields.get("replace")
    if kind in ("CreateTrigStmt", "DoStmt"):
        return planned  # the planner's sync triggers and checks; a file's may do anything
    if kind == "UpdateStmt":  # the planner's assignment check changes no row
        where = fields.get("whereClause") or {}
        return planned and where.get("A_Const", {}).get("boolval", None) == {}
    if kind == "AlterEnumStmt":
        return not fields.get("oldVal")  # ADD VALUE
    if kind != "AlterTableStmt":
        return False
    for item in fields.get("cmds") or ():
        subtype = item.get("AlterTableCmd", {}).get("subtype")
        if subtype == "AT_ColumnDefault" and (planned or change.default_of_new_column):
            continue  # the default of a column the file adds
        if subtype not in _ADDING_COMMANDS:
            return False
    return True
