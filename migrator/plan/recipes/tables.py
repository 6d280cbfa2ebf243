"""Dropping a table: only in the contract phase, after the deploy of code that no longer
uses it (pgroll's ``drop_table`` completes the same way)."""

from __future__ import annotations

from typing import Any

from migrator.plan.facts import Deferred, SchemaFacts
from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.sql_text import object_name, qualified
from migrator.sql.enums import ObjectType
from migrator.sql.names import QualifiedName

DROP_TABLE_REASON = (
    "contract phase: runs after the deploy that stopped using the table (docs/planner.md)"
)

DROP_VIEW_REASON = (
    "contract phase: runs after the deploy that stopped reading the view (docs/planner.md)"
)


def drop_table(statement: Any, facts: SchemaFacts, source: str) -> Change:
    """``DROP TABLE`` of existing tables -> the same statement in a contract migration of
    its own (one short transaction under lock_timeout), gated by the deploy of code that
    no longer reads or writes them. Irreversible: the data is gone. A table created
    earlier in the change holds no rows and no reader: it passes through."""
    cascade = bool(statement.behavior) and int(statement.behavior) != 0
    names = []
    deferred = []
    named = [object_name(items) for items in statement.objects]
    tables = [facts.table(schema, name) for schema, name in named]
    dropped_together = {(t.schema, t.name) for t in tables if t is not None}
    for (schema, name), table in zip(named, tables, strict=True):
        if table is not None and table.created_in_change:
            continue
        if table is not None and not cascade:
            referencing = sorted(
                f"{other_schema}.{other}.{fk.name}"
                for other_schema, other, fk in table.incoming_foreign_keys
                if (other_schema, other) not in dropped_together
            )
            if referencing:
                raise CannotPlan(
                    f"table {qualified(schema, name)} is referenced by foreign keys "
                    f"({', '.join(referencing)}); dropping it needs CASCADE, which drops them",
                    hint="drop those foreign keys first, or write CASCADE if that is meant",
                )
        if table is not None and not cascade:
            _refuse_dropping_what_views_read(facts, [(table.schema, table.name)], "table")
            _refuse_dropping_what_depends_on(facts, table.schema, table.name, dropped_together)
        names.append(qualified(schema, name))
        if table is not None:
            schema, name = table.schema, table.name
        deferred.append(Deferred(schema or facts.default_schema(), name, dropped=True))
    if not names:
        return pass_through(source, label="drop_table")
    step = Step(
        Slot.CONTRACT_SWAP,
        source,
        "ACCESS EXCLUSIVE for a moment: catalog only; the table and its data are gone",
        undo=None,
        lint_ignore=("drop-table", DROP_TABLE_REASON),
    )
    return Change(
        source,
        "drop table",
        (step,),
        {
            "contract": f"application code (and every other reader) that no longer uses "
            f"{', '.join(names)}"
        },
        f"drop_{deferred[0].table}",
        deferred=tuple(deferred),
    )


def _refuse_dropping_what_views_read(
    facts: SchemaFacts, dropped: list[tuple[str, str]], what: str
) -> None:
    """A table or view a view (or materialized view) reads that the statement does not
    drop too: the naive ``DROP`` fails (2BP01), and the plan's, in its contract phase,
    fails after the earlier phases committed (plandiff F49: a batched ``DELETE`` before
    it had removed rows, exit 0 until the contract; the same for a view another view
    reads)."""
    together = {
        f"{kind} {QualifiedName(schema, name)}"
        for schema, name in dropped
        for kind in ("view", "materialized view")
    }
    for schema, name in dropped:
        readers = [r for r in facts.table_dependents(schema, name) if r not in together]
        if readers:
            raise CannotPlan(
                f"{what} {qualified(schema, name)} is read by {', '.join(readers)}: dropping "
                f"it needs CASCADE (the naive DROP {what.upper()} fails with 2BP01), and the "
                "plan drops it only in its contract phase, after the rest of the change "
                "committed",
                hint="drop what reads it first (earlier in the file), or write CASCADE if that "
                "is meant",
            )


