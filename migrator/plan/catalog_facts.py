"""The planner's view of the schema, read from the catalog the linter replays
(:mod:`migrator.sql.file_replay`, the one replay): every earlier migration's up file,
then the statements of the change file (and the subcommands of its ``ALTER TABLE``)
that come before the one being planned, with what the changes planned so far defer to
the contract phase."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from migrator.plan.dependents import Dependents
from migrator.plan.facts import (
    ColumnFact,
    ConstraintFact,
    ConstraintKind,
    Deferred,
    IndexFact,
    TableFacts,
)
from migrator.plan.model import Change
from migrator.plan.sql_text import mentioned_columns, parse_statement, qualified
from migrator.source.model import Migration
from migrator.sql.catalog import Catalog, Column, Constraint, Index, Table
from migrator.sql.file_replay import Replay
from migrator.sql.names import QualifiedName
from migrator.sql.syntax import deparse, make, string

_KINDS: dict[str, ConstraintKind] = {
    "primary key": "primary",
    "unique": "unique",
    "foreign key": "foreign",
    "check": "check",
    "exclusion": "exclusion",
    "not null": "not_null",
}
_CONSTRAINT_NAME = re.compile(r'^CONSTRAINT\s+(?:"(?:[^"]|"")+"|\S+)\s+', re.IGNORECASE)
#: ``USING INDEX name`` of a key made from an index built before
_USING_INDEX = re.compile(r'\s*USING\s+INDEX\s+(?:"(?:[^"]|"")+"|\S+)', re.IGNORECASE)
#: serial types: the type the column really has
_SERIALS = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}


def replay(migrations: Iterable[Migration], dependents: Dependents | None = None) -> Replay:
    """The replay after every up file of ``migrations``, in order, as the linter
    replays them (:class:`~migrator.sql.file_replay.Replay`), keeping the ``dependents``
    of their columns when given; the change file's statements continue it."""
    replaying = Replay(Catalog(), None if dependents is None else dependents.apply)
    for migration in migrations:
        replaying.file(
            migration.up.statements,
            f"{migration.label}.up",
            transactional=migration.up.transactional,
        )
    return replaying


#: the replay units of the change file start with this (:mod:`.exclusive_locks`)
CHANGE_UNIT = "the change"


def _column(table: Table, column: Column, before: Table | None) -> ColumnFact:
    type_sql = column.type.sql
    default = column.default_sql
    sequence = None
    serial = column.type.name in _SERIALS and column.type.schema is None and not column.type.array
    if serial:
        type_sql = _SERIALS[column.type.name]
    if (serial or column.sequence) and column.identity is None:
        # the name the replay gave it when the column was created: a later rename of
        # the table or column keeps it (plandiff F46: a_id_seq of a table now named r2),
        # and so does a type change (the column still owns it)
        sequence = column.sequence or f"{table.name.name}_{column.name}_seq"
        if column.default_node is None:
            default = f"nextval({_regclass(table.name.schema, sequence)})"
    return ColumnFact(
        name=column.name,
        type_sql=type_sql,
        not_null=column.not_null,
        default_sql=default,
        identity=column.identity is not None,
        identity_always=column.identity == "always",
        generated=column.generated,
        owned_sequence=sequence,
        added_in_change=column.origin.unit.startswith(CHANGE_UNIT),
        not_null_in_change=column.not_null
        and not (
            before is not None and (was := before.column(column.name)) is not None and was.not_null
        ),
    )


def _regclass(schema: str, name: str) -> str:
    text = name if schema == "public" else f"{schema}.{name}"
    return "'" + qualified(None, text).replace("'", "''") + "'::regclass"


def _table_constraint(definition: str, kind: ConstraintKind, columns: tuple[str, ...]) -> Any:
    """The constraint as a table constraint node (a column constraint such as
    ``REFERENCES p (id)`` or ``PRIMARY KEY`` gets its column list)."""
    text = _CONSTRAINT_NAME.sub("", definition, count=1)
    column_list = "(" + ", ".join(qualified(None, c) for c in columns) + ")"
    if kind in ("primary", "unique") and _USING_INDEX.search(text):
        # ADD CONSTRAINT ... UNIQUE USING INDEX i: the key is over the index's columns
        text = _USING_INDEX.sub("", text).strip() + f" {column_list}"
    if kind == "foreign" and text.upper().startswith("REFERENCES"):
        text = f"FOREIGN KEY {column_list} {text}"
    elif kind in ("primary", "unique") and "(" not in text:
        text = f"{text} {column_list}"
    return parse_statement(f"ALTER TABLE t ADD {text}").cmds[0].def_


