"""Creating and dropping indexes without blocking writes."""

from __future__ import annotations

import copy
from typing import Any

from migrator.plan.facts import Deferred, SchemaFacts
from migrator.plan.model import CannotPlan, Change, NotInSchema, Slot, Step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.target import Target
from migrator.plan.row_conditions import Condition
from migrator.plan.sql_text import bounded_name, ident, literal, object_name, qualified
from migrator.sql.classify import non_transactional_reason
from migrator.sql.enums import ReindexObjectType
from migrator.sql.index_column_names import index_column_names
from migrator.sql.parse import parse_one
from migrator.sql.syntax import deparse, make

CONCURRENT_NOTE = (
    "SHARE UPDATE EXCLUSIVE: reads and writes go on; no transaction, no lock_timeout "
    "(waiting blocks no client)"
)


def index_is_valid_check(index_text: str, command: str = "migrate up") -> Step:
    """A statement that fails loudly when a concurrent build left the index INVALID
    (``IF NOT EXISTS`` would otherwise accept the broken index on a re-run);
    ``command`` is what to run again once it is dropped."""
    name = literal(index_text)
    return Step(
        Slot.EXPAND_CONCURRENT,
        "DO $$\nBEGIN\n"
        "  IF EXISTS (SELECT 1 FROM pg_index\n"
        f"             WHERE indexrelid = to_regclass({name}) AND NOT indisvalid) THEN\n"
        f"    RAISE EXCEPTION 'index % is INVALID (a concurrent build failed): run "
        f"DROP INDEX CONCURRENTLY %, then {command} again', {name}, {name};\n"
        "  END IF;\nEND\n$$",
        "reads pg_index: fails if the build above left an INVALID index",
    )


def refuse_partitioned(target: Target, what: str) -> None:
    """:class:`CannotPlan` when ``target`` is a partitioned table: PostgreSQL builds no
    index on it CONCURRENTLY (plandiff F14, F30)."""
    if target.facts is not None and target.facts.partitioned:
        raise CannotPlan(
            f"{target.sql} is a partitioned table: PostgreSQL cannot build {what} "
            "CONCURRENTLY, and the plain build blocks writes to every partition",
            hint="write it by hand: CREATE INDEX ... ON ONLY the table, CREATE INDEX "
            "CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION for each",
        )


def concurrent_index_steps(
    target: Target,
    name: str,
    body: str,
    *,
    unique: bool,
    slot: Slot = Slot.EXPAND_CONCURRENT,
    command: str = "migrate up",
) -> list[Step]:
    """``CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS`` and its validity check;
    :class:`CannotPlan` on a partitioned table (PostgreSQL refuses, 0A000)."""
    refuse_partitioned(target, "its index")
    qualified_name = target.qualify(name)
    create = (
        f"CREATE {'UNIQUE ' if unique else ''}INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} "
        f"ON {target.sql} {body}"
    )
    check = index_is_valid_check(qualified_name, command)
    return [
        Step(
            slot,
            create,
            CONCURRENT_NOTE + "; two scans of the table",
            undo=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified_name}",),
        ),
        Step(slot, check.sql, check.note),
    ]


def rebuild_index(target: Target, name: str, body: str, *, unique: bool) -> tuple[str, ...]:
    """A down's concurrent rebuild of index ``name``, checked as the up's builds are: a
    down that failed halfway left the index INVALID, and ``IF NOT EXISTS`` alone would
    keep the broken index when the down runs again."""
    steps = concurrent_index_steps(target, name, body, unique=unique, command="migrate down")
    return tuple(step.sql for step in steps)


def drop_constraint_keeping_index(
    target: Target, name: str, body: str, index: str | None = None
) -> tuple[str, ...]:
    """The down of ``ADD CONSTRAINT name UNIQUE | PRIMARY KEY USING INDEX index``: the
    unique index the expand built (``index``, by default ``name``) must stay, but
    dropping the constraint drops its index. So a copy is built concurrently first
    (writes go on, and uniqueness is enforced throughout), then the constraint is dropped
    and the copy takes the index's name. Every statement can run again after a failure."""
    copy_name = bounded_name(name, suffix="rebuilt")
    return (
        *rebuild_index(target, copy_name, body, unique=True),
        f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {ident(name)}",
        f"ALTER INDEX IF EXISTS {target.qualify(copy_name)} RENAME TO {ident(index or name)}",
    )


