"""``UPDATE`` of an existing table: one statement that would lock every row it touches
until the migration commits becomes a batched backfill, walked by key range in short
transactions (``-- migrate:backfill``), as `unbatched-backfill` advises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pglast import ast

from migrator.plan.model import Change
from migrator.plan.recipes.backfill import backfill_step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import deparse, ident


def batchable(statement: Any) -> bool:
    """A plain ``UPDATE t SET col = expr, ... [WHERE ...]``: no ``FROM``, ``RETURNING``,
    ``WITH``, alias or multi-column assignment, so that it can be rewritten into key
    ranges as written."""
    return (
        isinstance(statement, ast.UpdateStmt)
        and not statement.fromClause
        and statement.returningClause is None
        and statement.withClause is None
        and statement.relation is not None
        and statement.relation.alias is None
        and all(
            isinstance(item, ast.ResTarget)
            and not item.indirection
            and not isinstance(item.val, ast.MultiAssignRef)
            for item in statement.targetList or ()
        )
    )


def batched_update(statement: Any, text: str, target: Target, options: PlanOptions) -> Change:
    """The ``UPDATE`` as a backfill migration: ``WHERE key BETWEEN $1 AND $2 AND
    (its own condition)``, one batch per transaction, resumable."""
    label = f"backfill_{statement.relation.relname}"
    if not batchable(statement) or (target.facts is not None and target.facts.created_in_change):
        return pass_through(text, label=label)
    assignments = ", ".join(
        f"{ident(item.name)} = {deparse(item.val)}" for item in statement.targetList
    )
    condition = deparse(statement.whereClause) if statement.whereClause is not None else "true"
    step = backfill_step(target, assignments, condition, options, "run this UPDATE")
    step = replace(step, undo=None)  # the values it overwrites are gone: up-only
    return Change(
        text,
        "batched backfill",
        (step,),
        label=label,
        warnings=(
            "each batch runs the UPDATE on one key range, in its own transaction: rows "
            "the application changes meanwhile are updated by the batch that reaches them",
        ),
    )
