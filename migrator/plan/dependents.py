"""What depends on a table's columns, from the replayed migrations: views, materialized
views, policies, generated columns and triggers (by their ``UPDATE OF`` and ``WHEN``); and
which triggers fire on an ``UPDATE`` of a table. The catalog keeps tables, keys and indexes; the
planner also needs to know, before it renames, retypes or drops a column through a
second column, what would stop the contract's ``DROP COLUMN`` (2BP01) or read the
column while it is being replaced.

Names are matched as written (a column reference's last name, the relations a query
names): a dependent is reported when it names the table and the column, or the table
with ``*``. That errs on the side of reporting, and a report means a refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName, strings
from migrator.sql.parse import Node
from migrator.sql.tree import range_vars, walk


@dataclass(frozen=True)
class Dependent:
    #: ``view``, ``materialized view``, ``policy``, ``generated column``, ``trigger``
    kind: str
    name: str
    tables: frozenset[QualifiedName]
    columns: frozenset[str]
    #: it selects ``*`` (every column, whatever their names)
    star: bool = False

    @property
    def label(self) -> str:
        """How a message names it (``view public.v``, ``trigger t on public.a``: a
        trigger follows its table's renames)."""
        if self.kind == "trigger":
            return f"trigger {self.name} on {', '.join(sorted(map(str, self.tables)))}"
        return f"{self.kind} {self.name}"

    def depends_on(self, table: QualifiedName, column: str) -> bool:
        return table in self.tables and (self.star or column in self.columns)


def _columns(node: Any) -> tuple[frozenset[str], bool]:
    names: set[str] = set()
    star = False
    for kind, fields in walk(node):
        if kind != "ColumnRef":
            continue
        last = (fields.get("fields") or [{}])[-1]
        if "A_Star" in last:
            star = True
        elif "String" in last:
            names.add(last["String"].get("sval", ""))
    return frozenset(names), star


def _followed(dependent: Dependent, kind: str, fields: Node, catalog: Catalog) -> Dependent:
    """``dependent`` after a rename (or move to another schema) of a table, or a rename
    of a column, it depends on: PostgreSQL's dependents follow both (plandiff F39: a
    view on ``a`` was not found for ``ALTER TABLE r1 DROP COLUMN`` after ``ALTER TABLE a
    RENAME TO r1``)."""
    if kind == "RenameStmt" and fields.get("renameType") in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        table = catalog.relation_of(fields.get("relation"))[0]
        if table not in dependent.tables:
            return dependent
        new = str(fields.get("newname") or "")
        if fields.get("renameType") == "OBJECT_COLUMN":
            old = str(fields.get("subname") or "")
            if old not in dependent.columns:
                return dependent
            return replace(dependent, columns=(dependent.columns - {old}) | {new})
        moved = QualifiedName(table.schema, new)
    elif kind == "AlterObjectSchemaStmt" and fields.get("objectType") == "OBJECT_TABLE":
        table = catalog.relation_of(fields.get("relation"))[0]
        if table not in dependent.tables:
            return dependent
        moved = QualifiedName(str(fields.get("newschema") or ""), table.name)
    else:
        return dependent
    return replace(dependent, tables=(dependent.tables - {table}) | {moved})


#: ``CreateTrigStmt.events``: the trigger fires on UPDATE (``TRIGGER_TYPE_UPDATE``)
_ON_UPDATE = 16
#: ``ALTER TABLE`` subcommands that stop a trigger firing (``ENABLE REPLICA``: only in a
#: replication session), and the ones that make it fire again
_TRIGGER_OFF = frozenset({"AT_DisableTrig", "AT_EnableReplicaTrig"})
_TRIGGER_ON = frozenset({"AT_EnableTrig", "AT_EnableAlwaysTrig"})
_ALL_TRIGGERS_OFF = frozenset({"AT_DisableTrigAll", "AT_DisableTrigUser"})
_ALL_TRIGGERS_ON = frozenset({"AT_EnableTrigAll", "AT_EnableTrigUser"})


class Dependents:
    """The dependents known after the statements applied so far (:meth:`apply` each
    statement, as the catalog applies it), and the triggers that fire on an ``UPDATE``
    of each table (:meth:`update_triggers`)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Dependent] = {}
        #: enabled UPDATE triggers, as dependents of the columns of their ``UPDATE OF``
        #: (every column: ``star``), by (trigger, table it was created on)
        self._triggers: dict[tuple[str, str], Dependent] = {}
        #: the same, disabled ones
        self._disabled: dict[tuple[str, str], Dependent] = {}
        #: dropped by the change, but only in the plan's contract phase
        self._until_contract: dict[tuple[str, str], Dependent] = {}
        #: the statement being applied is dropped only in the plan's contract phase
        self.until_contract = False

    def of(
        self, table: QualifiedName, column: str, until_contract: bool = False
    ) -> list[Dependent]:
        """The dependents of ``column``; ``until_contract``: also the ones the change
        drops in the contract phase (:meth:`apply` with ``until_contract``)."""
        known = list(self._known.values())
        if until_contract:
            known += self._until_contract.values()
        return [d for d in known if d.depends_on(table, column)]

    def of_table(self, table: QualifiedName) -> list[Dependent]:
        """Every view and materialized view that names ``table`` (whatever columns it
        reads); a table's own policies and generated columns go with it."""
        return [
            d
            for d in self._known.values()
            if table in d.tables and d.kind in ("view", "materialized view")
        ]

    def update_triggers(
        self, tables: frozenset[QualifiedName], columns: frozenset[str]
    ) -> list[Dependent]:
        """The enabled triggers of ``tables`` that an ``UPDATE`` setting ``columns``
        fires (row or statement level, any ``WHEN``)."""
        return [
            trigger
            for trigger in self._triggers.values()
            if any(trigger.depends_on(table, column) for table in tables for column in columns)
        ]

    def apply(self, kind: str, fields: Node, catalog: Catalog) -> None:
        """Replay one statement; while :attr:`until_contract`, what it drops stays until
        the plan's contract phase."""
        for key, dependent in self._created(kind, fields, catalog):
            self._known[key] = dependent
        self._replay_triggers(kind, fields, catalog)
        for known in (self._known, self._until_contract, self._triggers, self._disabled):
            for key, dependent in known.items():
                known[key] = _followed(dependent, kind, fields, catalog)
        if kind == "DropStmt":
            before = dict(self._known)
            self._drop(fields, catalog)
            if self.until_contract:
                gone = {key: before[key] for key in before.keys() - self._known.keys()}
                self._until_contract.update(gone)

    def _tables(self, node: Any, catalog: Catalog) -> frozenset[QualifiedName]:
        return frozenset(catalog.relation_of(range_var)[0] for range_var in range_vars(node))

    def _created(
        self, kind: str, fields: Node, catalog: Catalog
    ) -> Iterator[tuple[tuple[str, str], Dependent]]:
        if kind == "ViewStmt":
            name = str(catalog.created_relation(fields.get("view"))[0])
            query = fields.get("query") or {}
            columns, star = _columns(query)
            tables = self._tables(query, catalog)
            yield ("relation", name), Dependent("view", name, tables, columns, star)
        elif kind == "CreateTableAsStmt" and fields.get("objtype") == "OBJECT_MATVIEW":
            name = str(catalog.created_relation((fields.get("into") or {}).get("rel"))[0])
            query = fields.get("query") or {}
            columns, star = _columns(query)
            tables = self._tables(query, catalog)
            dependent = Dependent("materialized view", name, tables, columns, star)
            yield ("relation", name), dependent
        elif kind == "CreatePolicyStmt":
            table = catalog.relation_of(fields.get("table"))[0]
            name = f"{fields.get('policy_name', '')} on {table}"
            expressions = [fields.get("qual") or {}, fields.get("with_check") or {}]
            columns, star = _columns(expressions)
            tables = self._tables(expressions, catalog) | {table}
            yield ("policy", name), Dependent("policy", name, tables, columns, star)
        elif kind in ("CreateStmt", "AlterTableStmt"):
            table = catalog.created_relation(fields.get("relation"))[0]
            for _, column in walk(fields.get("tableElts") or fields.get("cmds") or []):
                if "colname" not in column:
                    continue
                for item in column.get("constraints") or ():
                    constraint = item.get("Constraint", {})
                    if constraint.get("contype") == "CONSTR_GENERATED":
                        columns, star = _columns(constraint.get("raw_expr") or {})
                        name = f"{table}.{column['colname']}"
                        dependent = Dependent(
                            "generated column", name, frozenset({table}), columns, star
                        )
                        yield ("generated", name), dependent

    def _drop(self, fields: Node, catalog: Catalog) -> None:
        remove = fields.get("removeType")
        for item in fields.get("objects") or ():
            names = [
                part.get("String", {}).get("sval", "")
                for part in (item.get("List", {}).get("items") or ())
            ]
            if not names:
                continue
            if remove in ("OBJECT_VIEW", "OBJECT_MATVIEW"):
                schema = names[-2] if len(names) > 1 else None
                self._known.pop(("relation", str(catalog.resolve(schema, names[-1]))), None)
            elif remove == "OBJECT_POLICY" and len(names) > 1:
                table = catalog.resolve(names[-3] if len(names) > 2 else None, names[-2])
                self._known.pop(("policy", f"{names[-1]} on {table}"), None)

    def _replay_triggers(self, kind: str, fields: Node, catalog: Catalog) -> None:
        """``CREATE [OR REPLACE] TRIGGER``, ``DROP TRIGGER``, ``ALTER TABLE ... ENABLE |
        DISABLE TRIGGER`` and ``DROP TABLE``. Every trigger whose ``UPDATE OF`` or ``WHEN``
        names columns depends on them (a ``DROP COLUMN`` of one fails, 2BP01); an UPDATE
        trigger is also kept by whether it fires (:meth:`update_triggers`)."""
        if kind == "CreateTrigStmt":
            table = catalog.relation_of(fields.get("relation"))[0]
            trigger = str(fields.get("trigname") or "")
            self._forget_triggers(table, trigger)
            key = (f"trigger {trigger}", str(table))
            name, tables = trigger, frozenset({table})
            listed = frozenset(strings(fields.get("columns")))
            read, _ = _columns(fields.get("whenClause") or {})
            if listed | read:
                self._known[key] = Dependent("trigger", name, tables, listed | read)
            if int(fields.get("events") or 0) & _ON_UPDATE:
                # a WHEN true only where one of some columns changed does not fire for an
                # UPDATE that sets none of them (a WHEN beside an UPDATE OF: the list)
                changed = None if listed else _change_test(fields.get("whenClause"))
                fires_on = listed or changed or frozenset()
                self._triggers[key] = Dependent(
                    "trigger", name, tables, fires_on, star=not listed and changed is None
                )
        elif kind == "AlterTableStmt":
            table = catalog.relation_of(fields.get("relation"))[0]
            for item in fields.get("cmds") or ():
                command = item.get("AlterTableCmd", {})
                subtype = command.get("subtype")
                named = f"trigger {command.get('name') or ''}"
                for key in [*self._triggers, *self._disabled]:
                    found = self._triggers.get(key) or self._disabled[key]
                    if table not in found.tables:
                        continue
                    this = key[0] == named
                    if subtype in _ALL_TRIGGERS_OFF or (subtype in _TRIGGER_OFF and this):
                        self._disabled[key] = self._triggers.pop(key, found)
                    elif subtype in _ALL_TRIGGERS_ON or (subtype in _TRIGGER_ON and this):
                        self._triggers[key] = self._disabled.pop(key, found)
        elif kind == "DropStmt" and fields.get("removeType") in ("OBJECT_TRIGGER", "OBJECT_TABLE"):
            trigger_drop = fields.get("removeType") == "OBJECT_TRIGGER"
            for item in fields.get("objects") or ():
                names = strings(item.get("List", {}).get("items"))
                relation = names[:-1] if trigger_drop else names
                if relation:
                    schema = relation[-2] if len(relation) > 1 else None
                    table = catalog.resolve(schema, relation[-1])
                    self._forget_triggers(table, names[-1] if trigger_drop else None)

    def _forget_triggers(self, table: QualifiedName, trigger: str | None) -> None:
        """Forget trigger ``trigger`` of ``table`` (every trigger of it: ``None``)."""
        for known in (self._known, self._triggers, self._disabled):
            for key in [
                key
                for key, dependent in known.items()
                if dependent.kind == "trigger"
                and table in dependent.tables
                and (trigger is None or key[0] == f"trigger {trigger}")
            ]:
                del known[key]


#: operators that are false (or NULL) where both sides are equal
_INEQUALITIES = frozenset({"<>", "!=", "<", ">"})
_EQUALITIES = frozenset({"=", "<=", ">="})


def _change_test(node: Any) -> frozenset[str] | None:
    """The columns of which one must change value for a trigger's ``WHEN`` to be true
    (``OLD.c IS DISTINCT FROM NEW.c``, ``OLD.c <> NEW.c``, ``NOT (OLD.c = NEW.c)``,
    their ``OR``, an ``AND`` with one of them); ``None``: it may be true whatever
    changed (no ``WHEN``, ``OLD.* IS DISTINCT FROM NEW.*``, anything else)."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, body),) = node.items()
    if kind == "A_Expr":
        operator = strings(body.get("name"))
        unequal = (body.get("kind") == "AEXPR_DISTINCT" and operator == ["="]) or (
            body.get("kind") == "AEXPR_OP" and operator and operator[-1] in _INEQUALITIES
        )
        column = _old_and_new(body) if unequal else None
        return None if column is None else frozenset({column})
    if kind != "BoolExpr":
        return None
    args = body.get("args") or []
    if body.get("boolop") == "NOT_EXPR" and len(args) == 1:
        inner = args[0].get("A_Expr") if isinstance(args[0], dict) else None
        if inner is None:
            return None
        operator = strings(inner.get("name"))
        equal = (inner.get("kind") == "AEXPR_NOT_DISTINCT" and operator == ["="]) or (
            inner.get("kind") == "AEXPR_OP" and operator and operator[-1] in _EQUALITIES
        )
        column = _old_and_new(inner) if equal else None
        return None if column is None else frozenset({column})
    tests = [_change_test(arg) for arg in args]
    if body.get("boolop") == "OR_EXPR":
        if any(test is None for test in tests):
            return None
        return frozenset().union(*(test for test in tests if test is not None))
    if body.get("boolop") == "AND_EXPR":
        return next((test for test in tests if test is not None), None)
    return None


def _old_and_new(expression: Node) -> str | None:
    """The column ``c`` when ``expression`` compares ``OLD.c`` with ``NEW.c``."""
    sides = []
    for side in ("lexpr", "rexpr"):
        raw = (expression.get(side) or {}).get("ColumnRef", {}).get("fields") or []
        fields = strings(raw)
        if len(raw) != 2 or len(fields) != 2:  # not OLD.* (an A_Star)
            return None
        sides.append((fields[0], fields[1]))
    if {sides[0][0], sides[1][0]} != {"old", "new"} or sides[0][1] != sides[1][1]:
        return None
    return sides[0][1]
