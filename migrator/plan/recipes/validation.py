"""``VALIDATE CONSTRAINT`` and how a down undoes it.

PostgreSQL has no way back from a validated constraint to a NOT VALID one, so the down
drops the constraint and adds it again ``NOT VALID`` in one statement: catalog only,
ACCESS EXCLUSIVE for a moment, no scan, and safe to run again. With it, a plan passes
``migrate dry-run`` (up, down, up again, same schema)."""

from __future__ import annotations

from migrator.plan.model import Slot, Step
from migrator.plan.recipes.target import Target
from migrator.plan.sql_text import ident

VALIDATE_NOTE = "SHARE UPDATE EXCLUSIVE: scans the table while reads and writes go on"


def validate_sql(target: Target, name: str) -> str:
    return f"ALTER TABLE {target.sql} VALIDATE CONSTRAINT {ident(name)}"


def add_not_valid_again(target: Target, name: str, definition: str) -> str:
    """Constraint ``name`` as NOT VALID, whether it exists (valid or not) or not."""
    return (
        f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {ident(name)}, "
        f"ADD CONSTRAINT {ident(name)} {definition} NOT VALID"
    )


def validate_step(target: Target, name: str, definition: str, note: str = VALIDATE_NOTE) -> Step:
    """``VALIDATE CONSTRAINT name``; its down makes the constraint NOT VALID again."""
    return Step(
        Slot.CONTRACT_VALIDATE,
        validate_sql(target, name),
        note,
        undo=(add_not_valid_again(target, name, definition),),
    )


def restore_validated(target: Target, name: str, definition: str) -> tuple[str, ...]:
    """The down of a statement that dropped the valid constraint ``name``: add it NOT
    VALID (a moment of ACCESS EXCLUSIVE), then validate it (a scan under SHARE UPDATE
    EXCLUSIVE, which blocks no client). The down runs them outside a transaction, so
    the scan does not hold the first statement's lock."""
    return (add_not_valid_again(target, name, definition), validate_sql(target, name))
