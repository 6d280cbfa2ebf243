"""What the planner needs to know about the tables a change touches.

These values are the planner's whole view of the schema: columns with their types,
nullability and defaults, keys, indexes and constraints (with the SQL that recreates
them), and the foreign keys of other tables that point here. They are built from the
catalog the linter replays from earlier migrations (:mod:`migrator.plan.catalog_facts`),
so planning never needs a database; tests build them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from migrator.sql.catalog import Catalog

ConstraintKind = Literal["primary", "unique", "foreign", "check", "exclusion", "not_null"]


@dataclass(frozen=True)
class ColumnFact:
    name: str
    #: the type as SQL (``bigint``, ``character varying(20)``)
    type_sql: str
    not_null: bool = False
    #: the default expression as SQL, if any
    default_sql: str | None = None
    identity: bool = False
    #: ``GENERATED ALWAYS AS IDENTITY`` (else ``BY DEFAULT``, when :attr:`identity`)
    identity_always: bool = False
    generated: bool = False
    #: the sequence a ``serial`` column owns (its default calls ``nextval`` on it)
    owned_sequence: str | None = None
    #: added by an earlier statement of the change file: the running (old) code does
    #: not write it
    added_in_change: bool = False
    #: made NOT NULL by an earlier statement of the change file, which the plan
    #: enforces only in its contract phase
    not_null_in_change: bool = False


@dataclass(frozen=True)
class IndexFact:
    name: str
    #: the key columns in order; ``None`` for an expression in that position
    columns: tuple[str | None, ...]
    unique: bool = False
    #: the column names the index mentions anywhere (keys, expressions, INCLUDE, WHERE)
    mentions: frozenset[str] = frozenset()
    #: ``USING method (...) [INCLUDE (...)] [WHERE ...]``: the part after ``ON table``
    body_sql: str = ""
    #: the constraint this index implements (primary key / unique), if any
    constraint: str | None = None
    valid: bool = True


@dataclass(frozen=True)
class ConstraintFact:
    name: str
    kind: ConstraintKind
    columns: tuple[str, ...]
    #: the constraint as SQL after ``ADD CONSTRAINT name`` (``CHECK (x > 0)``)
    definition_sql: str = ""
    valid: bool = True
    #: for foreign keys: the referenced table as ``(schema, name)`` and its columns
    references: tuple[str, str] | None = None
    referenced_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deferred:
    """What the plan keeps on a table until its contract phase though the change
    removes it earlier (a dropped column, key or index), and what the plan can only add
    then. The replayed catalog shows the table as the change leaves it; the expand and
    backfill phases still run against the table with these."""

    schema: str = ""
    table: str = ""
    #: columns dropped only in the contract phase: their names are taken until then
    columns: frozenset[str] = frozenset()
    #: constraint and index names taken until the contract phase
    names: frozenset[str] = frozenset()
    #: the primary key's columns, when the plan drops the key only in the contract phase
    primary_key: tuple[str, ...] = ()
    #: columns added only in the contract phase (after an old one of the same name is
    #: dropped there): nothing before the contract can use them
    added: frozenset[str] = frozenset()
    #: the table itself is dropped only in the contract phase
    dropped: bool = False
    #: columns whose type the plan changes through a second column: the old column
    #: (and the keys and foreign keys on it) stays until the contract's swap
    retyped: frozenset[str] = frozenset()
    #: the foreign keys of other tables that reference :attr:`retyped` columns, as
    #: ``(schema, table, constraint)``: the swap drops and adds again exactly these
    moved_references: frozenset[tuple[str, str, str]] = frozenset()

    #: columns the plan makes through a second column and a sync trigger (renamed or
    #: retyped earlier in the change), finished only in the contract phase
    shadowed: frozenset[str] = frozenset()
    #: the plan keeps a view of the table under its old name until the contract phase
    #: (a table renamed earlier in the change): the view uses every column
    viewed_as: str = ""

    @property
    def keeps_removed(self) -> bool:
        """The plan keeps something the change removes (or adds something) only in the
        contract: not only the old column of a type change, which the swap replaces."""
        return bool(self.columns or self.names or self.primary_key or self.added or self.dropped)

    def merged(self, other: Deferred) -> Deferred:
        return Deferred(
            self.schema,
            self.table,
            self.columns | other.columns,
            self.names | other.names,
            self.primary_key or other.primary_key,
            self.added | other.added,
            self.dropped or other.dropped,
            shadowed=self.shadowed | other.shadowed,
            viewed_as=self.viewed_as or other.viewed_as,
            retyped=self.retyped | other.retyped,
            moved_references=self.moved_references | other.moved_references,
        )


@dataclass(frozen=True)
class TableFacts:
    schema: str
    name: str
    columns: Mapping[str, ColumnFact]
    indexes: tuple[IndexFact, ...] = ()
    constraints: tuple[ConstraintFact, ...] = ()
    #: foreign keys on other tables whose referenced table is this one:
    #: ``(schema, table, constraint)``
    incoming_foreign_keys: tuple[tuple[str, str, ConstraintFact], ...] = ()
    #: created earlier in the same change file: it holds no rows yet
    created_in_change: bool = False
    view: bool = False
    #: false when the replay could not see the columns (``CREATE TABLE ... AS``)
    columns_known: bool = True
    #: a system catalog (``pg_index``), not a table of the application
    system: bool = False
    #: a partitioned table (its partitions hold the rows)
    partitioned: bool = False
    #: what earlier changes of the file leave in place until the contract phase
    deferred: Deferred = field(default_factory=Deferred)

    def column(self, name: str) -> ColumnFact | None:
        return self.columns.get(name)

    @property
    def primary_key(self) -> tuple[str, ...] | None:
        for constraint in self.constraints:
            if constraint.kind == "primary":
                return constraint.columns
        return None

    def backfill_key(self) -> str | None:
        """A single column whose values identify rows: the primary key, else a column
        with a unique index (no expression, no WHERE) that is NOT NULL."""
        key = self.primary_key
        if key is not None and len(key) == 1:
            return key[0]
        for index in self.indexes:
            if (
                index.unique
                and len(index.columns) == 1
                and index.columns[0] is not None
                and " WHERE " not in f" {index.body_sql.upper()} "
            ):
                column = self.columns.get(index.columns[0])
                if column is not None and column.not_null:
                    return column.name
        return None

    def indexes_mentioning(self, column: str) -> tuple[IndexFact, ...]:
        return tuple(index for index in self.indexes if column in index.mentions)

    def constraints_on(self, column: str) -> tuple[ConstraintFact, ...]:
        return tuple(c for c in self.constraints if column in c.columns)

    def has_index_leading_with(self, columns: tuple[str, ...]) -> bool:
        """Some index's first key columns are exactly ``columns`` (in any order)."""
        wanted = set(columns)
        return any(
            set(index.columns[: len(columns)]) == wanted
            for index in self.indexes
            if len(index.columns) >= len(columns)
        )

    def incoming_on(self, column: str) -> tuple[tuple[str, str, ConstraintFact], ...]:
        """Foreign keys of other tables that reference ``column`` (a foreign key that
        names no columns references the primary key)."""
        return tuple(
            item
            for item in self.incoming_foreign_keys
            if column in (item[2].referenced_columns or self.primary_key or ())
        )


