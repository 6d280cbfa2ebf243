"""The plan builds an index ``CONCURRENTLY`` in a migration of its own, after the expand
transaction; the naive file builds it where it is written. A later statement of the file
that uses the index would run before it exists (finding F42: ``CREATE INDEX i ...;
ALTER INDEX i RENAME TO j`` failed 42P01, ``CREATE UNIQUE INDEX u ON a (x); CREATE
TABLE c (x int REFERENCES a (x))`` 42830, where the naive file succeeds).

:class:`IndexBuilds` remembers what the changes so far build after the expand
transaction; :meth:`IndexBuilds.uses` tells whether a later change uses it: it names
the index (``ALTER INDEX``, ``COMMENT ON INDEX``, ``USING INDEX``, ``CLUSTER ON``,
``REPLICA IDENTITY USING INDEX``), or it needs a unique index of the table by its
columns (a foreign key that references the table, ``INSERT ... ON CONFLICT``). Names are
compared without their schema: a false match only moves a statement to the
``expand_after`` migration, where it runs after the builds, in the file's order. An
index the plan builds under a temporary name and renames only in its contract phase (it
takes the name of one the file drops) cannot be used before that: refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from migrator.plan.model import CannotPlan, Change, Slot, Step
from migrator.plan.sql_text import excerpt
from migrator.sql.tree import walk


def _strings(node: Any) -> Iterator[str]:
    """Every string in the tree ``node`` (names, and constants too)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _names(items: Any) -> frozenset[str] | None:
    """The plain column names of ``items`` (``String`` nodes or ``IndexElem`` nodes);
    ``None`` when one is an expression or there are none (compare as a match)."""
    found = set()
    for item in items or ():
        value = item.get("String", {}).get("sval") or item.get("IndexElem", {}).get("name")
        if not value:
            return None
        found.add(str(value))
    return frozenset(found) or None


def _unique_key_users(fields: Any) -> Iterator[tuple[str, frozenset[str] | None]]:
    """The tables (and columns, ``None``: unknown) whose unique index ``fields`` needs by
    its columns: the referenced key of a foreign key, the conflict target of ``INSERT
    ... ON CONFLICT``."""
    for kind, node in [("", fields), *walk(fields)]:
        if kind == "Constraint" and node.get("contype") == "CONSTR_FOREIGN":
            relname = (node.get("pktable") or {}).get("relname")
            if relname:
                yield str(relname), _names(node.get("pk_attrs"))
        conflict = node.get("onConflictClause") if isinstance(node, dict) else None
        if conflict is not None:
            relname = (node.get("relation") or {}).get("relname")
            if relname:
                yield str(relname), _names((conflict.get("infer") or {}).get("indexElems"))


def _same_key(used: frozenset[str] | None, built: frozenset[str] | None) -> bool:
    return used is None or built is None or used == built


@dataclass
class IndexBuilds:
    #: index name -> the source of the change that builds it after the expand
    built: dict[str, str] = field(default_factory=dict)
    #: table name -> the key columns (``None``: not only columns) of each unique index
    #: built on it then, with the source of the change that builds it
    unique: dict[str, list[tuple[frozenset[str] | None, str]]] = field(default_factory=dict)
    #: index name -> the source of the change that gives it that name only in its
    #: contract phase
    named_in_contract: dict[str, str] = field(default_factory=dict)

    def note(self, change: Change) -> None:
        """Remember the indexes ``change`` builds after the expand transaction."""
        for step in change.steps:
            for statement in step.statements or []:
                fields = statement.fields
                if step.slot is Slot.EXPAND_CONCURRENT and statement.kind == "IndexStmt":
                    name = fields.get("idxname")
                    if name:
                        self.built[str(name)] = change.source
                    if fields.get("unique"):
                        table = str((fields.get("relation") or {}).get("relname"))
                        key = _names(fields.get("indexParams"))
                        self.unique.setdefault(table, []).append((key, change.source))
                if (
                    step.slot.phase == "contract"
                    and statement.kind == "RenameStmt"
                    and fields.get("renameType") == "OBJECT_INDEX"
                ):
                    self.named_in_contract[str(fields.get("newname"))] = change.source

    def uses(self, change: Change) -> str | None:
        """The source of the earlier change whose build ``change``'s expand steps use,
        if any; :class:`CannotPlan` when they use a name the plan gives only in its
        contract phase."""
        for step in _expand_steps(change):
            for statement in step.statements or []:
                names = set(_strings(statement.fields))
                for name in sorted(names & self.named_in_contract.keys()):
                    source = self.named_in_contract[name]
                    raise CannotPlan(
                        f"`{excerpt(change.source)}` names index {name}, which the plan of "
                        f"`{excerpt(source)}` builds under another name and renames to "
                        f"{name} only in its contract phase (the index of that name the "
                        "file drops is there until then): the statement would run before that",
                        hint="plan the statement in a change of its own, after this one's "
                        "contract phase ran",
                    )
                for name in sorted(names & self.built.keys()):
                    return self.built[name]
                for table, used in _unique_key_users(statement.fields):
                    for key, source in self.unique.get(table, []):
                        if _same_key(used, key):
                            return source
        return None


def _expand_steps(change: Change) -> list[Step]:
    return [step for step in change.steps if step.slot is Slot.EXPAND]


def after_the_builds(change: Change, source: str) -> Change:
    """``change`` with its expand-transaction steps moved after the concurrent builds
    (the ``expand_after`` migration), since it uses what ``source``'s plan builds there;
    :class:`CannotPlan` when it builds an index itself, after steps that must come
    first."""
    if any(step.slot is Slot.EXPAND_CONCURRENT for step in change.steps):
        raise CannotPlan(
            f"`{excerpt(change.source)}` uses the index `{excerpt(source)}` creates, which "
            "the plan "
            "builds CONCURRENTLY after the expand transaction; its own plan has steps in "
            "that transaction and a concurrent build after them, so it cannot wait for it",
            hint="plan the statement in a change of its own, after this one's expand phase ran",
        )
    steps = tuple(
        step.but(slot=Slot.EXPAND_LATE) if step.slot is Slot.EXPAND else step
        for step in change.steps
    )
    return replace(change, steps=steps)