def index_name(target: Target, statement: Any, source: str) -> str:
    """The index's name, or the one PostgreSQL would give it (``users_email_idx``, then
    ``users_email_idx1`` when that is taken; ``_idx`` for a unique index too; the
    ``INCLUDE`` columns and what an expression calls are in it): the plan's ``IF NOT
    EXISTS`` must not meet another index under that name (finding F-hostile-1)."""
    if statement.idxname:
        return str(statement.idxname)
    parsed = parse_one(source)
    fields = parsed[1] if parsed is not None and parsed[0] == "IndexStmt" else {}
    columns = index_column_names(
        fields.get("indexParams") or (), fields.get("indexIncludingParams") or ()
    )
    return target.default_name(columns, "idx", relation=True, constraint=False)


def create_index(statement: Any, target: Target, source: str) -> Change:
    """``CREATE INDEX`` -> ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` in a migration of
    its own, outside a transaction, followed by a validity check. An index that takes
    the name of one the change drops is built under another name and renamed in the
    contract phase, once the old one is gone (:func:`_take_dropped_name`)."""
    label = f"index_{target.name}"
    _require_columns(target, statement)
    name = index_name(target, statement, source)
    replaces = _name_dropped_later(target, name)
    if not statement.idxname and not replaces:
        target.claim(name, "index")  # not a name the plan made up for another index
    if statement.concurrent and not replaces:
        return pass_through(source, transactional=False, label=label)
    if target.facts is not None and target.facts.created_in_change:
        return pass_through(
            source, label=label, undo=(f"DROP INDEX IF EXISTS {target.qualify(name)}",)
        )
    refuse_partitioned(target, "its index")
    body = _index_body(statement)
    unique = bool(statement.unique)
    if replaces:
        return _take_dropped_name(target, name, body, unique=unique, source=source)
    return Change(
        source,
        "create index concurrently",
        tuple(concurrent_index_steps(target, name, body, unique=unique)),
        label=f"index_{name}",
        conditions=_unique_condition(statement, target, source) if unique else (),
    )


def _unique_condition(statement: Any, target: Target, source: str) -> tuple[Condition, ...]:
    """A unique index's condition on the rows: equal keys (of plain columns, without a
    ``WHERE``) are checked beforehand; others cannot be."""
    columns = [element.name for element in statement.indexParams or ()]
    plain = all(columns) and statement.whereClause is None and not statement.nulls_not_distinct
    condition = (
        target.condition("unique", source, tuple(columns), late=False)
        if plain
        else target.condition(
            "unchecked", source, why="a unique index on expressions or part of the rows"
        )
    )
    return (condition,) if condition is not None else ()


def _require_columns(target: Target, statement: Any) -> None:
    """:class:`NotInSchema` for an indexed column the change drops earlier (the plan
    keeps it until the contract, so the index would be built on it and vanish with it).
    A column the replay does not know is left to PostgreSQL: migrations can add columns
    where the replay cannot see (dynamic SQL in a function, sourcegraph's tenant_id)."""
    facts = target.facts
    if facts is None:
        return
    for element in statement.indexParams or ():
        column = element.name
        if column and column not in facts.columns and column in facts.deferred.columns:
            raise NotInSchema(
                f"column {ident(column)} of {target.sql} is dropped earlier in the change, "
                "so the index cannot be built on it",
                hint="leave the column out of the index, or keep the column",
            )


def _name_dropped_later(target: Target, name: str) -> bool:
    """``name`` belongs to an index or constraint the change drops, which the plan
    keeps until the contract phase: of this table, or an index of another table of the
    schema (index names are schema-wide: ``DROP INDEX x; CREATE INDEX x ON other``)."""
    if target.facts is not None and name in target.facts.deferred.names:
        return True
    schema = target.schema or (target.facts.schema if target.facts else None)
    return target.schema_facts is not None and target.schema_facts.name_held(schema, name)


def _index_body(statement: Any) -> str:
    """What follows ``ON table`` in the index's definition (``USING btree (email)
    WHERE ...``)."""
    body_statement = copy.deepcopy(statement)
    body_statement.idxname = "i"
    body_statement.relation.schemaname = None
    body_statement.relation.relname = "t"
    body_statement.concurrent = False
    body_statement.if_not_exists = False
    body_statement.unique = False
    text = deparse(body_statement)
    return text[text.index(" ON t ") + len(" ON t ") :]


