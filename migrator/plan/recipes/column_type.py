"""Changing a column's type: in place when PostgreSQL can do it without a rewrite
(binary-coercible), otherwise through a second column of the new type."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from migrator.plan.facts import TableFacts
from migrator.plan.model import CannotPlan, Change
from migrator.plan.recipes.columns import pass_through
from migrator.plan.recipes.shadow_column import Shadow, shadow_column_change
from migrator.plan.recipes.target import PlanOptions, Target
from migrator.plan.sql_text import bounded_name, ident
from migrator.sql.syntax import deparse

_TYPE = re.compile(r"^\s*([a-z ]+?)\s*(?:\(([\d\s,]+)\))?\s*$")
_ALIASES = {
    "character varying": "varchar",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "decimal": "numeric",
}


def _parts(type_sql: str) -> tuple[str, tuple[int, ...]] | None:
    match = _TYPE.match(type_sql.lower())
    if match is None:
        return None
    name = _ALIASES.get(match.group(1), match.group(1))
    modifiers = tuple(int(m) for m in (match.group(2) or "").split(",") if m.strip())
    return name, modifiers


def binary_coercible(old: str, new: str) -> bool:
    """The change needs no rewrite and no scan (postgres-facts.md): ``varchar(n)`` to a
    wider or unlimited ``varchar`` or ``text``, ``numeric(p,s)`` to a wider precision of
    the same scale or unlimited, ``cidr`` to ``inet``, or the same type."""
    before, after = _parts(old), _parts(new)
    if before is None or after is None:
        return False
    (old_name, old_mods), (new_name, new_mods) = before, after
    if (old_name, old_mods) == (new_name, new_mods):
        return True
    if old_name in ("varchar", "text") and new_name == "text":
        return True
    if old_name in ("varchar", "text") and new_name == "varchar":
        return not new_mods or (
            old_name == "varchar" and bool(old_mods) and new_mods[0] >= old_mods[0]
        )
    if old_name == new_name == "numeric":
        if not new_mods:
            return True
        if len(old_mods) == 2 and len(new_mods) == 2:
            return new_mods[0] >= old_mods[0] and new_mods[1] == old_mods[1]
        return False
    return old_name == "cidr" and new_name == "inet"


def _only_casts(node: Any, column: str) -> bool:
    """``node`` is ``column`` itself, or casts of it (``c::bigint``, ``CAST(c AS t)``)."""
    kind = type(node).__name__
    if kind == "TypeCast":
        return _only_casts(node.arg, column)
    if kind == "ColumnRef":
        last = node.fields[-1]
        return type(last).__name__ == "String" and last.sval == column
    return False


def _refuse_views_kept(target: Target, facts: TableFacts, column: str) -> None:
    """:class:`CannotPlan` when a view the plan keeps until its contract phase uses
    ``column`` (the compatibility view of a table renamed earlier in the change, or a
    view the change drops): the statement, passed through in the expand, would meet it."""
    views = []
    if facts.deferred.viewed_as:
        views.append(f"view {facts.deferred.viewed_as} (the old name of {target.sql})")
    if target.schema_facts is not None:
        found = target.schema_facts.dependents_of(
            facts.schema, facts.name, column, until_contract=True
        )
        current = target.schema_facts.dependents_of(facts.schema, facts.name, column)
        views += [name for name in found if name not in current]
    if views:
        raise CannotPlan(
            f"the plan keeps {', '.join(views)} until its contract phase, and it uses "
            f"{target.sql}.{ident(column)}: PostgreSQL cannot change the type of a column a "
            "view uses (0A000), where the naive file, which has dropped it, can",
            hint="plan the type change in a change of its own, after this one's contract phase ran",
        )


def _refuse_enum_written_with_new_values(
    target: Target, column: str, fact: Any, new_type: str
) -> None:
    """:class:`CannotPlan` for an enum column: from the deploy to the contract the new
    code writes values of the new type into the old column, and an enum takes no value
    typed otherwise, nor one outside its labels (plandiff F34: enum to text, 42804)."""
    if fact is None or target.schema_facts is None:
        return
    *schema, name = [part.strip('"') for part in fact.type_sql.split(".")]
    if target.schema_facts.enum(schema[-1] if schema else None, name) is None:
        return
    raise CannotPlan(
        f"{target.sql}.{ident(column)} is of the enum type {fact.type_sql}: from the deploy "
        f"to the contract the new code writes {new_type} values into it, which an enum "
        "column refuses (a value typed otherwise: 42804; one outside its labels: 22P02), "
        f"where the naive file's {new_type} column takes them",
        hint=f"add a {new_type} column under another name (migrate plan plans that), move "
        "the code to it, then drop the old one; or change the type while the table is small",
    )


def change_type(column: str, definition: Any, target: Target, options: PlanOptions) -> Change:
    """``ALTER COLUMN c TYPE t [USING expr]``."""
    new_type = deparse(definition.typeName)
    using = deparse(definition.raw_default) if definition.raw_default is not None else None
    source = f"ALTER TABLE {target.sql} ALTER COLUMN {ident(column)} TYPE {new_type}"
    if using:
        source += f" USING {using}"
    label = f"{target.name}_{column}_type"
    facts = target.require("to change the column's type in phases")
    fact = facts.column(column)
    if (
        not facts.created_in_change
        and definition.raw_default is not None
        and not _only_casts(definition.raw_default, column)
    ):
        raise CannotPlan(
            f"the USING expression changes the values of {target.sql}.{ident(column)}, not "
            f"only their type ({using}): no deploy moment fits both meanings (before the "
            "contract, new code writing new values to the old column would be converted "
            "again; after it, old code would write old values into the new one)",
            hint="add a column with the new values under another name (migrate plan plans "
            "that), move the code to it, then drop the old one; or plan a USING that only "
            "casts",
        )
    if facts.created_in_change or (
        fact is not None and using is None and binary_coercible(fact.type_sql, new_type)
    ):
        if not facts.created_in_change:
            _refuse_views_kept(target, facts, column)
        return pass_through(source, label=label)
    _refuse_enum_written_with_new_values(target, column, fact, new_type)
    shadow = Shadow(
        old=column,
        new=bounded_name(column, suffix="new"),
        new_type_sql=new_type,
        # assigned, not cast: PostgreSQL converts as ALTER COLUMN ... TYPE does
        # (assignment cast: a too long value fails with 22001 instead of being cut)
        copy_expression=using or ident(column),
        final_name=column,
        both_directions=False,
    )
    planned = shadow_column_change(
        target,
        shadow,
        options,
        source=source,
        recipe="change column type",
        label=label,
        deploy_before={
            "contract": f"application code that accepts {new_type} values in "
            f"{ident(column)} (often nothing to change)"
        },
    )
    # the sync trigger converts what a data change of the file writes, batch by batch
    condition = target.condition(
        "unchecked", source, (column,), why="a change of the column's type", late=False
    )
    if condition is not None:
        # its conversion check runs first in the expand migration (shadow_column)
        condition = replace(condition, checked_in_expand=True)
    return replace(planned, conditions=(condition,) if condition is not None else ())
