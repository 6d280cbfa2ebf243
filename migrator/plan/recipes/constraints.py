"""Adding constraints without a long lock: NOT VALID then VALIDATE for foreign keys
and checks; a concurrent unique index then ``USING INDEX`` for unique and primary keys.
Dropping a unique or primary key waits for the contract phase: old code may rely on it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from migrator.plan.facts import ConstraintFact, Deferred, TableFacts
from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.indexes import (
    concurrent_index_steps,
    drop_constraint_keeping_index,
    rebuild_index,
)
from migrator.plan.recipes.not_null import enforce_not_null
from migrator.plan.recipes.target import Target
from migrator.plan.recipes.validation import VALIDATE_NOTE, validate_step
from migrator.plan.row_conditions import Condition
from migrator.plan.sql_text import bounded_name, ident, mentioned_columns, qualified
from migrator.sql.enums import ConstrType
from migrator.sql.index_column_names import index_column_names
from migrator.sql.syntax import deparse

#: constraints built from a unique index (built concurrently, then ``USING INDEX``)
_KEYS = (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY)


def constraint_name(target: Target, constraint: Any) -> str:
    """The constraint's name, or the one PostgreSQL would give it (numbered on a clash
    with a constraint of the table, and for a key with a relation of the schema, as the
    replay names it: finding F-hostile-1)."""
    if constraint.conname:
        return str(constraint.conname)
    kind = constraint.contype
    key = kind in _KEYS or kind == ConstrType.CONSTR_EXCLUSION
    if kind == ConstrType.CONSTR_PRIMARY:
        columns: list[str] = []
        suffix = "pkey"
    elif kind == ConstrType.CONSTR_FOREIGN:
        columns, suffix = [a.sval for a in constraint.fk_attrs], "fkey"
    elif kind == ConstrType.CONSTR_UNIQUE:
        keys = [k.sval for k in (*constraint.keys, *(constraint.including or ()))]
        columns, suffix = list(index_column_names({"name": k} for k in keys)), "key"
    elif kind == ConstrType.CONSTR_EXCLUSION:  # an expression is "expr" here
        elements = [{"name": pair[0].name} for pair in constraint.exclusions or ()]
        columns, suffix = list(index_column_names(elements)), "excl"
    else:
        read = mentioned_columns(constraint.raw_expr)
        columns, suffix = (read if len(read) == 1 else []), "check"
    return target.default_name(columns, suffix, relation=key, constraint=True)


def _definition(constraint: Any) -> str:
    """The constraint without its name and NOT VALID (``CHECK (x > 0)``)."""
    bare = copy.deepcopy(constraint)
    bare.conname = None
    bare.skip_validation = False
    bare.initially_valid = True
    return deparse(bare)


def add_constraint(constraint: Any, target: Target, source: str) -> Change:
    """``ADD CONSTRAINT`` of any kind: dispatch to its recipe."""
    kind = constraint.contype
    name = constraint_name(target, constraint)
    label = f"{target.name}_{name}"
    created_here = target.facts is not None and target.facts.created_in_change
    if kind == ConstrType.CONSTR_EXCLUSION:
        if created_here:
            return pass_through(source, label=label)
        raise CannotPlan(
            f"an exclusion constraint on {target.sql} cannot be added safely: it has no NOT "
            "VALID or USING INDEX form, so it builds its index and scans the table under "
            "ACCESS EXCLUSIVE",
            hint="add it while the table is small or in a maintenance window, with "
            "-- migrate:lint-ignore and a reason",
        )
    if not created_here and (constraint.indexname or kind not in _KEYS):
        target.refuse_taken_name(name, "constraint")  # a key's index can take another
    if created_here or constraint.skip_validation or constraint.indexname:
        return pass_through(
            source,
            label=label,
            undo=(f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {ident(name)}",),
        )
    if kind in (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK):
        return _not_valid_then_validate(constraint, target, source, name, label)
    if kind in _KEYS:
        return _unique_using_index(constraint, target, source, name, label)
    return pass_through(source, label=label)


def _not_valid_then_validate(
    constraint: Any, target: Target, source: str, name: str, label: str
) -> Change:
    steps: list[Step] = []
    foreign = constraint.contype == ConstrType.CONSTR_FOREIGN
    slot = Slot.EXPAND
    acts_otherwise = False  # it replaces a dropped foreign key that acts otherwise
    if foreign and target.facts is not None and target.facts.partitioned:
        raise CannotPlan(
            f"{target.sql} is a partitioned table: PostgreSQL cannot add a foreign key to it "
            "NOT VALID (to validate later without blocking writes), and the plain ADD "
            "CONSTRAINT checks every partition's rows while it blocks writes to the table",
            hint="add it while the table is small or in a maintenance window (an index on "
            "the referencing columns first: CREATE INDEX ... ON ONLY the table, CONCURRENTLY "
            "on each partition, ATTACH PARTITION), with -- migrate:lint-ignore and a reason",
        )
    if foreign and target.schema_facts is not None:
        referenced = constraint.pktable
        facts = target.schema_facts.table(referenced.schemaname, referenced.relname)
        if facts is not None and facts.partitioned:
            raise CannotPlan(
                f"{target.sql}'s new foreign key references {facts.name}, a partitioned "
                "table: PostgreSQL 15 validates such a key added NOT VALID only on the "
                "parent, its per-partition constraints stay NOT VALID (the schema then "
                "differs from the naive file's), and the plain ADD CONSTRAINT checks every "
                "row while it blocks writes",
                hint="add it while the table is small or in a maintenance window, with "
                "-- migrate:lint-ignore and a reason",
            )
    if foreign:
        columns = tuple(a.sval for a in constraint.fk_attrs)
        # a foreign key that replaces one the change dropped (a new ON DELETE action)
        # goes in NOT VALID in the same transaction as the drop: built after an index,
        # it left the table without any foreign key meanwhile (finding F-hostile-6)
        dropped = (
            target.schema_facts.dropped_foreign_key(target.facts.schema, target.facts.name, columns)
            if target.facts is not None and target.schema_facts is not None
            else None
        )
        replaces = dropped is not None
        # one that acts otherwise (ON DELETE / ON UPDATE, MATCH, DEFERRABLE) changes
        # what running code's deletes and writes do from the moment it commits, as a
        # default change does: committed last before the deploy point, VALIDATE after
        # it, or refused (F29's rule; finding F-hostile-6, old clients deleting parents)
        acts_otherwise = dropped is not None and _behaviour(dropped) != _behaviour(constraint)
        if not replaces and (
            target.facts is None or not target.facts.has_index_leading_with(columns)
        ):
            index = target.default_name(columns, "idx", relation=True, constraint=False)
            target.claim(index, "index")
            body = "(" + ", ".join(ident(c) for c in columns) + ")"
            steps += concurrent_index_steps(target, index, body, unique=False)
            slot = Slot.EXPAND_LATE  # after the index: it serves the validation
    steps.append(
        Step(
            slot,
            f"ALTER TABLE {target.sql} ADD CONSTRAINT {ident(name)} {_definition(constraint)} "
            "NOT VALID",
            (
                "SHARE ROW EXCLUSIVE on both tables for a moment: NOT VALID skips the scan"
                if foreign
                else "ACCESS EXCLUSIVE for a moment: NOT VALID skips the scan"
            )
            + "; new and updated rows are checked from now on",
            undo=(f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {ident(name)}",),
        )
    )
    steps.append(
        validate_step(
            target,
            name,
            _definition(constraint),
            VALIDATE_NOTE + (" (ROW SHARE on the referenced table)" if foreign else ""),
        )
    )
    what = "rows without a parent row (orphans)" if foreign else "rows that violate the check"
    if foreign:
        condition = _foreign_key_condition(constraint, target, source)
    else:
        condition = target.condition("check", source, expression=deparse(constraint.raw_expr))
    return Change(
        source,
        "add foreign key" if foreign else "add check",
        tuple(steps),
        {"backfill": _MOMENT_DEPLOY.format(ident(name))} if acts_otherwise else {},
        label,
        (
            f"existing {what} must be fixed before the contract phase: VALIDATE fails while "
            "any is left",
        ),
        conditions=(condition,) if condition is not None else (),
        changes_defaults=acts_otherwise,
    )


_MOMENT_DEPLOY = (
    "the code version the change file is for: foreign key {} acts as the file defines it "
    "from the expand migration that replaces it on (the naive file's moment)"
)


def _behaviour(constraint: Any) -> tuple[object, ...]:
    """What a foreign key does to running code's writes beyond checking them: its
    actions, MATCH type and deferral (a parse tree, or its JSON form from the catalog)."""

    def field(name: str) -> Any:
        if isinstance(constraint, Mapping):
            return constraint.get(name)
        return getattr(constraint, name, None)

    set_columns = tuple(
        (item.get("String") or {}).get("sval") if isinstance(item, Mapping) else item.sval
        for item in field("fk_del_set_cols") or ()
    )
    return (
        field("fk_del_action") or "a",
        field("fk_upd_action") or "a",
        field("fk_matchtype") or "s",
        bool(field("deferrable")),
        bool(field("initdeferred")),
        set_columns,
    )


def _foreign_key_condition(constraint: Any, target: Target, source: str) -> Condition | None:
    """What a foreign key makes the rows satisfy: checked beforehand for MATCH SIMPLE
    (the default) when the referenced table and its key are known."""
    columns = tuple(str(a.sval) for a in constraint.fk_attrs)
    referenced = constraint.pktable
    facts = (
        target.schema_facts.table(referenced.schemaname, referenced.relname)
        if target.schema_facts is not None
        else None
    )
    keys = tuple(str(a.sval) for a in constraint.pk_attrs or ()) or (
        facts.primary_key if facts is not None else None
    )
    if (
        facts is None
        or facts.created_in_change
        or not keys
        or len(keys) != len(columns)
        or (constraint.fk_matchtype or "s") != "s"
    ):
        return target.condition("unchecked", source, why="a foreign key")
    condition = target.condition("foreign_key", source, columns)
    if condition is None:
        return None
    references = (facts.schema, facts.name, qualified(referenced.schemaname, referenced.relname))
    return replace(condition, references=references, referenced_columns=keys)


def _unique_using_index(
    constraint: Any, target: Target, source: str, name: str, label: str
) -> Change:
    primary = constraint.contype == ConstrType.CONSTR_PRIMARY
    columns = [k.sval for k in constraint.keys]
    body = "(" + ", ".join(ident(c) for c in columns) + ")"
    if constraint.including:
        body += " INCLUDE (" + ", ".join(ident(c.sval) for c in constraint.including) + ")"
    index = _index_name(target, name)
    steps = concurrent_index_steps(target, index, body, unique=True)
    if primary:
        if target.facts is not None and target.facts.primary_key is not None:
            raise CannotPlan(f"{target.sql} already has a primary key")
        for column in columns:
            fact = target.facts.column(column) if target.facts else None
            if fact is None or not fact.not_null:
                steps += enforce_not_null(target, column)
    kind = "PRIMARY KEY" if primary else "UNIQUE"
    conditions = [target.condition("unique", source, tuple(columns), late=False)]
    if primary:
        conditions.append(target.condition("not_null", source, tuple(columns)))
    steps.append(
        Step(
            Slot.CONTRACT_SWAP,
            f"ALTER TABLE {target.sql} ADD CONSTRAINT {ident(name)} {kind} USING INDEX "
            f"{ident(index)}",
            "ACCESS EXCLUSIVE for a moment: the index is already built"
            + ("" if index == name else f" (it takes the name {ident(name)})"),
            undo=drop_constraint_keeping_index(target, name, body, index),
        )
    )
    return Change(
        source,
        "add primary key" if primary else "add unique",
        tuple(steps),
        {},
        label,
        (
            f"rows with equal {body} in {target.sql} make the unique index build fail (the "
            "migration stops and says so): remove duplicates before the expand phase",
        ),
        conditions=tuple(c for c in conditions if c is not None),
    )


def _index_name(target: Target, name: str) -> str:
    """The name the expand builds a key's index under: the key's own name, unless a
    constraint or index the change drops keeps it until the contract phase (``DROP COLUMN
    id, ADD PRIMARY KEY (uuid)``: ``t_pkey`` is the old key's until ``id`` is dropped);
    ``USING INDEX`` gives the index the key's name."""
    if target.facts is None or name not in target.facts.deferred.names:
        return name
    return bounded_name(name, suffix="new")


def drop_constraint(name: str, target: Target, cascade: bool, source: str) -> Change:
    """``DROP CONSTRAINT``: a primary key or unique constraint is dropped in the contract
    phase, after the deploy of code that no longer relies on it (``ON CONFLICT`` on its
    columns needs a unique index); any other constraint passes through."""
    label = f"drop_{target.name}_{name}"
    facts = target.facts
    if facts is None or facts.created_in_change:
        return pass_through(source, label=label)
    constraint = next((c for c in facts.constraints if c.name == name), None)
    if constraint is None or constraint.kind not in ("primary", "unique"):
        return pass_through(source, label=label)
    referencing = [
        f"{schema}.{table}.{fk.name}"
        for schema, table, fk in facts.incoming_foreign_keys
        if set(fk.referenced_columns or facts.primary_key or ()) == set(constraint.columns)
    ]
    if referencing and not cascade:
        raise CannotPlan(
            f"constraint {ident(name)} of {target.sql} is referenced by foreign keys "
            f"({', '.join(referencing)}); dropping it needs CASCADE, which drops them too",
            hint="drop those foreign keys first, or write CASCADE if that is meant",
        )
    step = Step(
        Slot.CONTRACT_SWAP,
        f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {ident(name)}"
        + (" CASCADE" if cascade else ""),
        "ACCESS EXCLUSIVE for a moment: catalog only; its index goes with it",
        undo=None if cascade else _restore_key(facts, target, constraint),
    )
    primary = constraint.kind == "primary"
    deferred = Deferred(
        facts.schema,
        facts.name,
        names=frozenset({name}),
        primary_key=constraint.columns if primary else (),
    )
    deploy = (
        f"application code that no longer relies on {ident(name)} of {target.sql} (its "
        "uniqueness, ON CONFLICT on its columns)"
    )
    return Change(
        source,
        "drop primary key" if primary else "drop unique",
        (step,),
        {"contract": deploy},
        label,
        deferred=(deferred,),
    )


def _restore_key(
    facts: TableFacts, target: Target, constraint: ConstraintFact
) -> tuple[str, ...] | None:
    """The down of a dropped key: its index built again concurrently, then attached with
    ``USING INDEX``; ``None`` when the replay does not know the index."""
    index = next((i for i in facts.indexes if i.constraint == constraint.name), None)
    if index is None or not index.body_sql:
        return None
    kind = "PRIMARY KEY" if constraint.kind == "primary" else "UNIQUE"
    return (
        *rebuild_index(target, index.name, index.body_sql, unique=True),
        f"ALTER TABLE {target.sql} ADD CONSTRAINT {ident(constraint.name)} {kind} "
        f"USING INDEX {ident(index.name)}",
    )
