"""A data change of the file (``UPDATE``, ``DELETE``, ``INSERT ... SELECT``) runs before
the deploy; a ``DROP COLUMN`` or ``DROP TABLE`` of the file runs in the contract, after
it. When the data change reads what the file drops, what running code writes there in
between never reaches the rows the data change wrote, and is then dropped: lost (finding
F43: ``UPDATE a SET x = b.y FROM b ...; ALTER TABLE b DROP COLUMN y`` kept the value an
old client wrote to ``b.y`` after the batch nowhere). The naive file copies and drops at
one instant. The planner generates no trigger that keeps the copy in step until the
deploy: :class:`DroppedSources` refuses the drop (:class:`CannotPlan`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from migrator.plan.model import CannotPlan
from migrator.plan.sql_text import excerpt
from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName, relation_name
from migrator.sql.parse import ParsedStatement
from migrator.sql.tree import range_vars, walk

_DATA_CHANGES = frozenset({"UpdateStmt", "DeleteStmt", "InsertStmt"})

#: stands for every column (``SELECT *``, ``b.*``)
_EVERY = "*"


@dataclass(frozen=True)
class _Read:
    """What one data change of the file reads."""

    source: str
    #: the table it writes
    target: QualifiedName
    #: the tables it names (its target too)
    tables: frozenset[QualifiedName]
    #: the names of the columns it reads (of any of those tables; ``*``: all)
    columns: frozenset[str]
    #: the columns of its target an ``UPDATE`` sets (empty for the others)
    sets: frozenset[str] = frozenset()


def _columns_read(fields: object) -> frozenset[str]:
    found = set()
    for kind, node in walk(fields):
        if kind != "ColumnRef":
            continue
        last = (node.get("fields") or [{}])[-1]
        if "A_Star" in last:
            found.add(_EVERY)
        elif "String" in last:
            found.add(str(last["String"].get("sval")))
    return frozenset(found)


class DroppedSources:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._reads: list[_Read] = []

    def check(self, source: str, statements: Sequence[ParsedStatement]) -> None:
        """Refuse ``statements`` when they drop what an earlier data change of the file
        read; then remember what they read if they change data."""
        for statement in statements:
            self._refuse_dropping_a_read_column(statement)
            self._refuse_dropping_a_read_table(statement)
        for statement in statements:
            if statement.kind not in _DATA_CHANGES:
                continue
            target = self._catalog.relation_of(statement.fields.get("relation"))[0]
            tables = frozenset(
                self._catalog.relation_of(range_var)[0]
                for range_var in range_vars(statement.fields)
            )
            sets = frozenset(
                str(item.get("ResTarget", {}).get("name"))
                for item in statement.fields.get("targetList") or ()
            )
            read = _Read(source, target, tables | {target}, _columns_read(statement.fields))
            self._reads.append(read if statement.kind != "UpdateStmt" else replace(read, sets=sets))

    def _refuse_dropping_a_read_column(self, statement: ParsedStatement) -> None:
        if statement.kind != "AlterTableStmt":
            return
        table = self._catalog.relation_of(statement.fields.get("relation"))[0]
        for item in statement.fields.get("cmds") or ():
            command = item.get("AlterTableCmd", {})
            if command.get("subtype") != "AT_DropColumn":
                continue
            column = str(command.get("name", ""))
            for read in self._reads:
                if read.target == table and read.sets == {column}:
                    continue  # it only sets the column: nothing of it outlives the drop
                if table in read.tables and (column in read.columns or _EVERY in read.columns):
                    _refuse(read, f"column {column} of {table}", "the column")

    def _refuse_dropping_a_read_table(self, statement: ParsedStatement) -> None:
        fields = statement.fields
        if statement.kind != "DropStmt" or fields.get("removeType") != "OBJECT_TABLE":
            return
        for item in fields.get("objects") or ():
            names = [
                str(name.get("String", {}).get("sval"))
                for name in item.get("List", {}).get("items", ())
            ]
            if not names:
                continue
            range_var = {"relname": names[-1], "schemaname": names[-2] if len(names) > 1 else None}
            schema, name = relation_name(range_var)
            table = self._catalog.resolve(schema, name)
            for read in self._reads:
                if table in read.tables and table != read.target:
                    _refuse(read, f"table {table}", "the table")


def _refuse(read: _Read, what: str, it: str) -> None:
    raise CannotPlan(
        f"`{excerpt(read.source)}` reads {what}, which this statement drops: the plan runs "
        f"the data change before the deploy and drops {it} only in its contract phase, "
        f"after the deploy; what running code writes to {it} in between never reaches the "
        "rows the data change wrote, and is then dropped (the naive file reads and drops "
        "at one instant)",
        hint=f"drop {it} in a change of its own, once code that writes the new place is "
        "deployed and the data change ran again for the rows written meanwhile; or keep the "
        "copy in step with a trigger you write, in a migration before the data change",
    )