class SchemaFacts(Protocol):
    """Where the planner looks tables up (the replayed catalog, or a test's dict)."""

    def table(self, schema: str | None, name: str) -> TableFacts | None:
        """The table ``name`` in ``schema`` (``None``: resolved by the search path)."""
        ...

    def default_schema(self) -> str:
        """The schema unqualified names resolve to when creating objects."""
        ...

    def index(self, schema: str | None, name: str) -> tuple[TableFacts, IndexFact] | None:
        """The index ``name`` and the table it belongs to."""
        ...

    def enum(self, schema: str | None, name: str) -> tuple[str, ...] | None:
        """The values of the enum type ``name``; ``None`` when no migration created it."""
        ...

    def dropped_later(self, schema: str | None, name: str) -> bool:
        """The change drops the table ``name``, which the plan keeps until the contract."""
        ...

    def update_triggers(self, schema: str, table: str, columns: frozenset[str]) -> tuple[str, ...]:
        """The enabled triggers an ``UPDATE`` of ``table`` that sets ``columns`` fires
        (``trigger a_version on public.a``), the table's and its partitions' or
        parents'."""
        ...

    def dropped_foreign_key(
        self, schema: str, table: str, columns: tuple[str, ...]
    ) -> Mapping[str, Any] | None:
        """The definition (parse tree) of a foreign key of ``table`` on ``columns`` that
        an earlier statement of the change dropped (one that a new foreign key
        replaces), or None."""
        ...

    def name_held(self, schema: str | None, name: str) -> bool:
        """``name`` belongs to an index or constraint of some table of ``schema`` that
        the change drops, which the plan keeps until the contract phase (index names
        are shared by the whole schema)."""
        ...

    def table_dependents(self, schema: str, table: str) -> tuple[str, ...]:
        """The views and materialized views that name ``table``, as
        :meth:`dependents_of` says them."""
        ...

    def dependents_of(
        self, schema: str, table: str, column: str, *, until_contract: bool = False
    ) -> tuple[str, ...]:
        """What depends on ``column`` of ``table`` (``view public.v``, ``policy p on
        public.t``, ``generated column public.t.g``); ``until_contract``: also the views
        the change drops, which the plan drops only in its contract phase."""
        ...

    @property
    def catalog(self) -> Catalog | None:
        """The replayed catalog (its functions judge a default's volatility), if any."""
        ...

    def claim_name(self, schema: str | None, name: str) -> bool:
        """Take ``name`` in ``schema`` for an object the plan makes up (a sync function,
        a ``_new`` index): false when a table, index or function of the replayed schema
        has it, or the plan took it already."""
        ...


