"""A plan must not change rows and then fail where the naive file fails as a whole.

The naive file runs in one transaction: ``UPDATE a SET c = 5 WHERE id % 3 = 0; ALTER
TABLE a ALTER COLUMN c SET NOT NULL`` on rows where ``c`` stays NULL fails (23502) and
changes nothing. The plan runs the ``UPDATE`` in batches, each committed, and the NOT
NULL only in its contract phase: when that fails, the rows are changed already.

So before the first data change of the plan (an ``UPDATE`` or ``DELETE`` of the file,
or a fill of NULLs) a check migration reads the rows as the data changes will leave
them (:mod:`.row_conditions`) and fails, with the SQLSTATE the naive statement fails
with, when they break a condition the plan enforces after it or the data changes run
under: a NOT NULL, a check, a unique key the change adds. Conditions it cannot compute
beforehand (a foreign key, a type change, a data change that reads other tables or
computes volatile values) are refused with the reason.

The check sees the rows when it runs: rows the application writes afterwards that
break the condition still make the contract fail (its deploy line says what the new
code must write)."""

from __future__ import annotations

from collections.abc import Sequence

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

CHECK_NOTE = (
    "ACCESS SHARE: reads the rows as the data changes after it will leave them, changes "
    "nothing; fails (as the naive file would) when they break what the plan enforces"
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


def _refuse(condition: Condition, change: Change, why: str) -> CannotPlan:
    return CannotPlan(
        f"`{excerpt(condition.source)}` can still fail after the plan ran "
        f"`{excerpt(change.source)}` in batches (committed, where the naive file would "
        f"change nothing), and the planner cannot check it beforehand: {why}",
        hint="run the data change in a plan of its own first, check the rows, then plan the rest",
    )


def check_before_data_changes(changes: Sequence[Change]) -> list[Change]:
    """``changes`` with a check migration before the first one that changes rows, when
    a condition the plan enforces later (or the data changes run under) depends on
    them; :class:`CannotPlan` when such a condition cannot be checked beforehand."""
    changing = [i for i, change in enumerate(changes) if _changes_rows(change)]
    if not changing:
        return check_before_default_changes(changes)
    layers: dict[tuple[str, str], list[tuple[int, RowChange]]] = {}
    for i in changing:
        layer = changes[i].row_change
        assert layer is not None
        layers.setdefault((layer.schema, layer.table), []).append((i, layer))
    first = changes[changing[0]]
    checks: list[tuple[Condition, str]] = []
    for position, change in enumerate(changes):
        for condition in change.conditions:
            on_table = layers.get((condition.schema, condition.table), [])
            if not on_table and not condition.late:
                continue  # enforced in the expand phase: fails before any row changed
            if condition.kind == "unchecked":
                raise _refuse(condition, first, f"it is {condition.why}")
            for index, layer in on_table:
                why = _opaque(layer)
                if why:
                    raise _refuse(
                        condition,
                        changes[index],
                        f"the rows it leaves cannot be computed beforehand ({why})",
                    )
            # the rows when the condition comes in the file, and after each data change
            # of its table that comes later (it runs under the condition)
            states = [[layer for i, layer in on_table if i < position]] + [
                [layer for i, layer in on_table if i <= j] for j, _ in on_table if j > position
            ]
            rows = [rows_after(condition.table_sql, False, state) for state in states]
            checks.append((condition, " OR ".join(violated(condition, r) for r in rows)))
    if not checks:
        return list(changes)
    block = check_block(checks)
    if block is None:
        raise _refuse(checks[0][0], first, "its SQL contains the check's quote")
    step = Step(Slot.BACKFILL_CHECK, block, CHECK_NOTE)
    check = Change(
        "(a check: the rows, as the data changes of the file will leave them, satisfy "
        "what the plan enforces after them)",
        "check rows before data changes",
        (step,),
        label="data_changes",
    )
    return [*changes[: changing[0]], check, *changes[changing[0] :]]


def check_before_default_changes(changes: Sequence[Change]) -> list[Change]:
    """``changes`` with a check of the rows first in the expand migration, when a
    default change (committed in the expand) comes with a condition the plan enforces
    in a later migration: the naive file fails on those rows and changes nothing, the
    plan would have committed the default and inserts meanwhile get it (plandiff F25:
    ``SET DEFAULT 5; ADD CHECK (c IS NOT NULL)`` on NULL rows). :class:`CannotPlan`
    when such a condition cannot be checked beforehand."""
    defaults = [change for change in changes if change.changes_defaults]
    conditions = [condition for change in changes for condition in change.conditions]
    if not defaults or not conditions:
        return list(changes)
    checks: list[tuple[Condition, str]] = []
    for condition in conditions:
        if condition.kind == "unchecked":
            raise CannotPlan(
                f"`{excerpt(condition.source)}` can still fail after the plan committed "
                f"`{excerpt(defaults[0].source)}` (the naive file would change nothing), and "
                f"the planner cannot check it beforehand: it is {condition.why}",
                hint="change the default in a plan of its own, after this one",
            )
        checks.append((condition, violated(condition, rows_after(condition.table_sql, False, []))))
    block = check_block(checks)
    if block is None:
        raise _refuse(checks[0][0], defaults[0], "its SQL contains the check's quote")
    step = Step(Slot.EXPAND, block, CHECK_NOTE)
    check = Change(
        "(a check: the rows satisfy what the plan enforces after it changed a default)",
        "check rows before default changes",
        (step,),
        label="defaults",
    )
    return [check, *changes]
