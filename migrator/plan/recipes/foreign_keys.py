"""Foreign keys across a column swap: a key widened through a second column (``ALTER
TABLE customers ALTER COLUMN id TYPE bigint``) takes the foreign keys that reference it
along, and a referencing column retyped in the same change gets its foreign key back
against the widened key.

A foreign key depends on the unique index of the columns it references, so the swap
that drops the old key column must drop the foreign keys first. They are added again in
the same transaction, ``NOT VALID`` (catalog only: every row already references an
existing key, the sync trigger kept both key columns equal), so no client ever writes a
row the foreign key would have refused; ``VALIDATE CONSTRAINT`` then runs after the
swap (:attr:`~migrator.plan.model.Slot.CONTRACT_REVALIDATE`), scanning without blocking
anyone, and the end state is the naive ``ALTER``'s: the same constraints, all valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from migrator.plan.facts import ConstraintFact, Deferred, SchemaFacts, TableFacts
from migrator.plan.model import CannotPlan, Slot, Step
from migrator.plan.recipes.target import Target
from migrator.plan.recipes.validation import validate_step
from migrator.plan.sql_text import ident, qualified, rename_in_constraint

SWAP_NOTE = "SHARE ROW EXCLUSIVE on both tables for a moment, in the swap's transaction"
READD_NOTE = (
    "catalog only, in the swap's transaction: NOT VALID checks every new row from now on "
    "and skips the scan (validated after the swap)"
)
REVALIDATE_NOTE = (
    "SHARE UPDATE EXCLUSIVE on the referencing table, ROW SHARE on the key's: scans while "
    "reads and writes go on"
)


#: the types one btree operator family compares (``integer_ops``): a foreign key may
#: reference a key of another of them
_INTEGER_TYPES = {
    "smallint": "smallint",
    "int2": "smallint",
    "integer": "integer",
    "int": "integer",
    "int4": "integer",
    "bigint": "bigint",
    "int8": "bigint",
}


def _comparable(one: str, other: str) -> bool:
    """A foreign key from a column of type ``one`` may reference one of ``other``, as
    far as the planner can tell: the same type, or integers of any width."""
    first, second = one.strip().lower(), other.strip().lower()
    return first == second or (first in _INTEGER_TYPES and second in _INTEGER_TYPES)


def refuse_incomparable(
    constraint: ConstraintFact, where: str, referencing_type: str | None, key_type: str
) -> None:
    """:class:`CannotPlan` when the foreign key ``constraint`` (on ``where``) would compare
    a ``referencing_type`` column with a ``key_type`` key after the swap: PostgreSQL
    would refuse to add it again (42804), after the expand and backfill phases ran."""
    if referencing_type is not None and _comparable(referencing_type, key_type):
        return
    raise CannotPlan(
        f"the foreign key {constraint.name} on {where} would compare "
        f"{referencing_type or 'a column of unknown type'} with {key_type} after the swap, "
        "and the planner moves foreign keys only between the same types or integers of "
        "any width (PostgreSQL may refuse the key: 42804)",
        hint="change the referencing columns to a type the key's type compares with in the "
        "same file, or plan it by hand (docs/planner.md, 'What cannot be made safe')",
    )


@dataclass(frozen=True)
class MovedForeignKeys:
    """The steps that carry foreign keys through a swap: dropped before the old column
    goes, added again ``NOT VALID`` after the new one took its name, validated after."""

    drop: tuple[Step, ...] = ()
    add_again: tuple[Step, ...] = ()
    validate: tuple[Step, ...] = ()


def _swap_steps(
    table: Target, constraint: ConstraintFact, definition: str, *, drop: bool
) -> MovedForeignKeys:
    name = ident(constraint.name)
    drops = (
        (
            Step(
                Slot.CONTRACT_SWAP,
                f"ALTER TABLE {table.sql} DROP CONSTRAINT {name}",
                SWAP_NOTE,
                None,
            ),
        )
        if drop
        else ()
    )
    add = Step(
        Slot.CONTRACT_SWAP,
        f"ALTER TABLE {table.sql} ADD CONSTRAINT {name} {definition} NOT VALID",
        READD_NOTE,
        None,
    )
    validate = validate_step(table, constraint.name, definition, REVALIDATE_NOTE)
    validate = Step(Slot.CONTRACT_REVALIDATE, validate.sql, validate.note, validate.undo)
    return MovedForeignKeys(drops, (add,), (validate,))


def joined(parts: list[MovedForeignKeys]) -> MovedForeignKeys:
    return MovedForeignKeys(
        tuple(step for part in parts for step in part.drop),
        tuple(step for part in parts for step in part.add_again),
        tuple(step for part in parts for step in part.validate),
    )


def incoming_moved(
    target: Target, facts: TableFacts, column: str, new_type: str
) -> MovedForeignKeys:
    """The foreign keys of other tables that reference ``column`` of ``target``, which
    the plan swaps for a wider copy: dropped and added again around the swap.

    :class:`CannotPlan` where that cannot be done the same way: a foreign key of the
    table itself (its copy in the expand phase would reference the old key), or one on
    a partitioned table (PostgreSQL adds no ``NOT VALID`` foreign key there)."""
    parts = []
    for schema, name, constraint in facts.incoming_on(column):
        where = qualified(schema, name)
        if (schema, name) == (facts.schema, facts.name):
            raise CannotPlan(
                f"cannot change the type of {target.sql}.{ident(column)} in phases: the "
                f"table's own foreign key {constraint.name} references it, and the planner "
                "moves only the foreign keys of other tables with a key",
                hint="drop the foreign key in a change of its own, plan this one, then add "
                "it again (ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT)",
            )
        referencing = (
            target.schema_facts.table(schema, name) if target.schema_facts is not None else None
        )
        if referencing is not None and referencing.partitioned:
            raise CannotPlan(
                f"cannot change the type of {target.sql}.{ident(column)} in phases: the "
                f"foreign key {constraint.name} of the partitioned table {where} references "
                "it, and PostgreSQL cannot add it again NOT VALID there, so the swap would "
                "scan that table under its lock",
                hint="plan it by hand (docs/planner.md, 'What cannot be made safe')",
            )
        if len(constraint.columns) != 1:
            raise CannotPlan(
                f"cannot change the type of {target.sql}.{ident(column)} in phases: the "
                f"foreign key {constraint.name} of {where} references it with several "
                "columns, and the planner moves single-column foreign keys only",
                hint="plan it by hand (docs/planner.md, 'What cannot be made safe')",
            )
        fact = referencing.column(constraint.columns[0]) if referencing is not None else None
        refuse_incomparable(constraint, where, fact.type_sql if fact else None, new_type)
        if not constraint.definition_sql:
            raise CannotPlan(
                f"the definition of foreign key {constraint.name} on {where} is not known, "
                f"so it cannot be added again after {target.sql}.{ident(column)} is swapped"
            )
        default = target.schema_facts.default_schema() if target.schema_facts else None
        table = Target(
            None if schema == default else schema, name, referencing, target.schema_facts
        )
        parts.append(_swap_steps(table, constraint, constraint.definition_sql, drop=True))
    return joined(parts)


def _referenced(
    target: Target, constraint: ConstraintFact
) -> tuple[TableFacts, tuple[str, ...]] | None:
    if constraint.kind != "foreign" or constraint.references is None:
        return None
    if target.schema_facts is None:
        return None
    referenced = target.schema_facts.table(*constraint.references)
    if referenced is None:
        return None
    return referenced, constraint.referenced_columns or referenced.primary_key or ()


def references_a_retyped_key(target: Target, constraint: ConstraintFact) -> bool:
    """``constraint`` (a foreign key of ``target``) references columns an earlier change
    of the file swaps for wider ones only in the contract: a copy made in the expand
    phase would reference the old key, which that swap drops."""
    found = _referenced(target, constraint)
    return found is not None and bool(found[0].deferred.retyped & set(found[1]))


def outgoing_added_again(
    target: Target, constraint: ConstraintFact, mapping: Mapping[str, str], new_type: str
) -> MovedForeignKeys:
    """A foreign key of the swapped column whose referenced key is swapped earlier in the
    contract: the swap's ``DROP COLUMN`` drops it with the old column, it is added again
    on the new one (named as the column ends, ``mapping``), then validated."""
    found = _referenced(target, constraint)
    if found is None or len(found[1]) != 1 or len(constraint.columns) != 1:
        raise CannotPlan(
            f"the foreign key {constraint.name} on {target.sql} references a key the change "
            "widens, with several columns, and the planner moves single-column foreign keys "
            "only",
            hint="plan it by hand (docs/planner.md, 'What cannot be made safe')",
        )
    key = found[0].column(found[1][0])
    refuse_incomparable(constraint, target.sql, new_type, key.type_sql if key else "unknown")
    definition = rename_in_constraint(constraint.definition_sql, mapping)
    return _swap_steps(target, constraint, definition, drop=False)


def refuse_changed_references(facts: SchemaFacts, retyped: Iterable[Deferred]) -> None:
    """:class:`CannotPlan` when the statement just planned added or dropped a foreign key
    that references a key an earlier statement widens: the key's swap, in the contract,
    drops and adds again the foreign keys there were when it was planned, and a foreign
    key added in the expand phase would still reference the old key column."""
    for deferred in retyped:
        table = facts.table(deferred.schema, deferred.table)
        if table is None:
            continue
        now = {
            (schema, name, fk.name)
            for column in deferred.retyped
            for schema, name, fk in table.incoming_on(column)
        }
        changed = sorted(now ^ deferred.moved_references)
        if changed:
            schema, name, constraint = changed[0]
            key = ", ".join(sorted(deferred.retyped))
            raise CannotPlan(
                f"this statement adds or drops the foreign key {constraint} of "
                f"{qualified(schema, name)}, which references {qualified(None, deferred.table)} "
                f"({key}), a key the change widens: the plan swaps the key only in the "
                "contract phase, and moves the foreign keys there were before",
                hint="plan this statement in a change of its own, after this one's contract "
                "phase ran",
            )