@dataclass(frozen=True)
class StaticSchemaFacts:
    """:class:`SchemaFacts` over a fixed set of tables (tests, and tables planned from
    facts the caller already has)."""

    tables: tuple[TableFacts, ...]
    schema: str = "public"
    #: enum types: ``(schema, name) -> values``
    enums: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: names the plan made up so far (:meth:`claim_name`)
    claimed: set[tuple[str, str]] = field(default_factory=set)

    def table(self, schema: str | None, name: str) -> TableFacts | None:
        for table in self.tables:
            if table.name == name and table.schema == (schema or self.schema):
                return table
        return None

    def default_schema(self) -> str:
        return self.schema

    def index(self, schema: str | None, name: str) -> tuple[TableFacts, IndexFact] | None:
        for table in self.tables:
            if table.schema != (schema or self.schema):
                continue
            for index in table.indexes:
                if index.name == name:
                    return table, index
        return None

    def enum(self, schema: str | None, name: str) -> tuple[str, ...] | None:
        return self.enums.get((schema or self.schema, name))

    def dropped_later(self, schema: str | None, name: str) -> bool:
        return False

    def name_held(self, schema: str | None, name: str) -> bool:
        return any(
            name in table.deferred.names
            for table in self.tables
            if table.schema == (schema or self.schema)
        )

    def table_dependents(self, schema: str, table: str) -> tuple[str, ...]:
        return ()

    def update_triggers(self, schema: str, table: str, columns: frozenset[str]) -> tuple[str, ...]:
        return ()

    def dropped_foreign_key(
        self, schema: str, table: str, columns: tuple[str, ...]
    ) -> Mapping[str, Any] | None:
        return None

    def dependents_of(
        self, schema: str, table: str, column: str, *, until_contract: bool = False
    ) -> tuple[str, ...]:
        return ()

    @property
    def catalog(self) -> Catalog | None:
        return None

    def claim_name(self, schema: str | None, name: str) -> bool:
        key = (schema or self.schema, name)
        taken = {(t.schema, t.name) for t in self.tables} | {
            (t.schema, index.name) for t in self.tables for index in t.indexes
        }
        if key in taken or key in self.claimed:
            return False
        self.claimed.add(key)
        return True
