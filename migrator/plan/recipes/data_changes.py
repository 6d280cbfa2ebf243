"""``UPDATE`` of an existing table: one statement that would lock every row it touches
until the migration commits becomes a batched backfill, walked by key range in short
transactions (``-- migrate:backfill``), as `unbatched-backfill` advises."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from migrator.plan.model import Change
from migrator.plan.recipes.backfill import backfill_step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import deparse, ident
from migrator.sql.classify import batchable_update, statement_node


def batched_update(statement: Any, text: str, target: Target, options: PlanOptions) -> Change:
    """The ``UPDATE`` as a backfill migration: ``WHERE key BETWEEN $1 AND $2 AND
    (its own condition)``, one batch per transaction, resumable."""
    label = f"backfill_{statement.relation.relname}"
    parsed = statement_node(text)
    batchable = parsed is not None and batchable_update(*parsed)
    facts = target.facts
    if not batchable or (facts is not None and (facts.created_in_change or facts.system)):
        return pass_through(text, label=label)  # no rows yet, or a catalog's few rows
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
