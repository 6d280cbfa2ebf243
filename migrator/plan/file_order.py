"""The plan runs a statement in a later phase than the file's order puts it (a ``DROP
TABLE`` in the contract, a ``DELETE`` in the backfill); a statement written after it
that lands in an earlier phase runs before it. That is only right when the two are
independent: ``DELETE FROM tags WHERE id > 1000; CREATE UNIQUE INDEX ... ON tags``
builds the index before the duplicates are gone, and ``DROP TABLE a; DROP FUNCTION
next_code()`` drops the function ``a``'s default still uses.

:class:`FileOrder` refuses (:class:`CannotPlan`) a later statement that would run
before an earlier one it may depend on: it names a table the earlier one names, or it
drops or replaces an object other than a table (a function, sequence, type, ...), which
anything moved later may use. Changes planned knowing what an earlier one keeps until
the contract (:class:`~migrator.plan.facts.Deferred`: a column or index name dropped
then, a key moved) are the planner's own and pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migrator.plan.model import CannotPlan, Change
from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName
from migrator.sql.parse import ParsedStatement, parse_text
from migrator.sql.tree import range_vars

#: statements that change no table and nothing a moved statement can rely on
_INDEPENDENT_KINDS = frozenset({"CommentStmt", "GrantStmt", "VariableSetStmt"})

#: statements that drop or change an object other than a table
_OBJECT_CHANGES = frozenset(
    {
        "AlterFunctionStmt",
        "AlterSeqStmt",
        "AlterDomainStmt",
        "AlterEnumStmt",
        "AlterObjectSchemaStmt",
        "AlterTypeStmt",
        "AlterExtensionStmt",
    }
)


@dataclass(frozen=True)
class _Moved:
    """An earlier change with steps in a later slot than the expand's."""

    source: str
    latest: int
    phase: str
    relations: frozenset[QualifiedName]
    #: tables it registered what it keeps until the contract for
    deferred: frozenset[QualifiedName]


class FileOrder:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._moved: list[_Moved] = []

    def check(self, unit: str, planned: Sequence[Change]) -> None:
        """Refuse ``unit`` (planned as ``planned``) when part of it runs before an
        earlier change it may depend on; then remember it if it moves later itself."""
        statements = parse_text(unit) or []
        steps = [step for change in planned for step in change.steps]
        if not steps:
            return
        earliest = min(int(step.slot) for step in steps)
        relations = self._relations(statements)
        for moved in self._moved:
            if moved.latest <= earliest:
                continue
            if all(statement.kind in _INDEPENDENT_KINDS for statement in statements):
                break
            shared = sorted(str(name) for name in (relations & moved.relations) - moved.deferred)
            if shared or any(_changes_an_object(statement) for statement in statements):
                why = (
                    f"both name {shared[0]}"
                    if shared
                    else "it drops or changes an object the earlier statement may use"
                )
                raise CannotPlan(
                    f"this statement comes after `{_short(moved.source)}`, which the plan "
                    f"runs in the {moved.phase} phase, but it would run before that, and {why}: "
                    "the plan would not do what the file does in its order",
                    hint="plan the later statement in a change of its own, after this one's "
                    f"{moved.phase} phase ran",
                )
        latest = max(int(step.slot) for step in steps)
        if any(step.slot.phase != "expand" for step in steps):
            phase = max(steps, key=lambda step: int(step.slot)).slot.phase
            deferred = frozenset(
                self._catalog.resolve(item.schema or None, item.table)
                for change in planned
                for item in change.deferred
            )
            self._moved.append(_Moved(unit, latest, phase, relations, deferred))

    def _relations(self, statements: Sequence[ParsedStatement]) -> frozenset[QualifiedName]:
        found: set[QualifiedName] = set()
        for statement in statements:
            for range_var in range_vars(statement.fields):
                found.add(self._catalog.relation_of(range_var)[0])
        return frozenset(found)


def _changes_an_object(statement: ParsedStatement) -> bool:
    """Drops or changes an object other than a table, index or view."""
    fields = statement.fields
    if statement.kind == "DropStmt":
        return fields.get("removeType") not in ("OBJECT_TABLE", "OBJECT_INDEX")
    if statement.kind == "RenameStmt":
        return fields.get("renameType") not in ("OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_INDEX")
    if statement.kind in ("CreateFunctionStmt", "ViewStmt", "DefineStmt"):
        return bool(fields.get("replace"))
    return statement.kind in _OBJECT_CHANGES


def _short(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= 60 else text[:57] + "..."