def _refuse_dropping_what_depends_on(
    facts: SchemaFacts, schema: str, name: str, dropped_together: set[tuple[str, str]]
) -> None:
    """A table other tables inherit from (``INHERITS``), or that owns a sequence (a
    serial column's) another table's default takes values from, which ``DROP TABLE``
    drops with it: the naive statement fails (2BP01), and the plan's, in its contract
    phase, after the rest of the change committed. A partition detached from the table keeps
    the copy of its serial default (plandiff F54: ``DETACH PARTITION b_p1; DROP TABLE
    b`` left b_p1 detached); a partition still attached is dropped with the table."""
    catalog = facts.catalog
    if catalog is None:
        return
    dropped = {QualifiedName(*pair) for pair in dropped_together}
    dropped |= {p for table in list(dropped) for p in catalog.partitions(table)}
    children = sorted(
        str(child)
        for child in catalog.children(QualifiedName(schema, name))
        if child not in dropped
    )
    if children:
        raise CannotPlan(
            f"table {qualified(schema, name)} is inherited by {', '.join(children)}: "
            "dropping it needs CASCADE, which drops them too (the naive DROP TABLE fails "
            "with 2BP01), and the plan drops it only in its contract phase, after the rest "
            "of the change committed",
            hint="drop those tables in the same statement, or ALTER TABLE ... NO INHERIT "
            "them first, or write CASCADE if that is meant",
        )
    users = sorted(
        f"{table}.{column} ({sequence})"
        for sequence in catalog.owned_sequences(QualifiedName(schema, name))
        for table, column in catalog.default_users(sequence)
        if table not in dropped
    )
    if users:
        raise CannotPlan(
            f"table {qualified(schema, name)} owns a sequence the default of "
            f"{', '.join(users)} takes values from: dropping the table drops the sequence, "
            "so it needs CASCADE (the naive DROP TABLE fails with 2BP01), and the plan drops "
            "it only in its contract phase, after the rest of the change committed",
            hint="drop or change that default first (ALTER TABLE ... ALTER COLUMN ... DROP "
            "DEFAULT, or ALTER SEQUENCE ... OWNED BY the column that keeps it), or write "
            "CASCADE if that is meant",
        )


def drop_view(
    statement: Any, facts: SchemaFacts, source: str, created_again: frozenset[tuple[str, str]]
) -> Change:
    """``DROP VIEW`` / ``DROP MATERIALIZED VIEW`` of existing views -> like a table: the
    same statement in a contract migration, gated by the deploy of code that no longer
    reads them (with ``CASCADE``, nor the views that depend on them: they go in the same
    statement). Views created earlier in the change, or created again by a later
    statement (``DROP VIEW v; CREATE VIEW v AS ...``: old clients see the old view or
    the new one, never none), pass through as written."""
    named = [object_name(items) for items in statement.objects]
    existing = []
    for schema, name in named:
        view = facts.table(schema, name)
        if view is None or view.created_in_change:
            continue
        if (view.schema, view.name) in created_again:
            return pass_through(source, label="drop_view")
        existing.append((view.schema, view.name))
    if not existing:
        return pass_through(source, label="drop_view")
    cascade = bool(statement.behavior) and int(statement.behavior) != 0
    if not cascade:
        kind = "materialized view" if statement.removeType == ObjectType.OBJECT_MATVIEW else "view"
        _refuse_dropping_what_views_read(facts, existing, kind)
    names = ", ".join(qualified(None, name) for _, name in existing)
    readers = f"{names} (and the views that depend on it)" if cascade else names
    step = Step(
        Slot.CONTRACT_SWAP,
        source,
        "ACCESS EXCLUSIVE for a moment: catalog only",
        undo=None,
        lint_ignore=("drop-table", DROP_VIEW_REASON),
    )
    return Change(
        source,
        "drop view",
        (step,),
        {"contract": f"application code (and every other reader) that no longer reads {readers}"},
        f"drop_{existing[0][1]}",
    )
