"""The backfill step of a recipe: one ``UPDATE`` walked by key range."""

from __future__ import annotations

from migrator.plan.facts import TableFacts
from migrator.plan.model import CannotPlan, Slot, Step
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import ident
from migrator.source.backfill import BackfillSpec


def backfill_step(
    target: Target, assignments: str, still_needed: str, options: PlanOptions, what: str
) -> Step:
    """``UPDATE target SET assignments WHERE key BETWEEN $1 AND $2 AND (still_needed)``.

    ``still_needed`` selects only rows the backfill has not fixed yet, so a batch run
    twice changes nothing (resumable, and safe beside the application's own writes).
    """
    return batched_step(
        target, f"UPDATE {target.sql} SET {assignments}", still_needed, options, what
    )


def batched_step(
    target: Target,
    head: str,
    still_needed: str,
    options: PlanOptions,
    what: str,
    *,
    key_of: str | None = None,
    sets: frozenset[str] = frozenset(),
    nulled: frozenset[str] = frozenset(),
) -> Step:
    """``head WHERE key BETWEEN $1 AND $2 AND (still_needed)``: ``head`` is an ``UPDATE
    ... SET ... [FROM ...]`` or ``DELETE FROM ... [USING ...]`` of ``target``; the key
    is qualified by ``key_of`` (the table's alias or name) when other tables join.
    :class:`CannotPlan` when the ``UPDATE`` ``sets`` the key (finding F-hostile-2), or a
    column of a unique key to anything but NULL (``nulled``: the columns it sets to the
    NULL constant)."""
    facts = target.require(f"to {what} in batches")
    key = facts.backfill_key()
    if key is not None and key in sets:
        raise CannotPlan(
            f"cannot {what} in batches: it sets {ident(key)}, the key of {target.sql} the "
            "batches walk, so a row moved past its batch's range would be reached again by a "
            "later batch and updated twice; walking another unique column instead would move "
            "the keys batch by batch, and a key moved onto one a later batch has not moved "
            "yet fails (23505) after the earlier batches committed",
            hint="change the key in a migration of its own (written by hand, while the table "
            "is small or in a maintenance window), or leave the key out of this UPDATE",
        )
    unique = _unique_keys_set(facts, sets, nulled)
    if unique:
        raise CannotPlan(
            f"cannot {what} in batches: it sets {', '.join(map(ident, unique[1]))}, a "
            f"column of the unique key {ident(unique[0])} of {target.sql}, and the batches "
            "commit one by one: a value moved onto one that a row of a later batch still "
            "holds fails (23505) after the earlier batches committed, where the one "
            "statement changes nothing (or succeeds, depending on the order it reaches "
            "the rows)",
            hint="run this UPDATE as written, in a migration of its own (it locks the rows "
            "for its whole run: while the table is small or in a maintenance window)",
        )
    if key is None:
        raise CannotPlan(
            f"cannot {what} in batches: {target.sql} has no single-column primary key or "
            "unique NOT NULL column to walk",
            hint="add a primary key first (migrate plan can plan that too), or write the "
            "backfill by hand",
        )
    column = f"{ident(key_of)}.{ident(key)}" if key_of else ident(key)
    statement = f"{head}\nWHERE {column} BETWEEN $1 AND $2 AND ({still_needed})"
    spec = BackfillSpec(
        table=target.name,
        key=key,
        schema=target.schema,
        batch_size=options.batch_size,
        pause_ms=options.pause_ms,
        statement=statement,
    )
    return Step(
        Slot.BACKFILL,
        statement,
        f"row locks on one batch of {options.batch_size} rows at a time, each batch its own "
        "short transaction",
        backfill=spec,
    )


def _unique_keys_set(
    facts: TableFacts, sets: frozenset[str], nulled: frozenset[str]
) -> tuple[str, list[str]] | None:
    """The first unique key (primary key, unique or exclusion constraint, unique index,
    also on expressions or part of the rows) whose columns ``sets`` changes, and those
    columns: a batch can move a value onto another row's that a later batch would have
    moved away (brief item 2; the rows check before the batches proves only the end
    state unique). A plain key column set to NULL (``nulled``) moves onto nothing where
    NULLs are distinct (the default): not counted (finding F-hostile-11, pocket-id's
    ``UPDATE users SET ldap_id = NULL WHERE ldap_id = ''``)."""
    for constraint in facts.constraints:
        if constraint.kind in ("primary", "unique", "exclusion"):
            distinct = constraint.kind == "unique" and _nulls_distinct(constraint.definition_sql)
            changed = sorted(set(constraint.columns) & (sets - nulled if distinct else sets))
            if changed:
                return constraint.name, changed
    for index in facts.indexes:
        if index.constraint is not None:
            continue  # the constraint's, judged above
        distinct = None not in index.columns and _nulls_distinct(index.body_sql)
        plain = {c for c in index.columns if c is not None}
        changed = sorted(index.mentions & (sets - (nulled & plain) if distinct else sets))
        if index.unique and changed:
            return index.name, changed
    return None


def _nulls_distinct(definition: str) -> bool:
    return "NULLS NOT DISTINCT" not in definition.upper()