def _constraint(constraint: Constraint) -> ConstraintFact | None:
    kind = _KINDS.get(constraint.kind)
    if kind is None:
        return None
    definition = ""
    columns = constraint.columns
    if constraint.definition:
        node = _table_constraint(constraint.definition, kind, columns)
        node.conname = None
        node.skip_validation = False
        node.initially_valid = True
        if kind == "foreign" and not node.fk_attrs:
            node.fk_attrs = tuple(string(c) for c in columns)
        if kind in ("primary", "unique") and not node.keys:
            node.keys = tuple(string(c) for c in columns)
        definition = deparse(node)
        if kind == "check" and node.raw_expr is not None:
            columns = tuple(mentioned_columns(node.raw_expr))
    references = None
    if constraint.references is not None:
        references = (constraint.references.schema, constraint.references.name)
    return ConstraintFact(
        name=constraint.name,
        kind=kind,
        columns=columns,
        definition_sql=definition,
        valid=constraint.valid,
        references=references,
        referenced_columns=constraint.referenced_columns,
    )


def _index(index: Index) -> IndexFact:
    body = ""
    mentions: frozenset[str] = frozenset(c for c in index.columns if c is not None)
    if index.definition:
        statement = parse_statement(index.definition)
        statement.idxname = None
        statement.relation = make("RangeVar", relname="t", inh=True, relpersistence="p")
        statement.concurrent = False
        statement.if_not_exists = False
        statement.unique = False
        text = deparse(statement)
        body = text[text.index(" ON t ") + len(" ON t ") :]
        mentions = frozenset(mentioned_columns(statement))
    elif index.columns and None not in index.columns:
        body = "(" + ", ".join(qualified(None, c) for c in index.columns if c) + ")"
    return IndexFact(
        name=index.name.name,
        columns=index.columns,
        unique=index.unique or index.primary,
        mentions=mentions,
        body_sql=body,
        constraint=index.constraint,
        valid=index.valid,
    )


