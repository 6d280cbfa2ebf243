"""The foreign keys a statement removes, and the data changes of other tables they make
fail while they hold (plandiff F58).

``DROP TABLE b; DELETE FROM a WHERE ...`` with ``b`` referencing ``a``: the naive file
drops ``b`` and its foreign key, then deletes. The plan runs the ``DROP TABLE`` in its
contract phase and the ``DELETE`` in batches before it, under ``b``'s foreign key
(23503 where the file succeeds). So :class:`~migrator.plan.file_order.FileOrder` asks,
for a statement the plan runs later than the file does, which tables' data changes it
may let through: a ``DELETE`` / ``UPDATE`` / ``TRUNCATE`` of a table a removed key
references (or of a table whose delete or key change cascades into one), an
``INSERT`` / ``UPDATE`` of a table holding a removed key; with ``CASCADE``, any data
change (what else it drops, a rule of another table, is not modelled). Read from the
catalog before the statement; pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from migrator.sql.catalog import Catalog, Constraint
from migrator.sql.names import QualifiedName, object_name
from migrator.sql.parse import ParsedStatement

#: data changes of a table that a foreign key referencing it can make fail
_OF_REFERENCED = frozenset({"DeleteStmt", "UpdateStmt", "TruncateStmt", "MergeStmt"})
#: data changes of a table that a foreign key of its own can make fail
_OF_REFERENCING = frozenset({"InsertStmt", "UpdateStmt", "MergeStmt"})
#: every data change
DATA_CHANGE_KINDS = _OF_REFERENCED | _OF_REFERENCING

#: the actions (``fk_del_action`` / ``fk_upd_action``) that fail instead of changing
#: the referencing rows: a delete or key change stops there
_STOPS = frozenset({"a", "r"})


@dataclass(frozen=True)
class Removed:
    """A data change of ``table`` (any table: ``None``) of one of ``kinds`` may fail
    while what ``why`` names holds."""

    table: QualifiedName | None
    kinds: frozenset[str]
    why: str
    #: the columns an ``UPDATE`` must set to be one (none: any ``UPDATE``)
    columns: frozenset[str] = frozenset()

    def applies(self, statement: ParsedStatement, tables: frozenset[QualifiedName]) -> bool:
        """``statement`` (writing the rows of ``tables``) is such a data change."""
        if statement.kind not in self.kinds or not (self.table is None or self.table in tables):
            return False
        if statement.kind == "TruncateStmt":  # with CASCADE, it empties the others too
            return statement.fields.get("behavior") != "DROP_CASCADE"
        if statement.kind != "UpdateStmt" or not self.columns:
            return True
        targets = statement.fields.get("targetList") or ()
        return any(item.get("ResTarget", {}).get("name") in self.columns for item in targets)


def removed_keys(catalog: Catalog, statements: Sequence[ParsedStatement]) -> tuple[Removed, ...]:
    """What the ``DROP TABLE`` / ``DROP COLUMN`` / ``DROP CONSTRAINT`` of ``statements``
    remove that the data changes of other tables run under (the catalog is the schema
    before them)."""
    found: list[Removed] = []
    for statement in statements:
        for removed, owner, cascade in _dropped(catalog, statement):
            if cascade:
                found.append(Removed(None, DATA_CHANGE_KINDS, f"what `CASCADE` drops with {owner}"))
            if removed is None or removed[1].references is None:
                continue
            (child, key), parent = removed, removed[1].references
            why = f"the foreign key {key.name} of {child} (to {parent})"
            found.append(Removed(child, _OF_REFERENCING, why, frozenset(key.columns)))
            keys = _referenced_columns(catalog, key)
            for table, columns in _cascading_into(catalog, parent, keys).items():
                found.append(Removed(table, _OF_REFERENCED, why, columns))
    return tuple(found)


#: a foreign key and the table it belongs to
_Key = tuple[QualifiedName, Constraint]


def _dropped(
    catalog: Catalog, statement: ParsedStatement
) -> Iterator[tuple[_Key | None, QualifiedName, bool]]:
    """``(foreign key it removes or None, table, CASCADE)`` of ``statement``."""
    fields = statement.fields
    cascade = fields.get("behavior") == "DROP_CASCADE"
    if statement.kind == "DropStmt" and fields.get("removeType") == "OBJECT_TABLE":
        for item in fields.get("objects") or ():
            schema, name = object_name(item.get("List", {}).get("items"))
            table = catalog.resolve(schema, name)
            dropped = {table, *catalog.partitions(table)}
            yield None, table, cascade
            for child, key in _keys(catalog):
                if key.references in dropped or child in dropped:
                    yield (child, key), table, False
        return
    if statement.kind != "AlterTableStmt":
        return
    table = catalog.relation_of(fields.get("relation"))[0]
    dropped = {table, *catalog.partitions(table)}
    for item in fields.get("cmds") or ():
        command = item.get("AlterTableCmd", {})
        subtype, name = command.get("subtype"), command.get("name")
        if subtype not in ("AT_DropColumn", "AT_DropConstraint"):
            continue
        yield None, table, command.get("behavior") == "DROP_CASCADE"
        for child, key in _keys(catalog):
            if subtype == "AT_DropConstraint":
                hit = child in dropped and key.name == name
            else:
                hit = (child in dropped and name in key.columns) or (
                    key.references in dropped and name in key.referenced_columns
                )
            if hit:
                yield (child, key), table, False


def _keys(catalog: Catalog) -> Iterator[_Key]:
    """Every foreign key of the catalog with its table."""
    for table in catalog.tables():
        for key in table.foreign_keys:
            yield table.name, key


def _referenced_columns(catalog: Catalog, key: Constraint) -> frozenset[str]:
    """The columns ``key`` references (its table's primary key when it names none;
    none when that is not known)."""
    if key.referenced_columns or key.references is None:
        return frozenset(key.referenced_columns)
    table = catalog.table(key.references)
    primary = table.primary_key if table is not None else None
    return frozenset(primary.columns) if primary is not None else frozenset()


def _cascading_into(
    catalog: Catalog, parent: QualifiedName, keys: frozenset[str]
) -> dict[QualifiedName, frozenset[str]]:
    """``parent`` (whose ``keys`` a removed foreign key references) and the tables
    whose deletes or key changes reach its rows through foreign keys that delete, null
    or change the referencing rows, each with the key columns whose change does."""
    found = {parent: keys}
    todo = [parent]
    while todo:
        table = catalog.table(todo.pop())
        for key in table.foreign_keys if table is not None else ():
            node = key.node or {}
            actions = {node.get("fk_del_action") or "a", node.get("fk_upd_action") or "a"}
            if key.references is not None and key.references not in found and actions - _STOPS:
                found[key.references] = _referenced_columns(catalog, key)
                todo.append(key.references)
    return found
