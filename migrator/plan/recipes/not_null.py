"""Making a column NOT NULL without a long ACCESS EXCLUSIVE scan: a ``CHECK (c IS NOT
NULL) NOT VALID`` (instant), ``VALIDATE`` (scans under SHARE UPDATE EXCLUSIVE, which
blocks no client), then ``SET NOT NULL``, which PostgreSQL 12+ proves from the valid
check without scanning, and the check is dropped."""

from __future__ import annotations

from migrator.plan.model import Slot, Step, lint_ignored
from migrator.plan.recipes.target import Target
from migrator.plan.recipes.validation import restore_validated, validate_step
from migrator.plan.sql_text import bounded_name, ident


def not_null_check_name(table: str, column: str) -> str:
    """The temporary check's name (``migrator_`` marks everything the plan removes)."""
    return bounded_name("migrator", table, column, suffix="not_null")


def not_null_check_sql(column: str) -> str:
    return f"CHECK ({ident(column)} IS NOT NULL)"


def add_not_null_check(target: Target, column: str, slot: Slot) -> Step:
    check = ident(not_null_check_name(target.name, column))
    return Step(
        slot,
        f"ALTER TABLE {target.sql} ADD CONSTRAINT {check} {not_null_check_sql(column)} NOT VALID",
        "ACCESS EXCLUSIVE for a moment: catalog only, NOT VALID skips the scan; new and "
        "updated rows are checked from now on",
        undo=(f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {check}",),
    )


def enforce_not_null(
    target: Target, column: str, *, check_slot: Slot | None = Slot.CONTRACT_PREPARE
) -> list[Step]:
    """The steps that make ``column`` NOT NULL; ``check_slot=None`` when the caller
    added the NOT VALID check already (with :func:`add_not_null_check`)."""
    name = not_null_check_name(target.name, column)
    check, definition = ident(name), not_null_check_sql(column)
    steps = [add_not_null_check(target, column, check_slot)] if check_slot is not None else []
    steps += [
        validate_step(target, name, definition),
        Step(
            Slot.CONTRACT_SWAP,
            f"ALTER TABLE {target.sql} ALTER COLUMN {ident(column)} SET NOT NULL",
            "ACCESS EXCLUSIVE for a moment: the valid check proves it, no scan (PostgreSQL 12+)",
            undo=(
                lint_ignored(
                    f"ALTER TABLE {target.sql} ALTER COLUMN {ident(column)} DROP NOT NULL",
                    "drop-not-null",
                    "the down of a planned SET NOT NULL: the column was nullable before",
                ),
            ),
        ),
        Step(
            Slot.CONTRACT_SWAP,
            f"ALTER TABLE {target.sql} DROP CONSTRAINT IF EXISTS {check}",
            "catalog only: the column's NOT NULL replaces the check",
            undo=restore_validated(target, name, definition),
        ),
    ]
    return steps
