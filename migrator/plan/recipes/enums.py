"""Adding an enum value: its own migration, after readers that tolerate it."""

from __future__ import annotations

from typing import Any

from migrator.plan.facts import SchemaFacts
from migrator.plan.model import Change, NotInSchema, Slot, Step
from migrator.plan.sql_text import literal, qualified


def add_enum_value(statement: Any, source: str, facts: SchemaFacts) -> Change:
    """``ALTER TYPE e ADD VALUE 'x'`` as ``ADD VALUE IF NOT EXISTS`` in a migration with
    no other DDL (it cannot be used before it commits, and it cannot be removed)."""
    parts = [part.sval for part in statement.typeName]
    schema = parts[-2] if len(parts) > 1 else None
    type_sql = qualified(schema, parts[-1])
    values = facts.enum(schema, parts[-1])
    if values is None:
        raise NotInSchema(
            f"type {type_sql} is not an enum type any earlier migration creates",
            hint="check the type's name",
        )
    if statement.newValNeighbor and statement.newValNeighbor not in values:
        raise NotInSchema(
            f"enum {type_sql} has no value {literal(statement.newValNeighbor)} to add "
            f"{literal(statement.newVal)} next to",
            hint=f"its values: {', '.join(literal(v) for v in values)}",
        )
    sql = f"ALTER TYPE {type_sql} ADD VALUE IF NOT EXISTS {literal(statement.newVal)}"
    if statement.newValNeighbor:
        where = "AFTER" if statement.newValIsAfter else "BEFORE"
        sql += f" {where} {literal(statement.newValNeighbor)}"
    value = literal(statement.newVal)
    return Change(
        source,
        "add enum value",
        (
            Step(
                Slot.EXPAND_ENUM,
                sql,
                "catalog only; usable once committed; values cannot be removed again",
                undo=None,
            ),
        ),
        {"expand": f"application code that reads {type_sql} and tolerates {value}"},
        f"{parts[-1]}_add_{statement.newVal}",
    )
