"""Renaming a column (through a second column kept in sync) or a table (behind a view
under the old name), so old and new application code run side by side."""

from __future__ import annotations

from dataclasses import replace

from migrator.plan.facts import Deferred
from migrator.plan.model import CannotPlan, Change, Slot, Step, lint_ignored
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.shadow_column import Shadow, shadow_column_change
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import ident


def rename_column(old: str, new: str, target: Target, options: PlanOptions) -> Change:
    source = f"ALTER TABLE {target.sql} RENAME COLUMN {ident(old)} TO {ident(new)}"
    label = f"rename_{target.name}_{old}"
    facts = target.require("to rename the column in phases")
    if facts.created_in_change:
        return pass_through(source, label=label)
    if new in facts.deferred.columns:
        raise CannotPlan(
            f"{target.sql}.{ident(new)} is dropped earlier in the change, but the plan drops "
            "it only in the contract phase; renaming a column to its name needs the name "
            "before that",
            hint="plan the rename in a change of its own, after the contract phase ran",
        )
    fact = facts.column(old)
    type_sql = fact.type_sql if fact is not None else ""
    change = shadow_column_change(
        target,
        Shadow(old, new, type_sql, ident(old), new, both_directions=True),
        options,
        source=source,
        recipe="rename column",
        label=label,
        deploy_before={
            "contract": f"application code that reads and writes {ident(new)} instead of "
            f"{ident(old)} (every running instance; until then the trigger keeps both equal)"
        },
    )
    # the old column is dropped only in the contract phase: its name is taken until then
    kept = Deferred(facts.schema, facts.name, columns=frozenset({old}))
    return replace(change, deferred=(*change.deferred, kept))


def rename_table(old: str, new: str, target: Target) -> Change:
    source = f"ALTER TABLE {target.sql} RENAME TO {ident(new)}"
    label = f"rename_{old}"
    if target.facts is not None and target.facts.created_in_change:
        return pass_through(source, label=label)
    schema = target.schema or (target.facts.schema if target.facts else None)
    if target.schema_facts is not None and target.schema_facts.dropped_later(schema, new):
        raise CannotPlan(
            f"{target.qualify(new)} is dropped earlier in the change, but the plan drops it "
            "only in the contract phase; renaming a table to its name needs the name before "
            "that",
            hint="plan the rename in a change of its own, after the contract phase ran",
        )
    new_sql = target.qualify(new)
    view = f"CREATE VIEW {target.sql} AS SELECT * FROM {new_sql}"
    steps = (
        Step(
            Slot.EXPAND,
            source,
            "ACCESS EXCLUSIVE for a moment: catalog only",
            undo=(
                lint_ignored(
                    f"ALTER TABLE {new_sql} RENAME TO {ident(old)}",
                    "rename-table",
                    "the down of the planned rename: old code used this name all along",
                ),
            ),
        ),
        Step(
            Slot.EXPAND,
            view,
            "catalog only; a simple view is updatable, so old code keeps reading and writing "
            "through it (same transaction as the rename: no query sees neither name)",
            undo=(f"DROP VIEW IF EXISTS {target.sql}",),
        ),
        Step(
            Slot.CONTRACT_SWAP,
            f"DROP VIEW IF EXISTS {target.sql}",
            "ACCESS EXCLUSIVE on the view for a moment",
            undo=(view,),
            lint_ignore=(
                "drop-table",
                "the planned rename's compatibility view: deployed code uses the new name",
            ),
        ),
    )
    facts = target.facts
    viewed = (Deferred(facts.schema, new, viewed_as=old),) if facts is not None else ()
    return Change(
        source,
        "rename table",
        steps,
        {"contract": f"application code that uses {new_sql} instead of {target.sql}"},
        label,
        (
            f"columns added to {new_sql} later do not appear in the view {target.sql}; "
            "contract soon",
        ),
        deferred=viewed,
    )
