"""A schema model replayed from parsed migration statements. Pure: no database.

The linter and the planner need to know what earlier migrations built: which tables
exist, their columns (type, nullability, default), constraints (kind, columns,
validity), indexes, enum types, and which objects the current migration created a
moment ago (those hold no data, so nothing about them can lock anything busy).

Usage::

    catalog = Catalog()
    catalog.begin_file("0001_init.up")           # objects created now are "new"
    for statement in parse_text(sql) or ():
        catalog.apply(statement.kind, statement.fields)
    users = catalog.table("public.users")        # a Table, or None if never created
    users.column("email").type.sql               # 'varchar(255)'
    users.primary_key.columns                    # ('id',)
    users.indexes_covering("email")              # indexes that contain the column
    catalog.is_new(users)                        # created by the current file?

Values (:class:`Table`, :class:`Column`, :class:`Constraint`, :class:`Index`,
:class:`Enum`) are frozen; the :class:`Catalog` holds the current value of each and
replaces it on every change, so :meth:`Catalog.copy` is cheap and a copy never sees
later changes.

Name resolution follows PostgreSQL: the parser folds unquoted names and keeps quoted
ones exact; an unqualified name is looked up along ``search_path`` (``public`` unless
the file sets it; it is reset for every file), and created in its first schema. The
system catalogs come first (``pg_catalog`` is searched before the path unless the path
names it): an unqualified ``pg_class`` is ``pg_catalog.pg_class``. A relation of
``pg_catalog`` the replay did not create is known, as a system table
(:attr:`Table.system`), and never changed by the replay (PostgreSQL refuses DDL on it).

Limits: objects the directory never created are unknown (``table()`` returns
``None``): they existed before the first migration, shape unknown. Statements the model
does not understand change nothing. Function bodies and ``DO`` blocks are not run.
Functions are known by name: the overloads of a name share one :class:`Function`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from migrator.sql.deparse import deparse
from migrator.sql.names import (
    QualifiedName,
    TypeRef,
    parse_qualified,
    relation_name,
)
from migrator.sql.parse import Node

DEFAULT_SEARCH_PATH: tuple[str, ...] = ("public",)

#: the schema of PostgreSQL's system catalogs
SYSTEM_SCHEMA = "pg_catalog"
# the tables of pg_catalog, then its views (PostgreSQL 15, and the views added since)
_SYSTEM_RELATION_NAMES = """
    pg_aggregate pg_am pg_amop pg_amproc pg_attrdef pg_attribute pg_auth_members pg_authid
    pg_cast pg_class pg_collation pg_constraint pg_conversion pg_database pg_db_role_setting
    pg_default_acl pg_depend pg_description pg_enum pg_event_trigger pg_extension
    pg_foreign_data_wrapper pg_foreign_server pg_foreign_table pg_index pg_inherits
    pg_init_privs pg_language pg_largeobject pg_largeobject_metadata pg_namespace pg_opclass
    pg_operator pg_opfamily pg_parameter_acl pg_partitioned_table pg_policy pg_proc
    pg_publication pg_publication_namespace pg_publication_rel pg_range pg_replication_origin
    pg_rewrite pg_seclabel pg_sequence pg_shdepend pg_shdescription pg_shseclabel
    pg_statistic pg_statistic_ext pg_statistic_ext_data pg_subscription pg_subscription_rel
    pg_tablespace pg_transform pg_trigger pg_ts_config pg_ts_config_map pg_ts_dict
    pg_ts_parser pg_ts_template pg_type pg_user_mapping

    pg_aios pg_available_extension_versions pg_available_extensions
    pg_backend_memory_contexts pg_config pg_cursors pg_file_settings pg_group
    pg_hba_file_rules pg_ident_file_mappings pg_indexes pg_locks pg_matviews pg_policies
    pg_prepared_statements pg_prepared_xacts pg_publication_tables
    pg_replication_origin_status pg_replication_slots pg_roles pg_rules pg_seclabels
    pg_sequences pg_settings pg_shadow pg_shmem_allocations pg_stat_activity
    pg_stat_all_indexes pg_stat_all_tables pg_stat_archiver pg_stat_bgwriter
    pg_stat_checkpointer pg_stat_database pg_stat_database_conflicts pg_stat_gssapi
    pg_stat_io pg_stat_progress_analyze pg_stat_progress_basebackup pg_stat_progress_cluster
    pg_stat_progress_copy pg_stat_progress_create_index pg_stat_progress_vacuum
    pg_stat_recovery_prefetch pg_stat_replication pg_stat_replication_slots pg_stat_slru
    pg_stat_ssl pg_stat_subscription pg_stat_subscription_stats pg_stat_sys_indexes
    pg_stat_sys_tables pg_stat_user_functions pg_stat_user_indexes pg_stat_user_tables
    pg_stat_wal pg_stat_wal_receiver pg_stat_xact_all_tables pg_stat_xact_sys_tables
    pg_stat_xact_user_functions pg_stat_xact_user_tables pg_statio_all_indexes
    pg_statio_all_sequences pg_statio_all_tables pg_statio_sys_indexes
    pg_statio_sys_sequences pg_statio_sys_tables pg_statio_user_indexes
    pg_statio_user_sequences pg_statio_user_tables pg_stats pg_stats_ext pg_stats_ext_exprs
    pg_tables pg_timezone_abbrevs pg_timezone_names pg_user pg_user_mappings pg_views
    pg_wait_events