def _take_dropped_name(
    target: Target, name: str, body: str, *, unique: bool, source: str
) -> Change:
    """lemmy's ``DROP INDEX idx_x; CREATE INDEX idx_x ON t (new columns)``: the new index
    is built concurrently as ``idx_x_new`` in the expand phase (both serve queries until
    the contract), and takes the name in the contract phase, right after the old one is
    dropped concurrently. Renaming an index takes SHARE UPDATE EXCLUSIVE (PostgreSQL
    12+): reads and writes go on."""
    temporary = bounded_name(name, suffix="new")
    taken = {index.name for index in target.facts.indexes} if target.facts else set()
    if temporary in taken:
        raise CannotPlan(
            f"the index {qualified(None, name)} on {target.sql} takes the name of one the "
            f"change drops, and {temporary}, the name it would be built under until then, "
            "is taken too",
            hint="give the new index another name",
        )
    target.claim(temporary, "index")
    rename = Step(
        Slot.CONTRACT_SWAP,
        f"ALTER INDEX IF EXISTS {target.qualify(temporary)} RENAME TO {ident(name)}",
        "SHARE UPDATE EXCLUSIVE on the index for a moment (PostgreSQL 12+): reads and writes go on",
        undo=(f"ALTER INDEX IF EXISTS {target.qualify(name)} RENAME TO {ident(temporary)}",),
    )
    return Change(
        source,
        "create index concurrently under another name, then rename",
        (*concurrent_index_steps(target, temporary, body, unique=unique), rename),
        label=f"index_{name}",
    )


def drop_index(statement: Any, facts: SchemaFacts, source: str) -> Change:
    """``DROP INDEX`` -> ``DROP INDEX CONCURRENTLY IF EXISTS``, one index per statement,
    in the contract phase; the down file rebuilds it concurrently when its definition
    is known."""
    if statement.concurrent:
        return pass_through(source, transactional=False, label="drop_index")
    if statement.behavior and int(statement.behavior) != 0:
        raise CannotPlan(
            "DROP INDEX ... CASCADE cannot run CONCURRENTLY",
            hint="drop what depends on the index first",
        )
    steps = []
    deferred = []
    label = "drop_index"
    for names in statement.objects:
        schema, name = object_name(names)
        label = f"drop_{name}"
        found = facts.index(schema, name)
        if found is None and not statement.missing_ok:
            raise NotInSchema(
                f"index {qualified(schema, name)} is not created by any earlier migration",
                hint="check the name; for an index made outside the migrations, write DROP "
                "INDEX CONCURRENTLY IF EXISTS yourself (it passes through as written)",
            )
        undo: tuple[str, ...] | None = None
        if found is not None:
            table, index = found
            if index.constraint is not None:
                raise CannotPlan(
                    f"index {qualified(schema, name)} belongs to constraint {index.constraint} "
                    f"of {table.schema}.{table.name}",
                    hint="drop the constraint instead (ALTER TABLE ... DROP CONSTRAINT)",
                )
            if index.body_sql:
                target = Target(schema, table.name, table)
                undo = rebuild_index(target, name, index.body_sql, unique=index.unique)
            deferred.append(Deferred(table.schema, table.name, names=frozenset({name})))
        steps.append(
            Step(
                Slot.CONTRACT_DROP_INDEXES,
                f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}",
                CONCURRENT_NOTE,
                undo=undo,
            )
        )
    return Change(
        source,
        "drop index concurrently",
        tuple(steps),
        {"contract": "application code whose queries no longer need the index"},
        label,
        deferred=tuple(deferred),
    )


def reindex_concurrently(statement: Any, source: str) -> Change:
    """``REINDEX INDEX | TABLE x`` -> ``REINDEX ... CONCURRENTLY x`` (PostgreSQL 12+) in a
    no-transaction migration: the rebuild blocks no reads or writes. A schema, database
    or system catalog passes through as written (PostgreSQL refuses them concurrently;
    the linter says what to do)."""
    kinds = {
        ReindexObjectType.REINDEX_OBJECT_INDEX: "INDEX",
        ReindexObjectType.REINDEX_OBJECT_TABLE: "TABLE",
    }
    what = kinds.get(statement.kind)
    relation = statement.relation
    options = {str(option.defname).lower() for option in statement.params or ()}
    system = relation is not None and (
        relation.schemaname == "pg_catalog" or str(relation.relname).startswith("pg_")
    )
    if what is None or relation is None or "concurrently" in options or system:
        return pass_through(
            source, transactional=non_transactional_reason(source) is None, label="reindex"
        )
    name = qualified(relation.schemaname, relation.relname)
    if statement.params:  # (VERBOSE, TABLESPACE x): kept, CONCURRENTLY added to them
        concurrent = copy.deepcopy(statement)
        concurrent.params = (*statement.params, make("DefElem", defname="concurrently"))
        sql = deparse(concurrent)
    else:
        sql = f"REINDEX {what} CONCURRENTLY {name}"
    return Change(
        source,
        "reindex concurrently",
        (
            Step(
                Slot.EXPAND_CONCURRENT,
                sql,
                CONCURRENT_NOTE + "; a failed rebuild leaves an INVALID index named "
                "<index>_ccnew: drop it before running again",
                undo=(),
            ),
        ),
        label=f"reindex_{relation.relname}",
    )