class CatalogFacts:
    """:class:`~migrator.plan.facts.SchemaFacts` over a replayed :class:`Catalog`."""

    def __init__(self, catalog: Catalog, dependents: Dependents | None = None) -> None:
        self.catalog = catalog
        #: the schema as the earlier migrations left it, before the change
        self.before = catalog.copy()
        self.dependents = dependents or Dependents()
        self._deferred: dict[tuple[str, str], Deferred] = {}
        self._claimed: set[QualifiedName] = set()
        #: the facts of each catalog value, by identity: the values are immutable and
        #: outlive many statements, and their facts are parsed from their definitions
        self._constraints: dict[int, tuple[Constraint, ConstraintFact | None]] = {}
        self._indexes: dict[int, tuple[Index, IndexFact]] = {}

    def _constraint(self, constraint: Constraint) -> ConstraintFact | None:
        known = self._constraints.get(id(constraint))
        if known is None or known[0] is not constraint:
            known = self._constraints[id(constraint)] = (constraint, _constraint(constraint))
        return known[1]

    def _index(self, index: Index) -> IndexFact:
        known = self._indexes.get(id(index))
        if known is None or known[0] is not index:
            known = self._indexes[id(index)] = (index, _index(index))
        return known[1]

    def dependents_of(
        self, schema: str, table: str, column: str, *, until_contract: bool = False
    ) -> tuple[str, ...]:
        found = self.dependents.of(QualifiedName(schema, table), column, until_contract)
        return tuple(dependent.label for dependent in found)

    def table_dependents(self, schema: str, table: str) -> tuple[str, ...]:
        found = self.dependents.of_table(QualifiedName(schema, table))
        return tuple(f"{dependent.kind} {dependent.name}" for dependent in found)

    def update_triggers(self, schema: str, table: str, columns: frozenset[str]) -> tuple[str, ...]:
        name = QualifiedName(schema, table)
        related = {name}
        parent = self.catalog.table(name)
        while parent is not None and parent.partition_of is not None:
            related.add(parent.partition_of)
            parent = self.catalog.table(parent.partition_of)
        grown = True
        while grown:  # the partitions, and theirs
            found = {
                t.name
                for t in self.catalog.tables()
                if t.partition_of in related and t.name not in related
            }
            related |= found
            grown = bool(found)
        fired = self.dependents.update_triggers(frozenset(related), columns)
        return tuple(trigger.label for trigger in fired)

    def dropped_foreign_key(
        self, schema: str, table: str, columns: tuple[str, ...]
    ) -> Mapping[str, Any] | None:
        name = QualifiedName(schema, table)
        before, now = self.before.table(name), self.catalog.table(name)
        if before is None or now is None:
            return None
        kept = {c.name for c in now.foreign_keys}
        for constraint in before.foreign_keys:
            if set(constraint.columns) == set(columns) and constraint.name not in kept:
                return constraint.node or {}
        return None

    def name_held(self, schema: str | None, name: str) -> bool:
        wanted = schema or self.default_schema()
        return any(
            name in deferred.names
            for (held_in, _), deferred in self._deferred.items()
            if held_in == wanted
        )

    def claim_name(self, schema: str | None, name: str) -> bool:
        key = QualifiedName(schema or self.default_schema(), name)
        taken = (
            self.catalog.table(key) is not None
            or self.catalog.index(key) is not None
            or self.catalog.function(key) is not None
        )
        if taken or key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    def note_deferred(self, changes: Sequence[Change]) -> None:
        """Remember what ``changes`` leave in place until the contract phase (or add
        only then): the tables of later changes carry it."""
        for change in changes:
            for item in change.deferred:
                key = (item.schema, item.table)
                known = self._deferred.get(key)
                self._deferred[key] = item if known is None else known.merged(item)

    @property
    def retyped_keys(self) -> tuple[Deferred, ...]:
        """What the changes so far swap only in the contract (:attr:`Deferred.retyped`)."""
        return tuple(deferred for deferred in self._deferred.values() if deferred.retyped)

    def dropped_later(self, schema: str | None, name: str) -> bool:
        resolved = self.catalog.resolve(schema, name)
        deferred = self._deferred.get((resolved.schema, resolved.name))
        return deferred is not None and deferred.dropped

    def default_schema(self) -> str:
        path = [s for s in self.catalog.search_path if s not in ("$user", "pg_temp")]
        return path[0] if path else "public"

    def index(self, schema: str | None, name: str) -> tuple[TableFacts, IndexFact] | None:
        index = self.catalog.index(QualifiedName(*self.catalog.resolve(schema, name, kind="index")))
        if index is None:
            return None
        table = self.table(index.table.schema, index.table.name)
        if table is None:
            return None
        return table, self._index(index)

    def enum(self, schema: str | None, name: str) -> tuple[str, ...] | None:
        found = self.catalog.enum(QualifiedName(*self.catalog.resolve(schema, name, kind="type")))
        return None if found is None else found.values

    def table(self, schema: str | None, name: str) -> TableFacts | None:
        table = self.catalog.table(QualifiedName(*self.catalog.resolve(schema, name)))
        if table is None:
            return None
        incoming = []
        for other in self.catalog.tables():
            for constraint in other.foreign_keys:
                if constraint.references == table.name:
                    fact = self._constraint(constraint)
                    if fact is not None:
                        incoming.append((other.name.schema, other.name.name, fact))
        constraints = tuple(
            fact for c in table.constraints if (fact := self._constraint(c)) is not None
        )
        before = self.before.table(table.name)
        return TableFacts(
            schema=table.name.schema,
            name=table.name.name,
            columns={c.name: _column(table, c, before) for c in table.columns},
            indexes=tuple(self._index(index) for index in table.indexes),
            constraints=constraints,
            incoming_foreign_keys=tuple(incoming),
            created_in_change=self.catalog.is_new(table),
            view=table.kind in ("view", "materialized view"),
            columns_known=table.columns_known,
            system=table.system,
            partitioned=table.partitioned,
            deferred=self._deferred.get(
                (table.name.schema, table.name.name),
                Deferred(table.name.schema, table.name.name),
            ),
        )