"""
#: the relations of ``pg_catalog``: an unqualified name among them means the catalog
SYSTEM_RELATIONS = frozenset(_SYSTEM_RELATION_NAMES.split())

ConstraintKind = Literal["primary key", "unique", "check", "foreign key", "exclusion", "not null"]
TableKind = Literal["table", "partitioned table", "view", "materialized view"]

CONSTRAINT_KINDS: dict[str, ConstraintKind] = {
    "CONSTR_PRIMARY": "primary key",
    "CONSTR_UNIQUE": "unique",
    "CONSTR_CHECK": "check",
    "CONSTR_FOREIGN": "foreign key",
    "CONSTR_EXCLUSION": "exclusion",
    "CONSTR_NOTNULL": "not null",
}


@dataclass(frozen=True)
class Origin:
    """Where an object was created or a fact established: the file (``unit``) and the
    transaction within the replay (a counter; each file's transactions get new ones)."""

    unit: str
    transaction: int


#: objects that existed before the replay began
BEFORE = Origin("", 0)


@dataclass(frozen=True)
class Column:
    """A table column."""

    name: str
    type: TypeRef
    not_null: bool = False
    #: the default expression as a JSON parse tree (``None``: no default)
    default_node: Node | None = field(default=None, compare=False, repr=False)
    identity: Literal["always", "by default"] | None = None
    generated: bool = False
    origin: Origin = BEFORE
    #: the sequence PostgreSQL created for a serial or identity column (in the table's
    #: schema), named when the column was created: it keeps that name through renames
    sequence: str | None = None
    #: the sequence the default takes its values from (a serial column's own, or the one
    #: a ``nextval('s')`` default names): PostgreSQL records the default as depending on
    #: it, so dropping the sequence (with the table or column that owns it) fails while
    #: the default stays (2BP01). A partition's copy of the parent's serial default
    #: names the parent's sequence, and still does once the partition is detached
    #: (plandiff F54).
    default_sequence: QualifiedName | None = field(default=None, compare=False)

    @property
    def has_default(self) -> bool:
        return self.default_node is not None

    @property
    def default_sql(self) -> str | None:
        """The default expression as SQL (computed on demand)."""
        if self.default_node is None:
            return None
        ((kind, fields),) = self.default_node.items()
        return deparse(kind, fields)


@dataclass(frozen=True)
class Constraint:
    """A table constraint. ``valid`` is false for one added ``NOT VALID`` and not yet
    validated; ``validated`` says where it became valid."""

    name: str
    kind: ConstraintKind
    columns: tuple[str, ...] = ()
    valid: bool = True
    #: for foreign keys: the referenced table and columns
    references: QualifiedName | None = None
    referenced_columns: tuple[str, ...] = ()
    #: columns a CHECK proves NOT NULL (``CHECK (c IS NOT NULL)``, or a conjunction)
    proves_not_null: tuple[str, ...] = ()
    #: the index a PRIMARY KEY / UNIQUE constraint uses
    index: str | None = None
    origin: Origin = BEFORE
    validated: Origin | None = BEFORE
    node: Node | None = field(default=None, compare=False, repr=False)

    @property
    def definition(self) -> str:
        """``CONSTRAINT name CHECK (...)`` etc. as SQL ('' when unknown)."""
        return deparse("Constraint", {**self.node, "conname": self.name}) if self.node else ""


@dataclass(frozen=True)
class Index:
    """An index of a table (including those backing PRIMARY KEY / UNIQUE constraints).

    ``columns`` holds the key columns in order; an expression key is ``None``.
    """

    name: QualifiedName
    table: QualifiedName
    columns: tuple[str | None, ...] = ()
    unique: bool = False
    primary: bool = False
    partial: bool = False
    method: str = "btree"
    valid: bool = True
    #: the constraint this index backs, if any
    constraint: str | None = None
    origin: Origin = BEFORE
    node: Node | None = field(default=None, compare=False, repr=False)

    @property
    def definition(self) -> str:
        """``CREATE INDEX ...`` as SQL ('' for constraint-backed indexes)."""
        return deparse("IndexStmt", self.node) if self.node else ""


@dataclass(frozen=True)
class Table:
    """A table (or view, materialized view, partitioned table) and what is known of it.

    ``columns_known`` is false when the columns came from something the model cannot
    see (``CREATE TABLE ... AS``, ``LIKE``, a view's query).
    """

    name: QualifiedName
    kind: TableKind = "table"
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    partition_of: QualifiedName | None = None
    #: the tables it inherits from (``INHERITS``, ``ALTER TABLE ... INHERIT``): each
    #: one's ``DROP TABLE`` fails while it does, without ``CASCADE`` (2BP01)
    inherits: tuple[QualifiedName, ...] = ()
    columns_known: bool = True
    origin: Origin = BEFORE
    #: a system catalog (a relation of ``pg_catalog``), not a table of the application
    system: bool = False
    #: created by ``CREATE TABLE ... AS`` / ``SELECT ... INTO`` from a query that reads
    #: tables: new, yet it holds whatever rows the query returned (possibly many)
    filled: bool = False

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def constraint(self, name: str) -> Constraint | None:
        for constraint in self.constraints:
            if constraint.name == name:
                return constraint
        return None

    @property
    def partitioned(self) -> bool:
        return self.kind == "partitioned table"

    @property
    def primary_key(self) -> Constraint | None:
        for constraint in self.constraints:
            if constraint.kind == "primary key":
                return constraint
        return None

    @property
    def foreign_keys(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "foreign key")

    @property
    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column sets that identify a row: the primary key first, then every unique
        constraint or full unique index whose columns are all NOT NULL."""
        keys: list[tuple[str, ...]] = []
        if self.primary_key is not None:
            keys.append(self.primary_key.columns)
        for index in self.indexes:
            if not index.unique or index.partial or not index.valid or None in index.columns:
                continue
            columns = tuple(c for c in index.columns if c is not None)
            if columns in keys:
                continue
            if all((col := self.column(c)) is not None and col.not_null for c in columns):
                keys.append(columns)
        return tuple(keys)

    def indexes_covering(self, column: str) -> tuple[Index, ...]:
        """Indexes with ``column`` among their key columns."""
        return tuple(index for index in self.indexes if column in index.columns)

    def indexes_leading_with(self, columns: Iterable[str]) -> tuple[Index, ...]:
        """Valid indexes whose first key columns are ``columns`` (in any order)."""
        wanted = set(columns)
        found = []
        for index in self.indexes:
            lead = index.columns[: len(wanted)]
            if index.valid and not index.partial and set(lead) == wanted:
                found.append(index)
        return tuple(found)


@dataclass(frozen=True)
class Enum:
    """An enum type and its values in order."""

    name: QualifiedName
    values: tuple[str, ...] = ()
    origin: Origin = BEFORE


@dataclass(frozen=True)
class Function:
    """A function (or procedure) the directory created or altered: enough to judge a
    default's volatility and whether ``SECURITY DEFINER`` is safe."""

    name: QualifiedName
    #: ``None`` when unknown (a function from before the first migration, altered)
    volatility: Literal["immutable", "stable", "volatile"] | None = "volatile"
    origin: Origin = BEFORE
    security_definer: bool = False
    #: the function sets its own ``search_path`` (``SET search_path = ...``)
    own_search_path: bool = False


def _system_table(name: QualifiedName) -> Table:
    """What the model knows of the system catalog ``name``: that it is one."""
    return Table(name, columns_known=False, system=True)


class Catalog:
    """The schema as replayed so far. Mutable container of frozen values.

    Read with :meth:`table`, :meth:`index`, :meth:`enum`, :meth:`function`,
    :meth:`tables`, :meth:`has_schema`; judge newness with :meth:`is_new`; replay with
    :meth:`begin_file`, :meth:`begin_transaction` and :meth:`apply`.
    """

    def __init__(self, search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH) -> None:
        self.default_search_path = search_path
        self.search_path = search_path
        self.unit = ""
        self.new_units: frozenset[str] = frozenset()
        self.transaction = 0
        self._tables: dict[QualifiedName, Table] = {}
        #: index name -> table name
        self._index_tables: dict[QualifiedName, QualifiedName] = {}
        self._enums: dict[QualifiedName, Enum] = {}
        self._functions: dict[QualifiedName, Function] = {}
        self._schemas: dict[str, Origin] = {"public": BEFORE}
        #: sequences (``CREATE SEQUENCE``, a serial or identity column's): name -> origin
        self._sequences: dict[QualifiedName, Origin] = {}
        #: the table each owned sequence goes with (``OWNED BY``, serial, identity)
        self._sequence_owners: dict[QualifiedName, QualifiedName] = {}
        #: tables renamed or moved by the current file: old name -> new name
        self._moved: dict[QualifiedName, QualifiedName] = {}
        #: the same for functions
        self._moved_functions: dict[QualifiedName, QualifiedName] = {}
        self._path_cache: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    # -- replay bookkeeping ------------------------------------------------------------

    def copy(self) -> Catalog:
        """An independent copy (values are shared: they are immutable)."""
        other = Catalog.__new__(Catalog)
        other.__dict__.update(self.__dict__)
        for key in (
            "_tables",
            "_index_tables",
            "_enums",
            "_functions",
            "_schemas",
            "_sequences",
            "_sequence_owners",
            "_moved",
            "_moved_functions",
        ):
            setattr(other, key, dict(getattr(self, key)))
        return other

    def begin_file(self, unit: str, also_new: Iterable[str] = ()) -> None:
        """Start replaying a file: objects it creates are new; ``search_path`` is reset.

        ``also_new`` names other units whose objects count as new too (a down file
        treats what its own up file created as new).
        """
        self.unit = unit
        self.new_units = frozenset({unit, *also_new})
        self.search_path = self.default_search_path
        self._moved = {}
        self._moved_functions = {}
        self.begin_transaction()

    def begin_transaction(self) -> None:
        """The statements that follow run in a new transaction."""
        self.transaction += 1

    @property
    def origin(self) -> Origin:
        """Where an object created now comes from."""
        return Origin(self.unit, self.transaction)

    def is_new(self, thing: Table | Column | Constraint | Index | Enum | Function) -> bool:
        """Created by the file being replayed (so it holds no data yet)."""
        return self.is_new_origin(thing.origin)

    def is_new_origin(self, origin: Origin) -> bool:
        return bool(origin.unit) and origin.unit in self.new_units

    # -- lookups ---------------------------------------------------------------------

    def resolve(self, schema: str | None, name: str, *, kind: str = "relation") -> QualifiedName:
        """The qualified name an unqualified or qualified reference means now.

        An unqualified name is found along ``search_path``; if nothing of that name
        exists, it resolves to the first schema of the path (where it would be created).
        A system catalog's name resolves to ``pg_catalog`` (see :meth:`_system_relation`).
        """
        if schema:
            return QualifiedName(schema, name)
        if kind == "relation" and name in SYSTEM_RELATIONS:
            return self._system_relation(name)
        if kind == "relation":
            store: dict[QualifiedName, Any] = self._tables
        elif kind == "index":
            store = self._index_tables
        elif kind == "type":
            store = self._enums
        elif kind == "sequence":
            store = self._sequences
        else:
            store = self._functions
        path = self._effective_path()
        if len(path) == 1:
            return QualifiedName(path[0], name)
        for candidate in path:
            qualified = QualifiedName(candidate, name)
            if qualified in store:
                return qualified
        return QualifiedName(path[0], name)

    def _system_relation(self, name: str) -> QualifiedName:
        """The relation an unqualified system catalog name means: ``pg_catalog``'s,
        which PostgreSQL searches first unless ``search_path`` names it; where the path
        names it, a table of a schema before it that the replay knows comes first."""
        if SYSTEM_SCHEMA in self.search_path:
            for candidate in self.search_path:
                qualified = QualifiedName(candidate, name)
                if candidate == SYSTEM_SCHEMA or qualified in self._tables:
                    return qualified
        return QualifiedName(SYSTEM_SCHEMA, name)

    def _effective_path(self) -> tuple[str, ...]:
        """``search_path`` without the entries that never hold migration objects."""
        if self._path_cache[0] is not self.search_path:
            path = tuple(s for s in self.search_path if s not in ("$user", "pg_temp"))
            self._path_cache = (self.search_path, path or ("public",))
        return self._path_cache[1]

    def _lookup(self, name: str | QualifiedName, kind: str) -> QualifiedName:
        if isinstance(name, tuple):
            return QualifiedName(*name)
        schema, bare = parse_qualified(name)
        return self.resolve(schema, bare, kind=kind)

    def table(self, name: str | QualifiedName) -> Table | None:
        """The table, view or materialized view named ``name`` (``"public.users"``,
        ``"users"`` along ``search_path``, or a :class:`QualifiedName`), or ``None`` when
        the replay never created it (a relation of ``pg_catalog`` is known all the same:
        a :attr:`~Table.system` table of unknown columns)."""
        qualified = self._lookup(name, "relation")
        table = self._tables.get(qualified)
        if table is None and qualified.schema == SYSTEM_SCHEMA:
            return _system_table(qualified)
        return table

    def current_name(self, name: QualifiedName, kind: str = "relation") -> QualifiedName:
        """What the table (``kind="function"``: the function) called ``name`` earlier in
        the current file is called now (after ``RENAME TO`` / ``SET SCHEMA``)."""
        moved = self._moves(kind)
        seen = {name}
        while name in moved and moved[name] not in seen:
            name = moved[name]
            seen.add(name)
        return name

    def _moves(self, kind: str) -> dict[QualifiedName, QualifiedName]:
        return self._moved_functions if kind == "function" else self._moved

    def tables(self) -> Iterator[Table]:
        return iter(self._tables.values())

    def index(self, name: str | QualifiedName) -> Index | None:
        qualified = self._lookup(name, "index")
        table = self._tables.get(self._index_tables.get(qualified, qualified))
        if table is None:
            return None
        for index in table.indexes:
            if index.name == qualified:
                return index
        return None

    def relation_taken(self, name: QualifiedName) -> bool:
        """Whether a table, view, index or sequence of the model has the qualified
        ``name``."""
        return name in self._tables or name in self._sequences or self.index(name) is not None

    def sequence_origin(self, name: str | QualifiedName) -> Origin | None:
        """Where the sequence ``name`` was created, or ``None`` when the replay does not
        know it."""
        return self._sequences.get(self._lookup(name, "sequence"))

    def enum(self, name: str | QualifiedName) -> Enum | None:
        return self._enums.get(self._lookup(name, "type"))

    def function(self, name: str | QualifiedName) -> Function | None:
        return self._functions.get(self._lookup(name, "function"))

    def has_schema(self, name: str) -> bool:
        return name in self._schemas

    def schema_origin(self, name: str) -> Origin | None:
        return self._schemas.get(name)

    def relation_of(self, range_var: Node | None) -> tuple[QualifiedName, Table | None]:
        """The name a ``RangeVar`` node resolves to, and the table if known."""
        schema, name = relation_name(range_var)
        qualified = self.resolve(schema, name)
        table = self._tables.get(qualified)
        if table is None and qualified.schema == SYSTEM_SCHEMA:
            return qualified, _system_table(qualified)
        return qualified, table

    def created_relation(self, range_var: Node | None) -> tuple[QualifiedName, Table | None]:
        """Like :meth:`relation_of`, for the relation a ``CREATE`` names: PostgreSQL
        creates an unqualified name in the first schema of ``search_path``, also a
        system catalog's (``CREATE TABLE pg_index`` makes ``public.pg_index``)."""
        schema, name = relation_name(range_var)
        if schema is None and name in SYSTEM_RELATIONS:
            qualified = QualifiedName(self._effective_path()[0], name)
        else:
            qualified = self.resolve(schema, name)
        return qualified, self._tables.get(qualified)

    # -- replay ----------------------------------------------------------------------

    def apply(self, kind: str, fields: Node) -> None:
        """Replay one statement (``kind``/``fields`` from :func:`parse_text`).

        Statements the model does not know change nothing; a malformed tree is ignored.
        """
        from migrator.sql.replay import apply_statement

        apply_statement(self, kind, fields)

    # -- replay primitives (used by migrator.sql.replay) -----------------------------

    def store_table(self, table: Table) -> None:
        """Record ``table`` (replacing the value of the same name); a system catalog
        is never recorded (PostgreSQL refuses to change one)."""
        if table.system:
            return
        self._tables[table.name] = table
        for index in table.indexes:
            self._index_tables[index.name] = table.name

    def note_moved(self, old: QualifiedName, new: QualifiedName, kind: str = "relation") -> None:
        """The table (or function) ``old`` is now called ``new`` (see
        :meth:`current_name`)."""
        moved = self._moves(kind)
        moved.pop(new, None)
        moved[old] = new

    def note_created(self, name: QualifiedName, kind: str = "relation") -> None:
        """A new table (or function) takes the name ``name``: it is no longer an old
        name of another."""
        self._moves(kind).pop(name, None)

    def remove_table(self, name: QualifiedName) -> None:
        table = self._tables.pop(name, None)
        if table is not None:
            for index in table.indexes:
                self._index_tables.pop(index.name, None)

    def store_sequence(self, name: QualifiedName, origin: Origin | None = None) -> None:
        """Record the sequence ``name`` (created now, unless ``origin`` says otherwise)."""
        self._sequences[name] = self.origin if origin is None else origin

    def remove_sequence(self, name: QualifiedName) -> Origin | None:
        self._sequence_owners.pop(name, None)
        return self._sequences.pop(name, None)

    def own_sequence(self, name: QualifiedName, table: QualifiedName | None) -> None:
        """The sequence ``name`` goes with ``table`` (dropped with it), or with none."""
        if name not in self._sequences:
            return
        if table is None:
            self._sequence_owners.pop(name, None)
        else:
            self._sequence_owners[name] = table

    def owned_sequences(self, table: QualifiedName) -> list[QualifiedName]:
        return [name for name, owner in self._sequence_owners.items() if owner == table]

    def partitions(self, table: QualifiedName) -> set[QualifiedName]:
        """The partitions of ``table``, and theirs (what ``DROP TABLE`` drops with it)."""
        found: set[QualifiedName] = set()
        parents = {table}
        while parents:
            parents = {
                t.name
                for t in self._tables.values()
                if t.partition_of in parents and t.name not in found
            }
            found |= parents
        return found

    def default_users(self, sequence: QualifiedName) -> list[tuple[QualifiedName, str]]:
        """The columns (table, column) whose default takes values from ``sequence``
        (:attr:`Column.default_sequence`)."""
        return [
            (table.name, column.name)
            for table in self._tables.values()
            for column in table.columns
            if column.default_sequence == sequence
        ]

    def forget_index(self, name: QualifiedName) -> None:
        self._index_tables.pop(name, None)

    def store_enum(self, enum: Enum) -> None:
        self._enums[enum.name] = enum

    def remove_enum(self, name: QualifiedName) -> None:
        self._enums.pop(name, None)

    def store_function(self, function: Function) -> None:
        self._functions[function.name] = function

    def remove_function(self, name: QualifiedName) -> None:
        self._functions.pop(name, None)

    def add_schema(self, name: str) -> None:
        self._schemas.setdefault(name, self.origin)

    def rename_schema(self, old: str, new: str) -> None:
        origin = self._schemas.pop(old, None)
        if origin is not None:
            self._schemas[new] = origin
        for name in [n for n in self._sequences if n.schema == old]:
            self.move_sequence(name, QualifiedName(new, name.name))

    def move_sequence(self, old: QualifiedName, new: QualifiedName) -> None:
        """The sequence ``old`` is called ``new`` now (``RENAME``, ``SET SCHEMA``)."""
        origin = self._sequences.pop(old, None)
        if origin is None:
            return
        self._sequences[new] = origin
        owner = self._sequence_owners.pop(old, None)
        if owner is not None:
            self._sequence_owners[new] = owner
        for table in list(self._tables.values()):  # a default names the sequence's OID
            if any(column.default_sequence == old for column in table.columns):
                columns = tuple(
                    replace(column, default_sequence=new)
                    if column.default_sequence == old
                    else column
                    for column in table.columns
                )
                self.store_table(replace(table, columns=columns))

    def move_owner(self, old: QualifiedName, new: QualifiedName) -> None:
        """The table owning sequences (or partitions, or inheriting tables) is called
        ``new`` now."""
        for name, owner in self._sequence_owners.items():
            if owner == old:
                self._sequence_owners[name] = new
        for table in list(self._tables.values()):
            if table.partition_of == old or old in table.inherits:
                self.store_table(
                    replace(
                        table,
                        partition_of=new if table.partition_of == old else table.partition_of,
                        inherits=tuple(new if p == old else p for p in table.inherits),
                    )
                )

    def children(self, table: QualifiedName) -> list[QualifiedName]:
        """The tables that inherit from ``table`` (not its partitions)."""
        return [t.name for t in self._tables.values() if table in t.inherits]

    def remove_schema(self, name: str) -> None:
        """Drop the schema and everything in it."""
        self._schemas.pop(name, None)
        for table_name in [n for n in self._tables if n.schema == name]:
            self.remove_table(table_name)
        for enum_name in [n for n in self._enums if n.schema == name]:
            del self._enums[enum_name]
        for function_name in [n for n in self._functions if n.schema == name]:
            del self._functions[function_name]
        for sequence_name in [n for n in self._sequences if n.schema == name]:
            self.remove_sequence(sequence_name)


__all__ = [
    "BEFORE",
    "DEFAULT_SEARCH_PATH",
    "SYSTEM_RELATIONS",
    "SYSTEM_SCHEMA",
    "Catalog",
    "Column",
    "Constraint",
    "Enum",
    "Function",
    "Index",
    "Origin",
    "QualifiedName",
    "Table",
    "TypeRef",
]
